//! The pure decisions of a sync: which pods the ReplicaSet claims, how many to create or
//! delete, in which batches, and what a new pod looks like.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::{podinfo, selector};

/// Upstream's `BurstReplicas`: at most this many creates or deletes per sync.
pub const BURST: usize = 500;

/// What the ReplicaSet does about one active pod in its namespace.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Claim {
    /// Already ours and matching: counts toward replicas.
    Keep,
    /// An orphan that matches: becomes ours.
    Adopt,
    /// Ours but no longer matching: let go.
    Release,
    /// Someone else's, or not for us.
    Ignore,
}

/// Upstream `ClaimObject`: a ReplicaSet being deleted adopts and releases nothing, and a
/// pod being deleted is never adopted.
pub fn claim(rs: &ReplicaSet, pod: &Pod) -> Claim {
    let uid = rs.metadata.uid.as_deref().unwrap_or("");
    let rs_deleting = rs.metadata.deletion_timestamp.is_some();
    let matches = Some(&rs.spec.selector)
        .filter(|s| !selector::is_empty(s))
        .is_some_and(|s| {
            selector::matches(
                s,
                pod.metadata.labels.as_ref().unwrap_or(&Default::default()),
            )
        });
    match podinfo::controller_uid(pod) {
        Some(owner) if owner != uid => Claim::Ignore,
        Some(_) if matches => Claim::Keep,
        Some(_) if rs_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if rs_deleting || !matches || pod.metadata.deletion_timestamp.is_some() => {
            Claim::Ignore
        }
        None if pod.metadata.namespace != rs.metadata.namespace => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// How far the pod count is from the wanted replicas, capped at one burst.
#[derive(Debug, PartialEq, Eq)]
pub enum Diff {
    Create(usize),
    Delete(usize),
    Steady,
}

pub fn diff(active: usize, wanted: i32) -> Diff {
    let wanted = usize::try_from(wanted).unwrap_or(0);
    match active.cmp(&wanted) {
        std::cmp::Ordering::Less => Diff::Create((wanted - active).min(BURST)),
        std::cmp::Ordering::Greater => Diff::Delete((active - wanted).min(BURST)),
        std::cmp::Ordering::Equal => Diff::Steady,
    }
}

/// Upstream's slow start: 1, 2, 4, ... so a template that cannot be created fails once,
/// not `total` times.
pub fn slow_start_batches(total: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut remaining = total;
    let mut size = remaining.min(1);
    while size > 0 {
        out.push(size);
        remaining -= size;
        size = (2 * size).min(remaining);
    }
    out
}

/// The kind whose controller reference new and adopted pods get: a ReplicaSet, or a
/// ReplicationController run through the same logic.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// ReplicationControllers have no `status.terminatingReplicas`.
    pub counts_terminating: bool,
}

pub const REPLICA_SET: Owner = Owner {
    api_version: "apps/v1",
    kind: "ReplicaSet",
    counts_terminating: true,
};

pub const REPLICATION_CONTROLLER: Owner = Owner {
    api_version: "v1",
    kind: "ReplicationController",
    counts_terminating: false,
};

pub fn controller_ref(rs: &ReplicaSet, owner: Owner) -> OwnerReference {
    OwnerReference {
        api_version: owner.api_version.into(),
        kind: owner.kind.into(),
        name: rs.metadata.name.clone().unwrap_or_default(),
        uid: rs.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A new pod from the template (upstream `GetPodFromTemplate`).
pub fn pod_from_template(rs: &ReplicaSet, owner: Owner) -> Pod {
    let template = rs.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.metadata.name.as_deref().unwrap_or(""))),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_ref(rs, owner)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(deleting: bool) -> ReplicaSet {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    fn pod(app: &str, owner: Option<&str>, deleting: bool) -> Pod {
        let mut v = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": app}}});
        if let Some(uid) = owner {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "x", "uid": uid, "controller": true}]);
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn claim_table() {
        let cases = [
            (false, pod("web", Some("rs-uid"), false), Claim::Keep),
            (false, pod("db", Some("rs-uid"), false), Claim::Release),
            (true, pod("db", Some("rs-uid"), false), Claim::Ignore),
            (false, pod("web", Some("other"), false), Claim::Ignore),
            (false, pod("web", None, false), Claim::Adopt),
            (false, pod("web", None, true), Claim::Ignore),
            (true, pod("web", None, false), Claim::Ignore),
            (false, pod("db", None, false), Claim::Ignore),
        ];
        for (i, (deleting, p, want)) in cases.into_iter().enumerate() {
            assert_eq!(claim(&rs(deleting), &p), want, "case {i}");
        }
    }

    #[test]
    fn diff_table() {
        let cases = [
            (3, 3, Diff::Steady),
            (0, 3, Diff::Create(3)),
            (5, 1, Diff::Delete(4)),
            (0, 2000, Diff::Create(BURST)),
            (900, 0, Diff::Delete(BURST)),
            (1, -1, Diff::Delete(1)),
        ];
        for (active, wanted, want) in cases {
            assert_eq!(diff(active, wanted), want, "{active} -> {wanted}");
        }
    }

    #[test]
    fn slow_start_table() {
        let cases: [(usize, &[usize]); 5] = [
            (0, &[]),
            (1, &[1]),
            (3, &[1, 2]),
            (5, &[1, 2, 2]),
            (500, &[1, 2, 4, 8, 16, 32, 64, 128, 245]),
        ];
        for (total, want) in cases {
            assert_eq!(slow_start_batches(total), want, "{total}");
        }
    }

    #[test]
    fn new_pod_carries_template_and_controller_ref() {
        let p = pod_from_template(&rs(false), REPLICA_SET);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "annotations": {"a": "b"},
                    "generateName": "web-",
                    "labels": {"app": "web"},
                    "namespace": "ns",
                    "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true,
                        "controller": true, "kind": "ReplicaSet", "name": "web", "uid": "rs-uid"}],
                },
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            })
        );
    }
}
