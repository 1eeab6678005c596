//! This node's half of the built-in local-path provisioner (`rancher.io/local-path`): the
//! controller side (`controllers::local_path`) creates a `hostPath` volume pinned to a node
//! and, once its claim is gone and its reclaim policy is Delete, deletes the volume object.
//! A finalizer holds the object until the directory is gone, and only the node holding the
//! directory can remove it: that is this module. (The directory is created by the pod
//! volume code's `DirectoryOrCreate` mount when a pod first uses the volume.)
//!
//! Deliberately narrow: only volumes the provisioner made, pinned to this node, released
//! and being deleted, and only a directory named after the volume (`pvc-<uid>_…`), so a
//! hand-written volume object cannot make the agent delete an arbitrary path; and never
//! while a pod on this node that has not finished still uses the claim (a claim deleted
//! under a running pod: skiff has no pvc-protection finalizer yet).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

const PROVISIONER: &str = "rancher.io/local-path";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const FINALIZER: &str = "external-provisioner.volume.kubernetes.io/finalizer";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// A cleanup that failed (a conflict, a busy directory) is tried again this often.
const RETRY: Duration = Duration::from_secs(20);

/// The directory to remove for `pv` on `node`, if it is this node's to remove now.
pub fn to_clean(pv: &PersistentVolume, node: &str) -> Option<PathBuf> {
    let meta = &pv.metadata;
    let spec = pv.spec.as_ref()?;
    let ours = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROVISIONED_BY))
        .is_some_and(|p| p == PROVISIONER);
    let held = meta.finalizers.iter().flatten().any(|f| f == FINALIZER);
    let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
    let released = matches!(phase, Some("Released") | Some("Failed"));
    let delete = spec.persistent_volume_reclaim_policy.as_deref() == Some("Delete");
    if !(ours && held && released && delete && meta.deletion_timestamp.is_some()) {
        return None;
    }
    let pinned_here = spec
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_expressions.iter().flatten())
        .any(|e| {
            e.key == HOSTNAME_LABEL
                && e.operator == "In"
                && e.values.as_deref() == Some(&[node.to_string()])
        });
    if !pinned_here {
        return None;
    }
    let path = Path::new(&spec.host_path.as_ref()?.path);
    let name = meta.name.as_deref()?;
    let named_for_it = path
        .file_name()
        .and_then(|f| f.to_str())
        .is_some_and(|f| f.starts_with(&format!("{name}_")));
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    (named_for_it && plain && name.starts_with("pvc-")).then(|| path.to_path_buf())
}

pub async fn run(client: kube::Client, node: String) {
    let pods: Api<Pod> = Api::all(client.clone());
    let api: Api<PersistentVolume> = Api::all(client);
    let changes = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects();
    futures::pin_mut!(changes);
    let mut retry = tokio::time::interval(RETRY);
    loop {
        tokio::select! {
            change = changes.next() => match change {
                Some(Ok(pv)) => clean(&api, &pods, &pv, &node).await,
                Some(Err(e)) => tracing::debug!(error = %e, "local-path volume watch"),
                None => return,
            },
            _ = retry.tick() => {
                if let Ok(list) = api.list(&ListParams::default()).await {
                    for pv in list.items {
                        clean(&api, &pods, &pv, &node).await;
                    }
                }
            }
        }
    }
}

/// Whether a pod that has not finished still uses the claim `namespace/claim`: its claim
/// was deleted under it (skiff has no pvc-protection finalizer yet), and its directory
/// must outlive the pod.
pub fn in_use(pods: &[Pod], namespace: &str, claim: &str) -> bool {
    pods.iter().any(|p| {
        let done = p
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|ph| ph == "Succeeded" || ph == "Failed");
        p.metadata.namespace.as_deref() == Some(namespace)
            && !done
            && p.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| c.claim_name == claim)
                })
    })
}

