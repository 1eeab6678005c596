//! VolumeBinding: a pod's PersistentVolumeClaims decide where it may run.
//! - PreFilter: every claim must exist and not be going away; an unbound claim must wait
//!   for its first consumer (its StorageClass says `WaitForFirstConsumer`), since an
//!   `Immediate` claim is bound by the volume controller before any pod needs it.
//! - Filter: a bound volume's node affinity must admit the node; a waiting claim that a
//!   volume was already made or reserved for (its `claimRef`, not bound yet) goes where
//!   that volume can; otherwise it needs an available volume that fits (class, size,
//!   access modes, node affinity) or a class that provisions one.
//! - Reserve picks the volumes for the chosen node; PreBind writes the choice: a matched
//!   volume gets the claim in `spec.claimRef` (and `pv.kubernetes.io/bound-by-controller`,
//!   so the volume controller may take it back), a claim to provision gets upstream's
//!   `volume.kubernetes.io/selected-node` annotation for the provisioner. The volume
//!   controller (`controllers::persistentvolume`) completes both kinds of binding; the pod
//!   is bound to its node without waiting for that (upstream's PreBind waits), and the node
//!   agent waits for the claim to be bound before it mounts.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use crate::framework::{
    CycleState, FilterPlugin, Handle, NodeInfo, Plugin, PodInfo, PreBindPlugin, PreFilterPlugin,
    PreFilterResult, ReservePlugin, Snapshot, Status,
};

pub const NAME: &str = "VolumeBinding";
/// Tells the external provisioner which node the first consumer landed on (upstream's
/// `volume.kubernetes.io/selected-node`).
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";

pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
pub const NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";

/// What PreFilter learned about the pod's claims, for Filter and Reserve.
#[derive(Debug, Clone, Default)]
pub struct PodVolumes {
    /// Volumes of the pod's bound claims.
    pub bound: Vec<Arc<PersistentVolume>>,
    /// A bound claim names a volume that does not exist.
    pub missing_volume: bool,
    /// Unbound claims waiting for this pod, with their class.
    pub delayed: Vec<(Arc<PersistentVolumeClaim>, Arc<StorageClass>)>,
}

/// How each delayed claim is satisfied on the chosen node (Reserve → PreBind).
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// (claim, volume to bind it to)
    pub matched: Vec<(Arc<PersistentVolumeClaim>, Arc<PersistentVolume>)>,
    /// Claims the class's provisioner creates a volume for.
    pub provision: Vec<Arc<PersistentVolumeClaim>>,
}

/// Claim names the pod uses: `persistentVolumeClaim` volumes and generic ephemeral
/// volumes (whose claim is named `<pod>-<volume>`).
pub fn claim_names(pod: &Pod) -> Vec<String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(c.claim_name.clone())
            } else {
                v.ephemeral
                    .as_ref()
                    .map(|_| format!("{pod_name}-{}", v.name))
            }
        })
        .collect()
}

/// The lookups PreFilter needs, so the decision is testable without informers.
pub trait VolumeLister {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>>;
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>>;
    fn class(&self, name: &str) -> Option<Arc<StorageClass>>;
    fn volumes(&self) -> Vec<Arc<PersistentVolume>>;
}

impl VolumeLister for Handle {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.stores
            .pvcs
            .get(&ObjectRef::new(name).within(namespace))
    }
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.stores.pvs.get(&ObjectRef::new(name))
    }
    fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.stores.storage_classes.get(&ObjectRef::new(name))
    }
    fn volumes(&self) -> Vec<Arc<PersistentVolume>> {
        self.stores.pvs.state()
    }
}

fn class_name(pvc: &PersistentVolumeClaim) -> &str {
    pvc.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Sorts the pod's claims into bound and delayed, or says why the pod cannot be placed
/// anywhere yet. `Ok(None)`: the pod has no claims.
pub fn pre_filter(pod: &PodInfo, lister: &dyn VolumeLister) -> Result<Option<PodVolumes>, Status> {
    let names = claim_names(&pod.pod);
    if names.is_empty() {
        return Ok(None);
    }
    let mut out = PodVolumes::default();
    let mut unbound_immediate = false;
    for name in names {
        let Some(pvc) = lister.claim(&pod.namespace, &name) else {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim \"{name}\" not found"
            )));
        };
        if pvc.metadata.deletion_timestamp.is_some() {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim \"{name}\" is being deleted"
            )));
        }
        let volume = pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .filter(|v| !v.is_empty());
        if let Some(v) = volume {
            match lister.volume(v) {
                Some(pv) => out.bound.push(pv),
                None => out.missing_volume = true,
            }
            continue;
        }
        let class = class_name(&pvc);
        let delayed = if class.is_empty() {
            None
        } else {
            let Some(sc) = lister.class(class) else {
                return Err(Status::unresolvable(format!(
                    "storageclass.storage.k8s.io \"{class}\" not found"
                )));
            };
            (sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")).then_some(sc)
        };
        match delayed {
            Some(sc) => out.delayed.push((pvc, sc)),
            None => unbound_immediate = true,
        }
    }
    if unbound_immediate {
        return Err(Status::unresolvable(UNBOUND_IMMEDIATE));
    }
    Ok(Some(out))
}

