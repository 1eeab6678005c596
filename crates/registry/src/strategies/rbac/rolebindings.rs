//! RoleBindings and ClusterRoleBindings.

use apimachinery::field::FieldErrors;
use serde_json::Value;

use super::rules::{validate_binding, validate_role_ref_update};
use crate::Strategy;

pub struct RoleBindingStrategy;
pub struct ClusterRoleBindingStrategy;

impl Strategy for RoleBindingStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_binding(obj, true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(validate_role_ref_update(new, old));
        errs
    }
}

impl Strategy for ClusterRoleBindingStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_binding(obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(validate_role_ref_update(new, old));
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
    fn bindings() {
        let rb = json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "a"}, {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]});
        assert_eq!(messages(&RoleBindingStrategy.validate(&rb)), "");
        expect![[r#"
            roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"
            subjects[0].namespace: Required value
            subjects[1].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io""#]]
        .assert_eq(&messages(&ClusterRoleBindingStrategy.validate(&json!({"roleRef": rb["roleRef"],
            "subjects": [{"kind": "ServiceAccount", "name": "x"}, {"kind": "Group", "name": "g"}]}))));
        let mut changed = rb.clone();
        changed["roleRef"]["name"] = json!("admin");
        expect![[r#"roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"admin"}: cannot change roleRef"#]]
            .assert_eq(&messages(&RoleBindingStrategy.validate_update(&changed, &rb)));
    }
}
