//! Upstream's PVC and PV protection controllers: a claim being deleted keeps its
//! `kubernetes.io/pvc-protection` finalizer while a pod that has not finished uses it, and
//! a volume being deleted keeps `kubernetes.io/pv-protection` while it is Bound. (The
//! apiserver's admission adds both finalizers at creation.)

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::Error;

pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// The claims a pod mounts (`persistentVolumeClaim` and generic ephemeral volumes).
pub fn claims_of(pod: &Pod) -> Vec<ObjectRef<PersistentVolumeClaim>> {
    let Some(ns) = pod.metadata.namespace.as_deref() else {
        return Vec::new();
    };
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| match (&v.persistent_volume_claim, &v.ephemeral) {
            (Some(c), _) => Some(c.claim_name.clone()),
            (None, Some(_)) => Some(format!("{pod_name}-{}", v.name)),
            _ => None,
        })
        .map(|name| ObjectRef::new(&name).within(ns))
        .collect()
}

/// Whether a pod that has not finished uses the claim.
pub fn in_use<'a>(pods: impl IntoIterator<Item = &'a Pod>, claim: &PersistentVolumeClaim) -> bool {
    let me = ObjectRef::from_obj(claim);
    pods.into_iter().any(|p| {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        !matches!(phase, Some("Succeeded") | Some("Failed")) && claims_of(p).contains(&me)
    })
}

fn held(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_some() && meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// Whether the volume's protection may go: it is being deleted and no longer Bound.
pub fn volume_releasable(pv: &PersistentVolume) -> bool {
    let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
    held(&pv.metadata, PV_PROTECTION) && phase != Some("Bound")
}

struct Ctx {
    client: Client,
    pods: Store<Pod>,
}

pub async fn run(
    client: Client,
    storage: &super::Informers,
    informers: &crate::informers::Informers,
) {
    let ctx = Arc::new(Ctx {
        client,
        pods: informers.pods.store(),
    });
    let claims = Controller::for_shared_stream(storage.claims.subscribe(), storage.claims.store())
        .watches_shared_stream(
            informers
                .pods
                .subscribe_where(|pod| !claims_of(pod).is_empty()),
            |pod| claims_of(&pod),
        )
        .run(reconcile_claim, error_policy, ctx.clone())
        .for_each(|_| async {});
    let volumes =
        Controller::for_shared_stream(storage.volumes.subscribe(), storage.volumes.store())
            .run(reconcile_volume, error_policy, ctx)
            .for_each(|_| async {});
    tokio::join!(claims, volumes);
}

fn error_policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::debug!(kind = %K::kind(&()), name = %obj.name_any(), error = %err, "protection sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile_claim(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<Ctx>,
) -> Result<Action, Error> {
    if !held(&claim.metadata, PVC_PROTECTION) {
        return Ok(Action::await_change());
    }
    if in_use(ctx.pods.state().iter().map(|p| &**p), &claim) {
        return Ok(Action::await_change());
    }
    // The cache may not have a pod created a moment ago: ask the API before letting go.
    let ns = claim.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    if in_use(&pods.list(&ListParams::default()).await?.items, &claim) {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    remove_finalizer(&api, &claim.metadata, PVC_PROTECTION).await?;
    Ok(Action::await_change())
}

async fn reconcile_volume(pv: Arc<PersistentVolume>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if volume_releasable(&pv) {
        let api: Api<PersistentVolume> = Api::all(ctx.client.clone());
        remove_finalizer(&api, &pv.metadata, PV_PROTECTION).await?;
    }
    Ok(Action::await_change())
}

/// Removes one finalizer, guarded by the resourceVersion seen.
async fn remove_finalizer<K>(api: &Api<K>, meta: &ObjectMeta, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    let keep: Vec<&String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != finalizer)
        .collect();
    let patch = json!({"metadata": {"resourceVersion": meta.resource_version, "finalizers": keep}});
    match api
        .patch(
            meta.name.as_deref().unwrap_or(""),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn pod(ns: &str, phase: &str, volumes: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"containers": [], "volumes": volumes},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn claims_in_use() {
        let claim: PersistentVolumeClaim =
            serde_json::from_value(json!({"metadata": {"name": "data", "namespace": "ns"}}))
                .unwrap();
        let mounts = json!([{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]);
        let ephemeral: PersistentVolumeClaim =
            serde_json::from_value(json!({"metadata": {"name": "web-scratch", "namespace": "ns"}}))
                .unwrap();
        let eph = json!([{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]);
        let cases = [
            (pod("ns", "Running", mounts.clone()), &claim, true),
            (pod("ns", "Pending", mounts.clone()), &claim, true),
            (pod("ns", "Succeeded", mounts.clone()), &claim, false),
            (pod("ns", "Failed", mounts.clone()), &claim, false),
            (pod("other", "Running", mounts), &claim, false),
            (pod("ns", "Running", json!([])), &claim, false),
            (pod("ns", "Running", eph), &ephemeral, true),
        ];
        for (i, (p, c, want)) in cases.into_iter().enumerate() {
            assert_eq!(in_use([&p], c), want, "case {i}");
        }
    }

    #[test]
    fn volumes_releasable() {
        let pv = |phase: &str, deleting: bool, finalizers: Value| -> PersistentVolume {
            serde_json::from_value(json!({
                "metadata": {"name": "pv", "finalizers": finalizers,
                    "deletionTimestamp": if deleting { json!("2024-01-01T00:00:00Z") } else { Value::Null }},
                "status": {"phase": phase},
            }))
            .unwrap()
        };
        let cases = [
            (pv("Bound", true, json!([PV_PROTECTION])), false),
            (pv("Released", true, json!([PV_PROTECTION])), true),
            (pv("Available", true, json!([PV_PROTECTION, "x"])), true),
            (pv("Released", false, json!([PV_PROTECTION])), false),
            (pv("Released", true, json!(["x"])), false),
        ];
        for (i, (v, want)) in cases.into_iter().enumerate() {
            assert_eq!(volume_releasable(&v), want, "case {i}");
        }
    }
}