/// Whether a volume's required node affinity admits the node (none admits every node).
fn volume_fits_node(pv: &PersistentVolume, node: &Node) -> bool {
    let required = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref());
    required.is_none_or(|sel| {
        sel.node_selector_terms
            .iter()
            .any(|t| super::node_affinity::term_matches(t, node))
    })
}

fn parse_quantity(q: &str) -> i64 {
    apimachinery::quantity::parse_str(q).unwrap_or(0.0) as i64
}

fn requested_bytes(pvc: &PersistentVolumeClaim) -> i64 {
    pvc.spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| parse_quantity(&q.0))
        .unwrap_or(0)
}

/// An available volume that can take the claim on this node: same class, large enough,
/// offering the claim's access modes, not promised to another claim; one already promised
/// to this claim (by an earlier cycle, an administrator or the provisioner, in any phase)
/// wins, as in the volume controller, then the smallest.
fn find_match(
    pvc: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    taken: &BTreeSet<String>,
    node: &Node,
) -> Option<Arc<PersistentVolume>> {
    let ns = pvc.metadata.namespace.as_deref().unwrap_or("");
    let name = pvc.metadata.name.as_deref().unwrap_or("");
    let want_modes: Vec<&String> = pvc
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let size = requested_bytes(pvc);
    volumes
        .iter()
        .filter(|pv| {
            let Some(spec) = pv.spec.as_ref() else {
                return false;
            };
            let pv_name = pv.metadata.name.as_deref().unwrap_or("");
            let promised = is_promised(pv, ns, name);
            let free = spec.claim_ref.is_none() || promised;
            let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
            let modes = spec.access_modes.as_deref().unwrap_or(&[]);
            let capacity = spec
                .capacity
                .as_ref()
                .and_then(|c| c.get("storage"))
                .map(|q| parse_quantity(&q.0))
                .unwrap_or(0);
            free && !taken.contains(pv_name)
                && pv.metadata.deletion_timestamp.is_none()
                && (promised || matches!(phase, None | Some("Available")))
                && spec.storage_class_name.as_deref().unwrap_or("") == class_name(pvc)
                && capacity >= size
                && want_modes.iter().all(|m| modes.contains(m))
                && volume_fits_node(pv, node)
        })
        .min_by_key(|pv| {
            let size = pv
                .spec
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.get("storage"))
                .map(|q| parse_quantity(&q.0))
                .unwrap_or(0);
            (!is_promised(pv, ns, name), size)
        })
        .cloned()
}

fn is_promised(pv: &PersistentVolume, ns: &str, name: &str) -> bool {
    pv.spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_some_and(|r| r.namespace.as_deref() == Some(ns) && r.name.as_deref() == Some(name))
}

/// Whether the class may provision a volume reachable from this node.
fn can_provision(sc: &StorageClass, node: &Node) -> bool {
    if sc.provisioner == NO_PROVISIONER {
        return false;
    }
    let allowed = sc.allowed_topologies.as_deref().unwrap_or(&[]);
    if allowed.is_empty() {
        return true;
    }
    let labels = node.metadata.labels.as_ref();
    allowed.iter().any(|t| {
        t.match_label_expressions.iter().flatten().all(|e| {
            labels
                .and_then(|l| l.get(&e.key))
                .is_some_and(|v| e.values.contains(v))
        })
    })
}

