//! Nodes.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{is_qualified_name, is_valid_cidr, is_valid_label_value};
use serde_json::Value;
use std::collections::HashSet;

use crate::strategies::json::{array_at, bool_at, get, str_at};
use crate::Strategy;

pub struct NodeStrategy;

pub(crate) const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

impl Strategy for NodeStrategy {
    fn default(&self, obj: &mut Value) {
        // Allocatable defaults to capacity (upstream's `SetDefaults_NodeStatus`).
        if let Some(status) = obj.get_mut("status").filter(|s| s.is_object()) {
            if get(status, &["allocatable"]).is_none() {
                if let Some(cap) = get(status, &["capacity"]).cloned() {
                    status["allocatable"] = cap;
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let path = Path::new("spec");
        for (i, cidr) in array_at(obj, &["spec", "podCIDRs"]).iter().enumerate() {
            let c = cidr.as_str().unwrap_or("");
            if !is_valid_cidr(c) {
                errs.push(FieldError::invalid(
                    path.child("podCIDRs").index(i),
                    c,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, taint) in array_at(obj, &["spec", "taints"]).iter().enumerate() {
            let p = path.child("taints").index(i);
            let key = str_at(taint, &["key"]);
            for msg in is_qualified_name(key) {
                errs.push(FieldError::invalid(p.child("key"), key, msg));
            }
            let value = str_at(taint, &["value"]);
            for msg in is_valid_label_value(value) {
                errs.push(FieldError::invalid(p.child("value"), value, msg));
            }
            let effect = str_at(taint, &["effect"]);
            if effect.is_empty() {
                errs.push(FieldError::required(p.child("effect"), ""));
            } else if !TAINT_EFFECTS.contains(&effect) {
                errs.push(FieldError::not_supported(
                    p.child("effect"),
                    effect,
                    TAINT_EFFECTS,
                ));
            }
            if !seen.insert((key.to_string(), effect.to_string())) {
                errs.push(FieldError::duplicate(&p, taint.clone()));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        let old_cidrs = array_at(old, &["spec", "podCIDRs"]);
        if !old_cidrs.is_empty() && array_at(new, &["spec", "podCIDRs"]) != old_cidrs {
            errs.push(FieldError::forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let old_provider = str_at(old, &["spec", "providerID"]);
        if !old_provider.is_empty() && str_at(new, &["spec", "providerID"]) != old_provider {
            errs.push(FieldError::forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "spec.unschedulable").then(|| {
            bool_at(obj, &["spec", "unschedulable"])
                .unwrap_or(false)
                .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn rules() {
        let mut node = json!({"spec": {"podCIDRs": ["10.42.0.0/24", "x"], "taints": [
            {"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "Sometimes"}]},
            "status": {"capacity": {"cpu": "2"}}});
        NodeStrategy.default(&mut node);
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "2"}));
        expect![[r#"
            spec.podCIDRs[1]: Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)
            spec.taints[1]: Duplicate value: {"key":"a","effect":"NoSchedule"}
            spec.taints[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#]]
        .assert_eq(&messages(&NodeStrategy.validate(&node)));
        let old = json!({"spec": {"podCIDRs": ["10.42.0.0/24"]}});
        let new = json!({"spec": {"podCIDRs": ["10.42.1.0/24"]}});
        expect![[r#"spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid"#]]
            .assert_eq(&messages(&NodeStrategy.validate_update(&new, &old)));
        assert_eq!(
            NodeStrategy
                .field_label(&old, "spec.unschedulable")
                .as_deref(),
            Some("false")
        );
    }
}