async fn clean(api: &Api<PersistentVolume>, pods: &Api<Pod>, pv: &PersistentVolume, node: &str) {
    let Some(dir) = to_clean(pv, node) else {
        return;
    };
    let name = pv.metadata.name.clone().unwrap_or_default();
    if let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
        let here = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let ns = r.namespace.as_deref().unwrap_or("");
        let claim = r.name.as_deref().unwrap_or("");
        match pods.list(&here).await {
            Ok(list) if in_use(&list.items, ns, claim) => {
                tracing::info!(volume = %name, "local-path volume still used by a pod; directory kept for now");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(volume = %name, error = %e, "listing pods before removing a local-path directory");
                return;
            }
        }
    }
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {
            tracing::info!(volume = %name, dir = %dir.display(), "removed local-path volume directory")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(volume = %name, dir = %dir.display(), error = %e, "removing local-path volume directory");
            return;
        }
    }
    let keep: Vec<&String> = pv
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != FINALIZER)
        .collect();
    // Guarded by the resourceVersion seen: a concurrent finalizer change is never lost.
    let patch = json!({"metadata": {
        "resourceVersion": pv.metadata.resource_version, "finalizers": keep,
    }});
    if let Err(e) = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::debug!(volume = %name, error = %e, "releasing local-path volume; retrying");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn pv(change: impl Fn(&mut Value)) -> PersistentVolume {
        let mut v = json!({
            "metadata": {"name": "pvc-u1", "annotations": {PROVISIONED_BY: PROVISIONER},
                         "finalizers": [FINALIZER], "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"persistentVolumeReclaimPolicy": "Delete",
                     "hostPath": {"path": "/var/lib/skiff/storage/pvc-u1_ns_data", "type": "DirectoryOrCreate"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": HOSTNAME_LABEL, "operator": "In", "values": ["n1"]}]}]}}},
            "status": {"phase": "Released"},
        });
        change(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn claims_in_use() {
        let pod = |ns: &str, claim: &str, phase: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": "p", "namespace": ns},
                "spec": {"containers": [], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]},
                "status": {"phase": phase},
            }))
            .unwrap()
        };
        let cases = [
            (vec![pod("ns", "data", "Running")], true),
            (vec![pod("ns", "data", "Pending")], true),
            (vec![pod("ns", "data", "Succeeded")], false),
            (vec![pod("ns", "data", "Failed")], false),
            (vec![pod("other", "data", "Running")], false),
            (vec![pod("ns", "logs", "Running")], false),
            (vec![], false),
        ];
        for (i, (pods, want)) in cases.into_iter().enumerate() {
            assert_eq!(in_use(&pods, "ns", "data"), want, "case {i}");
        }
    }

    #[test]
    fn what_to_clean() {
        let dir = Some(PathBuf::from("/var/lib/skiff/storage/pvc-u1_ns_data"));
        let cases: Vec<(&str, PersistentVolume, &str, Option<PathBuf>)> = vec![
            ("released and deleted", pv(|_| {}), "n1", dir.clone()),
            (
                "failed and deleted",
                pv(|v| v["status"]["phase"] = json!("Failed")),
                "n1",
                dir,
            ),
            ("another node's", pv(|_| {}), "n2", None),
            (
                "still bound",
                pv(|v| v["status"]["phase"] = json!("Bound")),
                "n1",
                None,
            ),
            (
                "not being deleted",
                pv(|v| v["metadata"]["deletionTimestamp"] = Value::Null),
                "n1",
                None,
            ),
            (
                "retained",
                pv(|v| v["spec"]["persistentVolumeReclaimPolicy"] = json!("Retain")),
                "n1",
                None,
            ),
            (
                "not ours",
                pv(|v| v["metadata"]["annotations"] = json!({})),
                "n1",
                None,
            ),
            (
                "finalizer gone",
                pv(|v| v["metadata"]["finalizers"] = json!([])),
                "n1",
                None,
            ),
            (
                "path not named after it",
                pv(|v| v["spec"]["hostPath"]["path"] = json!("/etc")),
                "n1",
                None,
            ),
            (
                "path climbing out",
                pv(|v| v["spec"]["hostPath"]["path"] = json!("/x/../pvc-u1_ns_data")),
                "n1",
                None,
            ),
            (
                "relative path",
                pv(|v| v["spec"]["hostPath"]["path"] = json!("pvc-u1_ns_data")),
                "n1",
                None,
            ),
        ];
        for (what, v, node, want) in cases {
            assert_eq!(to_clean(&v, node), want, "{what}");
        }
    }
}
