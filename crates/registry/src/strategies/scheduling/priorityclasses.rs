//! PriorityClasses: the value is fixed once created; `system-` names are reserved.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use crate::strategies::common::immutable;
use crate::strategies::json::{i64_at, set_default, str_at};
use crate::Strategy;

pub struct PriorityClassStrategy;

const HIGHEST_USER_DEFINABLE: i64 = 1_000_000_000;
/// The classes the apiserver creates itself, with their values.
const SYSTEM_CLASSES: [(&str, i64); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];
const PREEMPTION_POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];

impl Strategy for PriorityClassStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "preemptionPolicy", json!("PreemptLowerPriority"));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let name = str_at(obj, &["metadata", "name"]);
        let value = i64_at(obj, &["value"]).unwrap_or(0);
        if name.starts_with("system-") {
            if !SYSTEM_CLASSES.contains(&(name, value)) {
                errs.push(FieldError::forbidden(
                    "metadata.name",
                    "priority class names with 'system-' prefix are reserved for system use only",
                ));
            }
        } else if value > HIGHEST_USER_DEFINABLE {
            errs.push(FieldError::forbidden(
                "value",
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE}"
                ),
            ));
        }
        let policy = str_at(obj, &["preemptionPolicy"]);
        if !policy.is_empty() && !PREEMPTION_POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(
                "preemptionPolicy",
                policy,
                PREEMPTION_POLICIES,
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        if i64_at(new, &["value"]) != i64_at(old, &["value"]) {
            errs.push(FieldError::forbidden(
                "value",
                "may not be changed in an update.",
            ));
        }
        errs.extend(immutable(
            new,
            old,
            &["preemptionPolicy"],
            &Path::new("preemptionPolicy"),
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn rules() {
        let mut pc = json!({"metadata": {"name": "high"}, "value": 1000});
        PriorityClassStrategy.default(&mut pc);
        assert_eq!(messages(&PriorityClassStrategy.validate(&pc)), "");
        let system = json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000});
        assert_eq!(messages(&PriorityClassStrategy.validate(&system)), "");
        let mut new = pc.clone();
        new["value"] = json!(5);
        expect!["value: Forbidden: may not be changed in an update."]
            .assert_eq(&messages(&PriorityClassStrategy.validate_update(&new, &pc)));
        expect!["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only"]
            .assert_eq(&messages(&PriorityClassStrategy.validate(&json!({"metadata": {"name": "system-x"}, "value": 1}))));
    }
}
