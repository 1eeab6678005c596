//! PriorityClasses: the value is fixed once created; `system-` names are reserved.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use crate::strategies::common::immutable;
use crate::strategies::json::{i64_at, set_default, str_at};
use crate::Strategy;

pub struct PriorityClassStrategy;

const HIGHEST_USER_DEFINABLE: i64 = 1_000_000_000;
/// The classes the apiserver creates itself, with their values and descriptions.
const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];
const PREEMPTION_POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];

/// The built-in classes, as the apiserver creates them at start-up.
pub fn system_classes() -> Vec<Value> {
    SYSTEM_CLASSES
        .iter()
        .map(|(name, value, description)| {
            json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "description": description,
                "preemptionPolicy": "PreemptLowerPriority",
            })
        })
        .collect()
}

pub fn is_system_class(name: &str) -> bool {
    SYSTEM_CLASSES.iter().any(|(n, _, _)| *n == name)
}

/// Why a `system-` class is not one of the built-in ones, in upstream's words.
fn known_system_class(name: &str, value: i64, obj: &Value) -> Result<(), String> {
    let Some((_, want, _)) = SYSTEM_CLASSES.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("{name} is not a known system priority class"));
    };
    if value != *want {
        return Err(format!("value of {name} PriorityClass must be {want}"));
    }
    if obj.get("globalDefault").and_then(Value::as_bool) == Some(true) {
        return Err(format!(
            "globalDefault of {name} PriorityClass must be false"
        ));
    }
    Ok(())
}

impl Strategy for PriorityClassStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "preemptionPolicy", json!("PreemptLowerPriority"));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let name = str_at(obj, &["metadata", "name"]);
        let value = i64_at(obj, &["value"]).unwrap_or(0);
        if name.starts_with("system-") {
            if let Err(why) = known_system_class(name, value, obj) {
                errs.push(FieldError::forbidden(
                    "metadata.name",
                    format!("priority class names with 'system-' prefix are reserved for system use only. error: {why}"),
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
        let pc = |name: &str, value: i64, extra: Value| {
            let mut v = json!({"metadata": {"name": name}, "value": value});
            if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                m.extend(e.clone());
            }
            PriorityClassStrategy.default(&mut v);
            v
        };
        let cases = [
            (pc("high", 1000, json!({})), ""),
            (pc("top", 1_000_000_000, json!({})), ""),
            (pc("system-node-critical", 2_000_001_000, json!({})), ""),
            (pc("system-cluster-critical", 2_000_000_000, json!({})), ""),
            (
                pc("too-high", 1_000_000_001, json!({})),
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000",
            ),
            (
                pc("system-x", 1, json!({})),
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-x is not a known system priority class",
            ),
            (
                pc("system-node-critical", 5, json!({})),
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-node-critical PriorityClass must be 2000001000",
            ),
            (
                pc("system-cluster-critical", 2_000_000_000, json!({"globalDefault": true})),
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: globalDefault of system-cluster-critical PriorityClass must be false",
            ),
            (
                pc("odd", 1, json!({"preemptionPolicy": "Sometimes"})),
                "preemptionPolicy: Unsupported value: \"Sometimes\": supported values: \"Never\", \"PreemptLowerPriority\"",
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(
                messages(&PriorityClassStrategy.validate(&obj)),
                want,
                "{obj}"
            );
        }
        for obj in system_classes() {
            assert_eq!(messages(&PriorityClassStrategy.validate(&obj)), "");
        }
    }

    #[test]
    fn updates() {
        let old = json!({"metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "Never"});
        let change = |f: &dyn Fn(&mut Value)| {
            let mut new = old.clone();
            f(&mut new);
            messages(&PriorityClassStrategy.validate_update(&new, &old))
        };
        expect![""].assert_eq(&change(&|n| n["description"] = json!("more")));
        expect!["value: Forbidden: may not be changed in an update."]
            .assert_eq(&change(&|n| n["value"] = json!(5)));
        expect!["preemptionPolicy: Invalid value: \"PreemptLowerPriority\": field is immutable"]
            .assert_eq(&change(&|n| {
                n["preemptionPolicy"] = json!("PreemptLowerPriority")
            }));
    }
}
