//! Namespaces: the name label, the `kubernetes` finalizer and `phase: Active`.

use apimachinery::field::{FieldError, FieldErrors};
use apimachinery::validation::is_qualified_name;
use serde_json::{json, Value};

use crate::strategies::json::{array_at, ensure_path, str_at};
use crate::Strategy;

pub struct NamespaceStrategy;

const NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl Strategy for NamespaceStrategy {
    fn default(&self, obj: &mut Value) {
        let name = str_at(obj, &["metadata", "name"]).to_string();
        if !name.is_empty() {
            if let Some(labels) = ensure_path(obj, &["metadata", "labels"]) {
                labels[NAME_LABEL] = json!(name);
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(spec) = ensure_path(obj, &["spec"]) {
            let mut finalizers = array_at(spec, &["finalizers"]).to_vec();
            if !finalizers.iter().any(|f| f == "kubernetes") {
                finalizers.push(json!("kubernetes"));
            }
            spec["finalizers"] = Value::Array(finalizers);
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Active"}));
        }
    }

    /// `spec.finalizers` changes only through the `finalize` subresource.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let finalizers = old.pointer("/spec/finalizers").cloned();
        if let Some(spec) = ensure_path(new, &["spec"]) {
            match finalizers {
                Some(f) => spec["finalizers"] = f,
                None => {
                    if let Some(m) = spec.as_object_mut() {
                        m.remove("finalizers");
                    }
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        for f in array_at(obj, &["spec", "finalizers"])
            .iter()
            .filter_map(Value::as_str)
        {
            for msg in is_qualified_name(f) {
                errs.push(FieldError::invalid("spec.finalizers", f, msg));
            }
            if !f.contains('/') && f != "kubernetes" {
                errs.push(FieldError::invalid(
                    "spec.finalizers",
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "status.phase").then(|| str_at(obj, &["status", "phase"]).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;

    #[test]
    fn create() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        NamespaceStrategy.default(&mut ns);
        NamespaceStrategy.prepare_for_create(&mut ns);
        assert_eq!(
            ns,
            json!({"metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        );
        let mut new = ns.clone();
        new["spec"]["finalizers"] = json!([]);
        NamespaceStrategy.prepare_for_update(&mut new, &ns);
        assert_eq!(new["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(
            messages(&NamespaceStrategy.validate(&json!({"spec": {"finalizers": ["custom"]}}))),
            "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        );
    }
}