/// How every delayed claim would be satisfied on `node`, or why the node will not do.
pub fn decide(
    vols: &PodVolumes,
    all_volumes: &[Arc<PersistentVolume>],
    node: &Node,
) -> Result<Decisions, Status> {
    if vols.missing_volume {
        return Err(Status::unresolvable(PV_NOT_EXIST));
    }
    if !vols.bound.iter().all(|pv| volume_fits_node(pv, node)) {
        return Err(Status::unresolvable(NODE_CONFLICT));
    }
    let mut out = Decisions::default();
    let mut taken = BTreeSet::new();
    for (pvc, sc) in &vols.delayed {
        let ns = pvc.metadata.namespace.as_deref().unwrap_or("");
        let name = pvc.metadata.name.as_deref().unwrap_or("");
        // A volume already made or reserved for the claim decides where it can go: no
        // second volume is provisioned for it elsewhere.
        let mut promised = all_volumes
            .iter()
            .filter(|pv| is_promised(pv, ns, name) && pv.metadata.deletion_timestamp.is_none())
            .peekable();
        if promised.peek().is_some() && !promised.any(|pv| volume_fits_node(pv, node)) {
            return Err(Status::unresolvable(NODE_CONFLICT));
        }
        if let Some(pv) = find_match(pvc, all_volumes, &taken, node) {
            taken.insert(pv.metadata.name.clone().unwrap_or_default());
            out.matched.push((pvc.clone(), pv));
        } else if can_provision(sc, node) {
            out.provision.push(pvc.clone());
        } else {
            return Err(Status::unresolvable(BIND_CONFLICT));
        }
    }
    Ok(out)
}

pub struct VolumeBinding {
    handle: Arc<Handle>,
}

impl VolumeBinding {
    pub fn new(handle: &Arc<Handle>) -> VolumeBinding {
        VolumeBinding {
            handle: handle.clone(),
        }
    }
}

const STATE_KEY: &str = "VolumeBinding";
const DECISIONS_KEY: &str = "VolumeBinding/decisions";

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        Some(self)
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        match pre_filter(pod, self.handle.as_ref()) {
            Ok(None) => (None, Status::skip()),
            Ok(Some(v)) => {
                state.write(STATE_KEY, v);
                (None, Status::success())
            }
            Err(s) => (None, s),
        }
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(vols) = state.read::<PodVolumes>(STATE_KEY) else {
            return Status::success();
        };
        let all = if vols.delayed.is_empty() {
            Vec::new()
        } else {
            self.handle.volumes()
        };
        match decide(vols, &all, &node.node) {
            Ok(_) => Status::success(),
            Err(s) => s,
        }
    }
}

impl ReservePlugin for VolumeBinding {
    fn reserve(&self, state: &mut CycleState, _pod: &PodInfo, node: &str) -> Status {
        let Some(vols) = state.read::<PodVolumes>(STATE_KEY).cloned() else {
            return Status::success();
        };
        if vols.delayed.is_empty() {
            return Status::success();
        }
        let Some(n) = self.handle.stores.nodes.get(&ObjectRef::new(node)) else {
            return Status::error(format!("node {node} not found"));
        };
        match decide(&vols, &self.handle.volumes(), &n) {
            Ok(d) => {
                state.write(DECISIONS_KEY, d);
                Status::success()
            }
            Err(s) => s,
        }
    }

    fn unreserve(&self, _state: &CycleState, _pod: &PodInfo, _node: &str) {}
}

impl PreBindPlugin for VolumeBinding {
    fn pre_bind<'a>(
        &'a self,
        state: &'a CycleState,
        _pod: &'a PodInfo,
        node: &'a str,
    ) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            let Some(d) = state.read::<Decisions>(DECISIONS_KEY) else {
                return Status::success();
            };
            let Some(client) = self.handle.client.clone() else {
                return Status::error("no API client");
            };
            match write_decisions(&client, d, node).await {
                Ok(()) => Status::success(),
                Err(e) => Status::error(format!("binding volumes: {e}")),
            }
        })
    }
}

async fn write_decisions(
    client: &kube::Client,
    d: &Decisions,
    node: &str,
) -> Result<(), kube::Error> {
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    for (pvc, pv) in &d.matched {
        let claim_ref = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_some_and(|r| r.uid.is_some() && r.uid == pvc.metadata.uid) {
            continue;
        }
        // Marked as the volume controller marks its own bindings, so that it takes the
        // volume back if the claim ends up bound elsewhere.
        let patch = json!({"metadata": {"annotations": {BOUND_BY_CONTROLLER: "yes"}},
                           "spec": {"claimRef": {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "namespace": pvc.metadata.namespace, "name": pvc.metadata.name,
            "uid": pvc.metadata.uid, "resourceVersion": pvc.metadata.resource_version,
        }}});
        pvs.patch(
            pv.metadata.name.as_deref().unwrap_or(""),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    for pvc in &d.provision {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(
            client.clone(),
            pvc.metadata.namespace.as_deref().unwrap_or(""),
        );
        let patch = json!({"metadata": {"annotations": {SELECTED_NODE_ANNOTATION: node}}});
        api.patch(
            pvc.metadata.name.as_deref().unwrap_or(""),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
