//! RoleBindings and ClusterRoleBindings.

use apimachinery::field::FieldErrors;
use serde_json::Value;

use super::rules::{validate_binding, validate_role_ref_update};
use crate::Strategy;

pub struct RoleBindingStrategy;
pub struct ClusterRoleBindingStrategy;

/// rbac/v1's defaulting: a User or Group subject without an apiGroup is in
/// `rbac.authorization.k8s.io` (manifests commonly leave it out; only `kubectl create
/// rolebinding` writes it).
fn default_subject_groups(obj: &mut Value) {
    let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
        let unset = s
            .get("apiGroup")
            .is_none_or(|g| g.as_str().is_none_or(str::is_empty));
        let named = matches!(
            s.get("kind").and_then(Value::as_str),
            Some("User" | "Group")
        );
        if unset && named {
            s.insert("apiGroup".into(), Value::from("rbac.authorization.k8s.io"));
        }
    }
}

impl Strategy for RoleBindingStrategy {
    fn default(&self, obj: &mut Value) {
        default_subject_groups(obj);
    }

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
    fn default(&self, obj: &mut Value) {
        default_subject_groups(obj);
    }

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
    fn user_and_group_subjects_default_their_api_group() {
        let mut rb = json!({"subjects": [
            {"kind": "User", "name": "jane"},
            {"kind": "Group", "name": "devs", "apiGroup": ""},
            {"kind": "ServiceAccount", "name": "default", "namespace": "a"},
            {"kind": "User", "name": "kept", "apiGroup": "example.com"},
        ]});
        ClusterRoleBindingStrategy.default(&mut rb);
        expect![[r#"[{"kind":"User","name":"jane","apiGroup":"rbac.authorization.k8s.io"},{"kind":"Group","name":"devs","apiGroup":"rbac.authorization.k8s.io"},{"kind":"ServiceAccount","name":"default","namespace":"a"},{"kind":"User","name":"kept","apiGroup":"example.com"}]"#]]
            .assert_eq(&rb["subjects"].to_string());
    }

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
