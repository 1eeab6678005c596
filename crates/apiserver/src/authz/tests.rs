//! The default roles evaluated as a cluster starts (aggregation done here as the
//! aggregation controller does it), the 403 wording, and the rules review.

use expect_test::{expect, Expect};
use serde_json::Value;

use super::rbac::{self, Policy};
use super::*;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..UserInfo::default()
    }
}

fn labels_match(role: &Value, selector: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| role.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
}

/// The defaults with aggregated rules filled in, plus `extra` bindings.
fn default_policy(extra: &[Value]) -> Policy {
    let roles = default_roles::cluster_roles();
    let filled: Vec<rbac::Role> = roles
        .iter()
        .map(|r| {
            let mut role = rbac::role_from(r);
            for sel in r
                .pointer("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for other in roles.iter().filter(|o| labels_match(o, sel)) {
                    role.rules.extend(rbac::rules_of(other));
                }
            }
            role
        })
        .collect();
    let mut cluster_role_bindings: Vec<rbac::Binding> = default_roles::cluster_role_bindings()
        .iter()
        .map(rbac::binding_from)
        .collect();
    let mut role_bindings = Vec::new();
    for b in extra {
        let b = rbac::binding_from(b);
        if b.namespace.is_empty() {
            cluster_role_bindings.push(b);
        } else {
            role_bindings.push(b);
        }
    }
    Policy {
        cluster_roles: filled,
        cluster_role_bindings,
        role_bindings,
        ..Policy::default()
    }
}

fn a(verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Attributes {
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    Attributes {
        name: name.into(),
        subresource: sub.into(),
        ..Attributes::resource(verb, group, resource, ns)
    }
}

fn path(verb: &str, p: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        path: p.into(),
        ..Attributes::default()
    }
}

fn check(p: &Policy, u: &UserInfo, cases: &[Attributes], want: Expect) {
    let got: Vec<String> = cases
        .iter()
        .map(|c| {
            let what = if c.resource_request {
                format!(
                    "{} {}/{}{} ns={}",
                    c.verb,
                    c.api_group,
                    c.resource,
                    if c.subresource.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", c.subresource)
                    },
                    c.namespace
                )
            } else {
                format!("{} {}", c.verb, c.path)
            };
            format!("{what}: {}", p.allows(u, c).is_some())
        })
        .collect();
    want.assert_eq(&got.join("\n"));
}

