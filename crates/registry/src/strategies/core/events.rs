//! Core (v1) Events; `events.k8s.io` events have their own module.

use apimachinery::field::{FieldError, FieldErrors};
use serde_json::Value;

use crate::strategies::json::str_at;
use crate::Strategy;

pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let ns = str_at(obj, &["metadata", "namespace"]);
        let involved = str_at(obj, &["involvedObject", "namespace"]);
        // An event about a namespaced object lives in that object's namespace; one about a
        // cluster-scoped object lives in `default`.
        let ok = if involved.is_empty() {
            ns.is_empty() || ns == "default"
        } else {
            involved == ns
        };
        if !ok {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved,
                "does not match event.namespace",
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        self.validate(new)
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        let s = |path: &[&str]| Some(str_at(obj, path).to_string());
        match field {
            "involvedObject.kind" => s(&["involvedObject", "kind"]),
            "involvedObject.namespace" => s(&["involvedObject", "namespace"]),
            "involvedObject.name" => s(&["involvedObject", "name"]),
            "involvedObject.uid" => s(&["involvedObject", "uid"]),
            "involvedObject.apiVersion" => s(&["involvedObject", "apiVersion"]),
            "involvedObject.resourceVersion" => s(&["involvedObject", "resourceVersion"]),
            "involvedObject.fieldPath" => s(&["involvedObject", "fieldPath"]),
            "reason" => s(&["reason"]),
            "reportingComponent" => s(&["reportingComponent"]),
            "source" => s(&["source", "component"]),
            "type" => s(&["type"]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use serde_json::json;

    #[test]
    fn namespace_must_match() {
        let ev = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "b", "kind": "Pod"}});
        assert_eq!(
            messages(&EventStrategy.validate(&ev)),
            "involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"
        );
        assert_eq!(
            EventStrategy
                .field_label(&ev, "involvedObject.kind")
                .as_deref(),
            Some("Pod")
        );
        let node_event =
            json!({"metadata": {"namespace": "default"}, "involvedObject": {"kind": "Node"}});
        assert_eq!(messages(&EventStrategy.validate(&node_event)), "");
    }
}
