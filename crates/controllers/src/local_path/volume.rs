//! The local-path provisioner's pure decisions: whether to provision for a claim, the
//! volume it creates, and what to do with one of its volumes that is going away.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::json;

use crate::persistentvolume::{
    annotation, matching, ANN_BETA_STORAGE_PROVISIONER, ANN_PROVISIONED_BY, ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
};

/// The provisioner's name, as k3s's, so StorageClasses written for k3s work unchanged.
pub const PROVISIONER: &str = "rancher.io/local-path";
/// Holds a volume of ours until its directory is removed on its node (the node agent
/// removes it). The name is the one upstream's external provisioners use.
pub const FINALIZER: &str = "external-provisioner.volume.kubernetes.io/finalizer";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What to do about a claim.
#[derive(Debug, PartialEq)]
pub enum ClaimDecision {
    /// Not ours, already done, or not yet (no node picked).
    Skip,
    /// Create this volume on this node.
    Provision { node: String },
    /// Ours, but it cannot be done; the reason goes into a `ProvisioningFailed` event.
    Fail(String),
}

pub fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid.as_deref().unwrap_or(""))
}

/// The volume's directory on its node: `<root>/pvc-<uid>_<namespace>_<name>`, as k3s.
pub fn directory(root: &str, claim: &PersistentVolumeClaim) -> String {
    format!(
        "{}/{}_{}_{}",
        root.trim_end_matches('/'),
        volume_name(claim),
        claim.metadata.namespace.as_deref().unwrap_or(""),
        claim.metadata.name.as_deref().unwrap_or(""),
    )
}

pub fn decide_claim(claim: &PersistentVolumeClaim, class: Option<&StorageClass>) -> ClaimDecision {
    let spec = claim.spec.as_ref();
    let asked = annotation(&claim.metadata, ANN_STORAGE_PROVISIONER)
        .or_else(|| annotation(&claim.metadata, ANN_BETA_STORAGE_PROVISIONER));
    let bound = spec
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty());
    let ours = class.is_some_and(|c| c.provisioner == PROVISIONER);
    if asked != Some(PROVISIONER) || !ours || bound || claim.metadata.deletion_timestamp.is_some() {
        return ClaimDecision::Skip;
    }
    let Some(node) = annotation(&claim.metadata, ANN_SELECTED_NODE) else {
        let waits = class
            .and_then(|c| c.volume_binding_mode.as_deref())
            .is_some_and(|m| m == "WaitForFirstConsumer");
        return if waits {
            ClaimDecision::Skip
        } else {
            ClaimDecision::Fail(
                "configuration error, no node was specified: local-path volumes live on one node, so their StorageClass needs volumeBindingMode WaitForFirstConsumer".into(),
            )
        };
    };
    if spec.and_then(|s| s.volume_mode.as_deref()) == Some("Block") {
        return ClaimDecision::Fail("Block volume mode is not supported, only Filesystem".into());
    }
    let modes = spec.and_then(|s| s.access_modes.as_deref()).unwrap_or(&[]);
    if let Some(m) = modes
        .iter()
        .find(|m| *m != "ReadWriteOnce" && *m != "ReadWriteOncePod")
    {
        return ClaimDecision::Fail(format!(
            "access mode {m} is not supported, only ReadWriteOnce and ReadWriteOncePod: the volume is a directory on one node"
        ));
    }
    ClaimDecision::Provision {
        node: node.to_string(),
    }
}

/// The volume for `claim` on `node`: a `hostPath` directory the node agent creates when it
/// first mounts it, pinned to that node, already promised to the claim.
pub fn build(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    root: &str,
) -> Result<PersistentVolume, serde_json::Error> {
    let spec = claim.spec.as_ref();
    let request = spec
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned();
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name(claim),
            "annotations": {ANN_PROVISIONED_BY: PROVISIONER},
            "finalizers": [FINALIZER],
        },
        "spec": {
            "capacity": {"storage": request},
            "accessModes": spec.and_then(|s| s.access_modes.clone()),
            "persistentVolumeReclaimPolicy": class.reclaim_policy.as_deref().unwrap_or("Delete"),
            "storageClassName": matching::claim_class(claim),
            "volumeMode": "Filesystem",
            "mountOptions": class.mount_options,
            "hostPath": {"path": directory(root, claim), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]},
            ]}]}},
            "claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": claim.metadata.namespace, "name": claim.metadata.name,
                "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version,
            },
        },
    }))
}

