//! The ClusterRoles and ClusterRoleBindings every cluster starts with, under upstream's
//! names, labelled `kubernetes.io/bootstrapping: rbac-defaults` and annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`. The rule sets are written from
//! upstream's documentation of the user-facing and discovery roles; `admin`, `edit` and
//! `view` carry only aggregation rules, which the ClusterRole aggregation controller fills
//! from the `system:aggregate-to-*` roles (and any other role with the labels).

use serde_json::{json, Value};

const RBAC: &str = "rbac.authorization.k8s.io";
const AGG: &str = "rbac.authorization.k8s.io/aggregate-to-";

pub(super) const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL_RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(super) fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn urls(paths: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": paths, "verbs": verbs})
}

fn meta(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut l = serde_json::Map::new();
    l.insert("kubernetes.io/bootstrapping".into(), json!("rbac-defaults"));
    for (k, v) in labels {
        l.insert((*k).into(), json!(v));
    }
    json!({
        "name": name,
        "labels": l,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

pub(super) fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
        "metadata": meta(name, labels),
        "rules": rules,
    })
}

fn aggregated(name: &str, labels: &[(&str, &str)], to: &str) -> Value {
    json!({
        "apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
        "metadata": meta(name, labels),
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {format!("{AGG}{to}"): "true"}}]},
        "rules": [],
    })
}

pub(super) fn binding(name: &str, role: &str, subjects: &[(&str, &str)]) -> Value {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|(kind, n)| json!({"kind": kind, "apiGroup": RBAC, "name": n}))
        .collect();
    json!({
        "apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRoleBinding",
        "metadata": meta(name, &[]),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn view_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ]
}

fn edit_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
        rule(&["coordination.k8s.io"], &["leases"], ALL_RW),
    ]
}

fn admin_rules() -> Vec<Value> {
    vec![
        rule(&[RBAC], &["rolebindings", "roles"], ALL_RW),
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
    ]
}

/// Every default ClusterRole (the components' own from `component_roles.rs` included).
pub fn cluster_roles() -> Vec<Value> {
    let mut roles = user_facing_roles();
    roles.extend(super::component_roles::cluster_roles());
    roles
}

fn user_facing_roles() -> Vec<Value> {
    let admin = [("rbac.authorization.k8s.io/aggregate-to-admin", "true")];
    let edit = [
        ("rbac.authorization.k8s.io/aggregate-to-admin", "true"),
        ("rbac.authorization.k8s.io/aggregate-to-edit", "true"),
    ];
    let view = [
        ("rbac.authorization.k8s.io/aggregate-to-admin", "true"),
        ("rbac.authorization.k8s.io/aggregate-to-edit", "true"),
        ("rbac.authorization.k8s.io/aggregate-to-view", "true"),
    ];
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        aggregated("admin", &[], "admin"),
        aggregated(
            "edit",
            &[("rbac.authorization.k8s.io/aggregate-to-admin", "true")],
            "edit",
        ),
        aggregated(
            "view",
            &[("rbac.authorization.k8s.io/aggregate-to-edit", "true")],
            "view",
        ),
        cluster_role("system:aggregate-to-admin", &admin, admin_rules()),
        cluster_role("system:aggregate-to-edit", &edit, edit_rules()),
        cluster_role("system:aggregate-to-view", &view, view_rules()),
        // skiff serves metrics.k8s.io itself; upstream's metrics-server ships this role.
        cluster_role(
            "system:aggregated-metrics-reader",
            &view,
            vec![rule(&["metrics.k8s.io"], &["pods", "nodes"], READ)],
        ),
        cluster_role(
            "system:discovery",
            &[],
            vec![urls(
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                &["get"],
            )],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![urls(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
        // Who may scrape `/metrics` and read the detailed health checks.
        cluster_role(
            "system:monitoring",
            &[],
            vec![urls(
                &[
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ],
                &["get"],
            )],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
            ],
        ),
        cluster_role(
            "system:node-bootstrapper",
            &[],
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
                &["create", "get", "list", "watch"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[],
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests/nodeclient"],
                &["create"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[],
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests/selfnodeclient"],
                &["create"],
            )],
        ),
    ]
}

/// Every default ClusterRoleBinding.
pub fn cluster_role_bindings() -> Vec<Value> {
    let mut bindings = user_facing_bindings();
    bindings.extend(super::component_roles::cluster_role_bindings());
    bindings
}

fn user_facing_bindings() -> Vec<Value> {
    vec![
        binding(
            "cluster-admin",
            "cluster-admin",
            &[("Group", "system:masters")],
        ),
        binding(
            "system:discovery",
            "system:discovery",
            &[("Group", "system:authenticated")],
        ),
        binding(
            "system:monitoring",
            "system:monitoring",
            &[("Group", "system:monitoring")],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &[("Group", "system:authenticated")],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[
                ("Group", "system:authenticated"),
                ("Group", "system:unauthenticated"),
            ],
        ),
        // kubeadm's names for what joining nodes need: bootstrap tokens may ask for node
        // client certificates, nodes may renew their own.
        binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            &[("Group", "system:bootstrappers")],
        ),
        binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[("Group", "system:bootstrappers")],
        ),
        binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[("Group", "system:nodes")],
        ),
    ]
}

