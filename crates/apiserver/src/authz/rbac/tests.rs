//! Rule matching and binding resolution, one line per case.

use expect_test::{expect, Expect};
use serde_json::json;

use super::*;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..UserInfo::default()
    }
}

/// `verb group/resource[/sub] ns name` or `verb /path`.
fn attrs(spec: &str) -> Attributes {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    if parts[1].starts_with('/') {
        return Attributes {
            verb: parts[0].into(),
            path: parts[1].into(),
            ..Attributes::default()
        };
    }
    let (group, rest) = parts[1].split_once(':').unwrap_or(("", parts[1]));
    let (resource, sub) = rest.split_once('/').unwrap_or((rest, ""));
    Attributes {
        verb: parts[0].into(),
        resource_request: true,
        api_group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        namespace: parts
            .get(2)
            .filter(|n| **n != "-")
            .unwrap_or(&"")
            .to_string(),
        name: parts.get(3).unwrap_or(&"").to_string(),
        ..Attributes::default()
    }
}

fn check_rule(rule: serde_json::Value, cases: &[&str], want: Expect) {
    let rule: PolicyRule = serde_json::from_value(rule).expect("rule");
    let got: Vec<String> = cases
        .iter()
        .map(|c| format!("{c}: {}", rule_allows(&rule, &attrs(c))))
        .collect();
    want.assert_eq(&got.join("\n"));
}

#[test]
fn rules() {
    check_rule(
        json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}),
        &[
            "get pods a x",
            "list pods a",
            "watch pods a",
            "get pods/log a x",
            "get apps:pods a x",
        ],
        expect![[r#"
            get pods a x: true
            list pods a: true
            watch pods a: false
            get pods/log a x: false
            get apps:pods a x: false"#]],
    );
    check_rule(
        json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
        &[
            "delete apps:deployments a d",
            "get pods/log a x",
            "get /healthz",
        ],
        expect![[r#"
            delete apps:deployments a d: true
            get pods/log a x: true
            get /healthz: false"#]],
    );
    check_rule(
        json!({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}),
        &[
            "update apps:deployments/scale a d",
            "update apps:deployments a d",
        ],
        expect![[r#"
            update apps:deployments/scale a d: true
            update apps:deployments a d: false"#]],
    );
    check_rule(
        json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get", "list"]}),
        &[
            "get configmaps a settings",
            "get configmaps a other",
            "list configmaps a",
        ],
        expect![[r#"
            get configmaps a settings: true
            get configmaps a other: false
            list configmaps a: false"#]],
    );
    check_rule(
        json!({"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]}),
        &[
            "get /healthz",
            "get /healthz/etcd",
            "get /apis/apps/v1",
            "post /healthz",
            "get pods a",
        ],
        expect![[r#"
            get /healthz: true
            get /healthz/etcd: false
            get /apis/apps/v1: true
            post /healthz: false
            get pods a: false"#]],
    );
}

fn policy() -> Policy {
    let objs = [
        json!({"metadata": {"name": "pod-reader", "namespace": "a"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
        json!({"metadata": {"name": "secret-reader"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
    ];
    let bindings = [
        json!({"metadata": {"name": "alice-reads", "namespace": "a"}, "roleRef": {"kind": "Role", "name": "pod-reader"}, "subjects": [{"kind": "User", "name": "alice"}]}),
        json!({"metadata": {"name": "devs-secrets", "namespace": "b"}, "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [{"kind": "Group", "name": "devs"}]}),
        json!({"metadata": {"name": "builder", "namespace": "a"}, "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [{"kind": "ServiceAccount", "name": "builder"}]}),
        json!({"metadata": {"name": "dangling", "namespace": "a"}, "roleRef": {"kind": "Role", "name": "missing"}, "subjects": [{"kind": "User", "name": "alice"}]}),
    ];
    let cluster_bindings = [
        json!({"metadata": {"name": "ops-secrets"}, "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [{"kind": "ServiceAccount", "name": "ops", "namespace": "kube-system"}]}),
    ];
    Policy {
        roles: vec![role_from(&objs[0])],
        cluster_roles: vec![role_from(&objs[1])],
        role_bindings: bindings.iter().map(binding_from).collect(),
        cluster_role_bindings: cluster_bindings.iter().map(binding_from).collect(),
        ..Policy::default()
    }
}

fn check_policy(u: &UserInfo, cases: &[&str], want: Expect) {
    let p = policy();
    let got: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "{c}: {}",
                p.allows(u, &attrs(c)).unwrap_or_else(|| "denied".into())
            )
        })
        .collect();
    want.assert_eq(&got.join("\n"));
}

#[test]
fn bindings() {
    check_policy(
        &user("alice", &["system:authenticated"]),
        &[
            "list pods a",
            "list pods b",
            "list pods -",
            "get secrets a s",
        ],
        expect![[r#"
            list pods a: RBAC: allowed by RoleBinding "alice-reads/a" of Role "pod-reader" to User "alice"
            list pods b: denied
            list pods -: denied
            get secrets a s: denied"#]],
    );
    check_policy(
        &user("bob", &["devs", "system:authenticated"]),
        &["get secrets b s", "get secrets a s"],
        expect![[r#"
            get secrets b s: RBAC: allowed by RoleBinding "devs-secrets/b" of ClusterRole "secret-reader" to Group "devs"
            get secrets a s: denied"#]],
    );
    check_policy(
        &user(
            "system:serviceaccount:a:builder",
            &["system:serviceaccounts", "system:serviceaccounts:a"],
        ),
        &["get secrets a s", "get secrets b s"],
        expect![[r#"
            get secrets a s: RBAC: allowed by RoleBinding "builder/a" of ClusterRole "secret-reader" to ServiceAccount "a/builder"
            get secrets b s: denied"#]],
    );
    check_policy(
        &user("system:serviceaccount:kube-system:ops", &[]),
        &["get secrets z s", "get secrets - s"],
        expect![[r#"
            get secrets z s: RBAC: allowed by ClusterRoleBinding "ops-secrets" of ClusterRole "secret-reader" to ServiceAccount "kube-system/ops"
            get secrets - s: RBAC: allowed by ClusterRoleBinding "ops-secrets" of ClusterRole "secret-reader" to ServiceAccount "kube-system/ops""#]],
    );
    let alice = user("alice", &[]);
    assert_eq!(policy().rules_for(&alice, "a").len(), 1);
    assert!(policy().rules_for(&alice, "b").is_empty());
}