/// The node a volume of ours lives on (its `kubernetes.io/hostname` affinity).
pub fn node_of(pv: &PersistentVolume) -> Option<&str> {
    pv.spec
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_expressions.iter().flatten())
        .find(|e| e.key == HOSTNAME_LABEL && e.operator == "In")
        .and_then(|e| e.values.as_ref()?.first())
        .map(String::as_str)
}

pub fn is_ours(pv: &PersistentVolume) -> bool {
    annotation(&pv.metadata, ANN_PROVISIONED_BY) == Some(PROVISIONER)
}

pub fn has_finalizer(pv: &PersistentVolume) -> bool {
    pv.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER)
}

/// What happens to one of our volumes.
#[derive(Debug, PartialEq)]
pub enum VolumeDecision {
    Nothing,
    /// Released with reclaim Delete: delete the object (the finalizer keeps it until its
    /// node removed the directory).
    Delete,
    /// Being deleted, and nothing is left to clean up here (reclaim Retain: the directory
    /// stays): drop the finalizer.
    Release,
    /// Being deleted after release: the directory goes first, on its node; the finalizer
    /// is dropped here only if that node is gone (nobody is left to clean up).
    AwaitNode(String),
}

pub fn decide_volume(pv: &PersistentVolume) -> VolumeDecision {
    if !is_ours(pv) {
        return VolumeDecision::Nothing;
    }
    let phase = pv
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    let released = phase == "Released" || phase == "Failed";
    let delete = pv
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        == Some("Delete");
    if pv.metadata.deletion_timestamp.is_none() {
        return if released && delete {
            VolumeDecision::Delete
        } else {
            VolumeDecision::Nothing
        };
    }
    if !has_finalizer(pv) {
        return VolumeDecision::Nothing;
    }
    if !delete {
        return VolumeDecision::Release;
    }
    match (released, node_of(pv)) {
        (true, Some(node)) => VolumeDecision::AwaitNode(node.to_string()),
        (true, None) => VolumeDecision::Release,
        // Deleted while still bound: kept until its claim lets go.
        (false, _) => VolumeDecision::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn claim(annotations: Value, spec: Value) -> PersistentVolumeClaim {
        let mut s = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                           "resources": {"requests": {"storage": "2Gi"}}});
        s.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                         "annotations": annotations},
            "spec": s,
        }))
        .unwrap()
    }

    fn class(provisioner: &str, mode: &str) -> StorageClass {
        serde_json::from_value(json!({"metadata": {"name": "local-path"},
            "provisioner": provisioner, "volumeBindingMode": mode, "reclaimPolicy": "Delete"}))
        .unwrap()
    }

    #[test]
    fn claims() {
        let asked = |node: Option<&str>| {
            let mut a = json!({ANN_STORAGE_PROVISIONER: PROVISIONER});
            if let Some(n) = node {
                a[ANN_SELECTED_NODE] = json!(n);
            }
            a
        };
        let ours = class(PROVISIONER, "WaitForFirstConsumer");
        let eager = class(PROVISIONER, "Immediate");
        let other = class("csi.example.com", "WaitForFirstConsumer");
        let cases = [
            (
                "selected node",
                claim(asked(Some("n1")), json!({})),
                Some(&ours),
                expect_test::expect![[r#"Provision { node: "n1" }"#]],
            ),
            (
                "no node yet",
                claim(asked(None), json!({})),
                Some(&ours),
                expect_test::expect!["Skip"],
            ),
            (
                "not asked yet",
                claim(json!({ANN_SELECTED_NODE: "n1"}), json!({})),
                Some(&ours),
                expect_test::expect!["Skip"],
            ),
            (
                "another provisioner's class",
                claim(asked(Some("n1")), json!({})),
                Some(&other),
                expect_test::expect!["Skip"],
            ),
            (
                "already bound",
                claim(asked(Some("n1")), json!({"volumeName": "pv"})),
                Some(&ours),
                expect_test::expect!["Skip"],
            ),
            (
                "immediate class",
                claim(asked(None), json!({})),
                Some(&eager),
                expect_test::expect![[
                    r#"Fail("configuration error, no node was specified: local-path volumes live on one node, so their StorageClass needs volumeBindingMode WaitForFirstConsumer")"#
                ]],
            ),
            (
                "block",
                claim(asked(Some("n1")), json!({"volumeMode": "Block"})),
                Some(&ours),
                expect_test::expect![[
                    r#"Fail("Block volume mode is not supported, only Filesystem")"#
                ]],
            ),
            (
                "rwx",
                claim(asked(Some("n1")), json!({"accessModes": ["ReadWriteMany"]})),
                Some(&ours),
                expect_test::expect![[
                    r#"Fail("access mode ReadWriteMany is not supported, only ReadWriteOnce and ReadWriteOncePod: the volume is a directory on one node")"#
                ]],
            ),
        ];
        for (what, c, class, want) in cases {
            eprintln!("{what}");
            want.assert_eq(&format!("{:?}", decide_claim(&c, class)));
        }
    }

    #[test]
    fn built_volume() {
        let c = claim(json!({}), json!({}));
        let pv = build(
            &c,
            &class(PROVISIONER, "WaitForFirstConsumer"),
            "n1",
            "/var/lib/skiff/storage/",
        )
        .unwrap();
        expect_test::expect![[r#"
            {
              "apiVersion": "v1",
              "kind": "PersistentVolume",
              "metadata": {
                "annotations": {
                  "pv.kubernetes.io/provisioned-by": "rancher.io/local-path"
                },
                "finalizers": [
                  "external-provisioner.volume.kubernetes.io/finalizer"
                ],
                "name": "pvc-u1"
              },
              "spec": {
                "accessModes": [
                  "ReadWriteOnce"
                ],
                "capacity": {
                  "storage": "2Gi"
                },
                "claimRef": {
                  "apiVersion": "v1",
                  "kind": "PersistentVolumeClaim",
                  "name": "data",
                  "namespace": "ns",
                  "resourceVersion": "7",
                  "uid": "u1"
                },
                "hostPath": {
                  "path": "/var/lib/skiff/storage/pvc-u1_ns_data",
                  "type": "DirectoryOrCreate"
                },
                "nodeAffinity": {
                  "required": {
                    "nodeSelectorTerms": [
                      {
                        "matchExpressions": [
                          {
                            "key": "kubernetes.io/hostname",
                            "operator": "In",
                            "values": [
                              "n1"
                            ]
                          }
                        ]
                      }
                    ]
                  }
                },
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "local-path",
                "volumeMode": "Filesystem"
              }
            }"#]]
        .assert_eq(&serde_json::to_string_pretty(&pv).unwrap());
        assert_eq!(node_of(&pv), Some("n1"));
    }

    #[test]
    fn volumes() {
        let pv = |phase: &str,
                  policy: &str,
                  deleting: bool,
                  finalizer: bool,
                  ours: bool|
         -> PersistentVolume {
            serde_json::from_value(json!({
                "metadata": {"name": "pvc-u1",
                    "annotations": if ours { json!({ANN_PROVISIONED_BY: PROVISIONER}) } else { json!({}) },
                    "deletionTimestamp": if deleting { json!("2024-01-01T00:00:00Z") } else { Value::Null },
                    "finalizers": if finalizer { json!([FINALIZER]) } else { json!([]) }},
                "spec": {"persistentVolumeReclaimPolicy": policy,
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}},
                "status": {"phase": phase},
            }))
            .unwrap()
        };
        let cases = [
            (
                "bound",
                pv("Bound", "Delete", false, true, true),
                VolumeDecision::Nothing,
            ),
            (
                "released, delete",
                pv("Released", "Delete", false, true, true),
                VolumeDecision::Delete,
            ),
            (
                "released, retain",
                pv("Released", "Retain", false, true, true),
                VolumeDecision::Nothing,
            ),
            (
                "not ours",
                pv("Released", "Delete", false, true, false),
                VolumeDecision::Nothing,
            ),
            (
                "deleting after release",
                pv("Released", "Delete", true, true, true),
                VolumeDecision::AwaitNode("n1".into()),
            ),
            (
                "deleting while bound",
                pv("Bound", "Delete", true, true, true),
                VolumeDecision::Nothing,
            ),
            (
                "deleting, retain",
                pv("Released", "Retain", true, true, true),
                VolumeDecision::Release,
            ),
            (
                "finalizer gone",
                pv("Released", "Delete", true, false, true),
                VolumeDecision::Nothing,
            ),
        ];
        for (what, v, want) in cases {
            assert_eq!(decide_volume(&v), want, "{what}");
        }
    }
}