/// Whether an administrator left a default object to the server (upstream's annotation).
pub fn autoupdate(existing: &Value) -> bool {
    existing
        .pointer("/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate")
        .and_then(Value::as_str)
        == Some("true")
}

fn add_missing(existing: &mut Value, desired: &Value, field: &str) -> bool {
    let want = desired
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if want.is_empty() {
        return false;
    }
    if !existing.get(field).is_some_and(Value::is_array) {
        existing[field] = json!([]);
    }
    let mut changed = false;
    if let Some(have) = existing.get_mut(field).and_then(Value::as_array_mut) {
        for item in want {
            if !have.contains(&item) {
                have.push(item);
                changed = true;
            }
        }
    }
    changed
}

/// Upstream's start-up reconciliation of an `autoupdate` default (pure): missing rules,
/// aggregation selectors, labels and binding subjects are added; nothing is removed, so an
/// administrator's additions stay. `None` when nothing is missing.
pub fn reconcile(existing: &Value, desired: &Value) -> Option<Value> {
    let mut next = existing.clone();
    let mut changed = false;
    if desired.get("aggregationRule").is_some() {
        let mut rule = next
            .get("aggregationRule")
            .filter(|r| r.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        changed |= add_missing(
            &mut rule,
            &desired["aggregationRule"],
            "clusterRoleSelectors",
        );
        next["aggregationRule"] = rule;
    } else {
        changed |= add_missing(&mut next, desired, "rules");
    }
    changed |= add_missing(&mut next, desired, "subjects");
    if let Some(labels) = desired
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            if next.pointer("/metadata/labels").and_then(|l| l.get(k)) != Some(v) {
                if !next["metadata"]["labels"].is_object() {
                    next["metadata"]["labels"] = json!({});
                }
                next["metadata"]["labels"][k] = v.clone();
                changed = true;
            }
        }
    }
    changed.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn reconciliation_adds_and_never_removes() {
        let desired = cluster_role(
            "r",
            &[("x", "1")],
            vec![rule(&[""], &["pods"], READ), rule(&[""], &["nodes"], READ)],
        );
        let existing = json!({"metadata": {"name": "r", "labels": {"mine": "yes"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["x.io"], "resources": ["widgets"], "verbs": ["get"]}]});
        assert!(autoupdate(&existing));
        let next = reconcile(&existing, &desired).expect("changed");
        expect![[r#"{"metadata":{"name":"r","labels":{"mine":"yes","kubernetes.io/bootstrapping":"rbac-defaults","x":"1"},"annotations":{"rbac.authorization.kubernetes.io/autoupdate":"true"}},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]},{"apiGroups":["x.io"],"resources":["widgets"],"verbs":["get"]},{"apiGroups":[""],"resources":["nodes"],"verbs":["get","list","watch"]}]}"#]]
            .assert_eq(&next.to_string());
        assert_eq!(reconcile(&next, &desired), None);
        // Aggregated roles keep the controller's rules; their selectors are checked.
        let view = aggregated("view", &[], "view");
        let filled = json!({"metadata": {"name": "view", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        assert_eq!(reconcile(&filled, &view), None);
        // Bindings gain missing subjects.
        let b = binding("b", "r", &[("Group", "g1"), ("Group", "g2")]);
        let mut have = b.clone();
        have["subjects"] = json!([{"kind": "User", "apiGroup": RBAC, "name": "extra"}]);
        let next = reconcile(&have, &b).expect("changed");
        assert_eq!(next["subjects"].as_array().map(Vec::len), Some(3));
    }
}
