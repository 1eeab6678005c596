//! Roles and ClusterRoles.

use apimachinery::field::FieldErrors;
use serde_json::Value;

use super::rules::{validate_aggregation, validate_rules};
use crate::Strategy;

pub struct RoleStrategy;
pub struct ClusterRoleStrategy;

impl Strategy for RoleStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_rules(obj, true)
    }
}

impl Strategy for ClusterRoleStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_rules(obj, false);
        errs.extend(validate_aggregation(obj));
        errs
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
        let role = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"verbs": []}, {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]});
        expect![[r#"
            rules[1].verbs: Required value: verbs must contain at least one value
            rules[1].apiGroups: Required value: resource rules must supply at least one api group
            rules[1].resources: Required value: resource rules must supply at least one resource
            rules[2].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to non-resource URLs"#]]
        .assert_eq(&messages(&RoleStrategy.validate(&role)));
        assert_eq!(
            messages(
                &ClusterRoleStrategy
                    .validate(&json!({"rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]}))
            ),
            ""
        );
    }
}
