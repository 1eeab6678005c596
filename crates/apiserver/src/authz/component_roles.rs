//! The roles skiff's own control-plane components run under, so that none of them is in
//! `system:masters`. The server gives the controller manager a client certificate for
//! [`CONTROLLER_MANAGER_USER`] and the scheduler one for [`SCHEDULER_USER`]; node agents
//! (in-process or joined) are `system:node:<name>` and answer to the Node authorizer
//! (`node.rs`), not to a role here.
//!
//! The scheduler's roles carry upstream's names and their rules
//! (`system:kube-scheduler`, `system:volume-scheduler`), less what skiff's scheduler never
//! asks for (Endpoints locks, the authentication ConfigMap a delegating server reads). skiff's controller manager runs every controller with one
//! identity — upstream would give each its own service account — and runs controllers
//! upstream's does not (servicelb, ingress and Gateway status, the local-path provisioner),
//! so it gets a skiff role, `system:skiff:controller-manager`, whose rules were derived
//! from what `crates/controllers` calls; each rule says which controllers need it.

use serde_json::Value;

use super::default_roles::{binding, cluster_role, rule, READ};

pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
pub const SCHEDULER_USER: &str = "system:kube-scheduler";
pub const CONTROLLER_MANAGER_ROLE: &str = "system:skiff:controller-manager";

/// The leases leader election holds in `kube-system` (`controllers::leader_election`).
const CONTROLLER_MANAGER_LEASE: &str = "kube-controller-manager";
const SCHEDULER_LEASE: &str = "kube-scheduler";

fn named(mut r: Value, names: &[&str]) -> Value {
    r["resourceNames"] = serde_json::json!(names);
    r
}

fn controller_manager_rules() -> Vec<Value> {
    vec![
        // The garbage collector watches every listable resource (custom ones included),
        // the namespace controller lists every namespaced kind it must empty, the quota
        // controller counts any kind a quota names, the disruption controller reads any
        // scale target. Upstream's KCM role also lists and watches everything.
        rule(&["*"], &["*"], READ),
        // The garbage collector patches owner references and finalizers on dependents of
        // any kind and deletes them; the namespace controller deletes whole collections
        // of every kind. Node lifecycle taints nodes and marks pods (patch), PV binding
        // and protection patch claims and volumes, the status controllers (servicelb,
        // ingress, gateway, daemonset, statefulset, namespace) patch `*/status`.
        // Upstream's garbage-collector and namespace-controller roles grant the same.
        rule(&["*"], &["*"], &["patch", "delete", "deletecollection"]),
        // Workload controllers create what they own: pods (replicaset, daemonset,
        // statefulset, job), their revisions (daemonset, statefulset), claims from
        // volume templates (statefulset).
        rule(&[""], &["pods", "persistentvolumeclaims"], &["create"]),
        rule(
            &["apps"],
            &["replicasets", "controllerrevisions"],
            &["create", "update"],
        ),
        rule(&["batch"], &["jobs"], &["create"]),
        // Endpoints and EndpointSlice controllers write whole objects.
        rule(&[""], &["endpoints"], &["create", "update"]),
        rule(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &["create", "update"],
        ),
        // root-ca publishes kube-root-ca.crt in every namespace; the service account
        // controller creates `default`; the local-path provisioner creates volumes.
        rule(&[""], &["configmaps"], &["create", "update"]),
        rule(&[""], &["serviceaccounts"], &["create"]),
        rule(&[""], &["persistentvolumes"], &["create"]),
        // Status written whole (replace), by the controller named in the resource.
        rule(
            &[""],
            &[
                "namespaces/finalize",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas/status",
            ],
            &["update"],
        ),
        rule(
            &["apps"],
            &["deployments/status", "replicasets/status"],
            &["update"],
        ),
        rule(&["batch"], &["cronjobs/status", "jobs/status"], &["update"]),
        rule(&["policy"], &["poddisruptionbudgets/status"], &["update"]),
        // Events about what the controllers did.
        rule(&["", "events.k8s.io"], &["events"], &["create", "update"]),
        // Leader election among servers sharing a store.
        rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        named(
            rule(&["coordination.k8s.io"], &["leases"], &["update"]),
            &[CONTROLLER_MANAGER_LEASE],
        ),
        // The CSR controller approves node client requests after asking whether the
        // requester may (SubjectAccessReview), then signs them with the cluster CA.
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["certificates.k8s.io"],
            &[
                "certificatesigningrequests/approval",
                "certificatesigningrequests/status",
            ],
            &["update"],
        ),
        named(
            rule(&["certificates.k8s.io"], &["signers"], &["approve", "sign"]),
            &[
                "kubernetes.io/kube-apiserver-client",
                "kubernetes.io/kube-apiserver-client-kubelet",
            ],
        ),
        // Serving certificates for kubelets are signed once someone approved them; the
        // controller manager never approves them itself.
        named(
            rule(&["certificates.k8s.io"], &["signers"], &["sign"]),
            &["kubernetes.io/kubelet-serving"],
        ),
        // ClusterRole aggregation copies other roles' rules into admin/edit/view, rules
        // this identity does not itself hold.
        rule(
            &["rbac.authorization.k8s.io"],
            &["clusterroles"],
            &["escalate"],
        ),
    ]
}

/// Upstream's `system:kube-scheduler`.
fn scheduler_rules() -> Vec<Value> {
    vec![
        rule(
            &["", "events.k8s.io"],
            &["events"],
            &["create", "patch", "update"],
        ),
        rule(&["coordination.k8s.io"], &["leases"], &["create"]),
        named(
            rule(&["coordination.k8s.io"], &["leases"], &["get", "update"]),
            &[SCHEDULER_LEASE],
        ),
        rule(&[""], &["nodes"], READ),
        rule(&[""], &["pods"], &["delete", "get", "list", "watch"]),
        rule(&[""], &["bindings", "pods/binding"], &["create"]),
        rule(&[""], &["pods/status"], &["patch", "update"]),
        rule(
            &[""],
            &[
                "replicationcontrollers",
                "services",
                "namespaces",
                "persistentvolumeclaims",
                "persistentvolumes",
            ],
            READ,
        ),
        rule(&["apps"], &["replicasets", "statefulsets"], READ),
        rule(&["policy"], &["poddisruptionbudgets"], READ),
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["storage.k8s.io"],
            &["csinodes", "csidrivers", "csistoragecapacities"],
            READ,
        ),
    ]
}

/// Upstream's `system:volume-scheduler`: volume binding annotates claims and volumes.
fn volume_scheduler_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &["persistentvolumes", "persistentvolumeclaims"],
            &["get", "list", "patch", "update", "watch"],
        ),
        rule(&["storage.k8s.io"], &["storageclasses"], READ),
    ]
}

pub fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(CONTROLLER_MANAGER_ROLE, &[], controller_manager_rules()),
        cluster_role("system:kube-scheduler", &[], scheduler_rules()),
        cluster_role("system:volume-scheduler", &[], volume_scheduler_rules()),
    ]
}

pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding(
            CONTROLLER_MANAGER_ROLE,
            CONTROLLER_MANAGER_ROLE,
            &[("User", CONTROLLER_MANAGER_USER)],
        ),
        binding(
            "system:kube-scheduler",
            "system:kube-scheduler",
            &[("User", SCHEDULER_USER)],
        ),
        binding(
            "system:volume-scheduler",
            "system:volume-scheduler",
            &[("User", SCHEDULER_USER)],
        ),
    ]
}