fn rb(name: &str, ns: &str, role: &str, user: &str) -> Value {
    serde_json::json!({"metadata": {"name": name, "namespace": ns},
        "roleRef": {"kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "User", "name": user}]})
}

#[test]
fn default_roles_evaluated() {
    let p = default_policy(&[
        rb("v", "a", "view", "viewer"),
        rb("e", "a", "edit", "editor"),
        rb("ad", "a", "admin", "boss"),
    ]);
    let anon = user("system:anonymous", &["system:unauthenticated"]);
    check(
        &p,
        &anon,
        &[
            path("get", "/healthz"),
            path("get", "/version"),
            path("get", "/api"),
            path("get", "/openapi/v2"),
            a("list", "", "pods", "a", ""),
        ],
        expect![[r#"
            get /healthz: true
            get /version: true
            get /api: false
            get /openapi/v2: false
            list /pods ns=a: false"#]],
    );
    let viewer = user("viewer", &["system:authenticated"]);
    check(
        &p,
        &viewer,
        &[
            path("get", "/apis/apps/v1"),
            path("get", "/openapi/v3/apis/apps/v1"),
            a(
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "",
                "",
            ),
            a("list", "", "pods", "a", ""),
            a("watch", "apps", "deployments", "a", ""),
            a("get", "", "pods/log", "a", "x"),
            a("list", "", "pods", "b", ""),
            a("list", "", "secrets", "a", ""),
            a("create", "", "pods", "a", ""),
            a("get", "", "pods/exec", "a", "x"),
            a("get", "", "namespaces", "a", "a"),
        ],
        expect![[r#"
            get /apis/apps/v1: true
            get /openapi/v3/apis/apps/v1: true
            create authorization.k8s.io/selfsubjectaccessreviews ns=: true
            list /pods ns=a: true
            watch apps/deployments ns=a: true
            get /pods/log ns=a: true
            list /pods ns=b: false
            list /secrets ns=a: false
            create /pods ns=a: false
            get /pods/exec ns=a: false
            get /namespaces ns=a: true"#]],
    );
    let editor = user("editor", &["system:authenticated"]);
    check(
        &p,
        &editor,
        &[
            a("create", "", "pods", "a", ""),
            a("get", "", "secrets", "a", "s"),
            a("create", "", "pods/exec", "a", "x"),
            a("update", "apps", "deployments/scale", "a", "d"),
            a(
                "create",
                "rbac.authorization.k8s.io",
                "rolebindings",
                "a",
                "",
            ),
            a("update", "", "resourcequotas", "a", "q"),
        ],
        expect![[r#"
            create /pods ns=a: true
            get /secrets ns=a: true
            create /pods/exec ns=a: true
            update apps/deployments/scale ns=a: true
            create rbac.authorization.k8s.io/rolebindings ns=a: false
            update /resourcequotas ns=a: false"#]],
    );
    let boss = user("boss", &["system:authenticated"]);
    check(
        &p,
        &boss,
        &[
            a(
                "create",
                "rbac.authorization.k8s.io",
                "rolebindings",
                "a",
                "",
            ),
            a(
                "create",
                "authorization.k8s.io",
                "localsubjectaccessreviews",
                "a",
                "",
            ),
            a("list", "", "pods", "a", ""),
            a("list", "", "nodes", "", ""),
        ],
        expect![[r#"
            create rbac.authorization.k8s.io/rolebindings ns=a: true
            create authorization.k8s.io/localsubjectaccessreviews ns=a: true
            list /pods ns=a: true
            list /nodes ns=: false"#]],
    );
    let bootstrap = user(
        "system:bootstrap:abcdef",
        &["system:bootstrappers", "system:authenticated"],
    );
    check(
        &p,
        &bootstrap,
        &[
            a(
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests",
                "",
                "",
            ),
            a(
                "watch",
                "certificates.k8s.io",
                "certificatesigningrequests",
                "",
                "",
            ),
            a(
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests/nodeclient",
                "",
                "",
            ),
            a("list", "", "secrets", "kube-system", ""),
        ],
        expect![[r#"
            create certificates.k8s.io/certificatesigningrequests ns=: true
            watch certificates.k8s.io/certificatesigningrequests ns=: true
            create certificates.k8s.io/certificatesigningrequests/nodeclient ns=: true
            list /secrets ns=kube-system: false"#]],
    );
    let master = user("admin", &["system:masters", "system:authenticated"]);
    check(
        &p,
        &master,
        &[a("delete", "", "nodes", "", "n1"), path("get", "/metrics")],
        expect![[r#"
            delete /nodes ns=: true
            get /metrics: true"#]],
    );
}

#[test]
fn forbidden_messages() {
    let alice = user("alice", &["system:authenticated"]);
    let show = |a: &Attributes, reason: &str| {
        let e = forbidden(&alice, a, reason);
        format!("{} {}\n{}", e.code, e.reason, e.to_status()["details"]).replace(
            &e.reason.to_string(),
            &format!("{}: {}", e.reason, e.message),
        )
    };
    expect![[r#"
        403 Forbidden: pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "other"
        {"kind":"pods"}"#]]
    .assert_eq(&show(&a("list", "", "pods", "other", ""), ""));
    expect![[r#"
        403 Forbidden: pods "x" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "a"
        {"name":"x","kind":"pods"}"#]]
    .assert_eq(&show(&a("get", "", "pods/log", "a", "x"), ""));
    expect![[r#"
        403 Forbidden: nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope
        {"kind":"nodes"}"#]]
    .assert_eq(&show(&a("list", "", "nodes", "", ""), ""));
    expect![[r#"
        403 Forbidden: deployments.apps "d" is forbidden: User "alice" cannot delete resource "deployments" in API group "apps" in the namespace "a"
        {"name":"d","group":"apps","kind":"deployments"}"#]]
    .assert_eq(&show(&a("delete", "apps", "deployments", "a", "d"), ""));
    expect![[r#"
        403 Forbidden: secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "a": no relationship found between node 'n1' and this object
        {"name":"s","kind":"secrets"}"#]]
    .assert_eq(&show(
        &a("get", "", "secrets", "a", "s"),
        "no relationship found between node 'n1' and this object",
    ));
    expect![[r#"
        403 Forbidden: forbidden: User "alice" cannot get path "/metrics"
        {}"#]]
    .assert_eq(&show(&path("get", "/metrics"), ""));
}

#[test]
fn rules_review() {
    let p = default_policy(&[rb("v", "a", "view", "viewer")]);
    let viewer = user("viewer", &["system:authenticated"]);
    let in_a = rules_review::rules_review(&p, &viewer, "a");
    let in_b = rules_review::rules_review(&p, &viewer, "b");
    let count = |v: &Value, k: &str| v[k].as_array().map(Vec::len).unwrap_or(0);
    // Namespace b: only what every authenticated user holds.
    expect![[r#"{"resourceRules":[{"verbs":["create"],"apiGroups":["authentication.k8s.io"],"resources":["selfsubjectreviews"]},{"verbs":["create"],"apiGroups":["authorization.k8s.io"],"resources":["selfsubjectaccessreviews","selfsubjectrulesreviews"]}],"nonResourceRules":[{"verbs":["get"],"nonResourceURLs":["/api","/api/*","/apis","/apis/*","/healthz","/livez","/openapi","/openapi/*","/readyz","/version","/version/"]},{"verbs":["get"],"nonResourceURLs":["/healthz","/livez","/readyz","/version","/version/"]}],"incomplete":false}"#]]
    .assert_eq(&in_b.to_string());
    assert_eq!(
        count(&in_a, "resourceRules"),
        count(&in_b, "resourceRules") + 10
    );
    let node = user("system:node:n1", &["system:nodes", "system:authenticated"]);
    assert_eq!(
        rules_review::rules_review(&p, &node, "a")["incomplete"],
        true
    );
}

#[test]
fn components_hold_only_their_roles() {
    let p = default_policy(&[]);
    let kcm = user(
        component_roles::CONTROLLER_MANAGER_USER,
        &["system:authenticated"],
    );
    check(
        &p,
        &kcm,
        &[
            a("create", "", "pods", "a", ""),
            a("create", "apps", "replicasets", "a", ""),
            a("update", "apps", "deployments/status", "a", "d"),
            a("delete", "example.com", "widgets", "a", "w"),
            a("deletecollection", "", "configmaps", "a", ""),
            a(
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "kube-controller-manager",
            ),
            a(
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "kube-scheduler",
            ),
            a(
                "escalate",
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
                "edit",
            ),
            a(
                "create",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
                "",
                "",
            ),
            a(
                "bind",
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
                "cluster-admin",
            ),
            a("create", "", "secrets", "a", ""),
            a("create", "", "pods/exec", "a", "p"),
            a("impersonate", "", "users", "", "system:admin"),
            a("create", "", "serviceaccounts/token", "a", "default"),
            path("get", "/logs"),
        ],
        expect![[r#"
            create /pods ns=a: true
            create apps/replicasets ns=a: true
            update apps/deployments/status ns=a: true
            delete example.com/widgets ns=a: true
            deletecollection /configmaps ns=a: true
            update coordination.k8s.io/leases ns=kube-system: true
            update coordination.k8s.io/leases ns=kube-system: false
            escalate rbac.authorization.k8s.io/clusterroles ns=: true
            create rbac.authorization.k8s.io/clusterrolebindings ns=: false
            bind rbac.authorization.k8s.io/clusterroles ns=: false
            create /secrets ns=a: false
            create /pods/exec ns=a: false
            impersonate /users ns=: false
            create /serviceaccounts/token ns=a: false
            get /logs: false"#]],
    );
    let scheduler = user(component_roles::SCHEDULER_USER, &["system:authenticated"]);
    check(
        &p,
        &scheduler,
        &[
            a("create", "", "pods/binding", "a", "p"),
            a("patch", "", "pods/status", "a", "p"),
            a("delete", "", "pods", "a", "p"),
            a("patch", "", "persistentvolumeclaims", "a", "c"),
            a("list", "storage.k8s.io", "storageclasses", "", ""),
            a(
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "kube-scheduler",
            ),
            a(
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "kube-controller-manager",
            ),
            a("create", "", "pods", "a", ""),
            a("get", "", "secrets", "a", "s"),
            a("patch", "", "nodes", "", "n"),
        ],
        expect![[r#"
            create /pods/binding ns=a: true
            patch /pods/status ns=a: true
            delete /pods ns=a: true
            patch /persistentvolumeclaims ns=a: true
            list storage.k8s.io/storageclasses ns=: true
            update coordination.k8s.io/leases ns=kube-system: true
            update coordination.k8s.io/leases ns=kube-system: false
            create /pods ns=a: false
            get /secrets ns=a: false
            patch /nodes ns=: false"#]],
    );
}
