//! The built-in local-path provisioner (`rancher.io/local-path`, as k3s's): a volume is a
//! directory on the node the claim's first consumer was scheduled to.
//!
//! It works as an external provisioner beside the PersistentVolume controller: a claim the
//! controller handed to it (`volume.kubernetes.io/storage-provisioner`) with a selected
//! node gets a `hostPath` volume `pvc-<claim uid>` pinned to that node and promised to the
//! claim; the controller then binds them. The directory itself is made on the node, by
//! the node agent's `DirectoryOrCreate` mount. When the claim goes and the volume is
//! Released with reclaim Delete, this deletes the volume object; its finalizer keeps it
//! until the node agent (`agent::local_path`) has removed the directory, or until this
//! sees that the node itself is gone, leaving nobody to clean up.

pub mod volume;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::persistentvolume::{matching, Informers, Said, Sayer};
use crate::Error;
use volume::{ClaimDecision, VolumeDecision};
pub use volume::{FINALIZER, PROVISIONER};

/// Where volumes' directories go on nodes unless `--local-storage-path` says otherwise.
pub const DEFAULT_STORAGE_PATH: &str = "/var/lib/skiff/storage";
/// Events come from the provisioner, named as k3s's is (`<provisioner>_<instance>`).
const COMPONENT: &str = "rancher.io/local-path_skiff";

struct Ctx {
    client: Client,
    root: String,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
    sayer: Sayer,
}

pub async fn run(client: Client, informers: &Informers, root: String) {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        root,
        volumes: informers.volumes.store(),
        classes: informers.classes.store(),
        sayer: Sayer::new(client, COMPONENT),
    });
    let claims =
        Controller::for_shared_stream(informers.claims.subscribe(), informers.claims.store())
            .run(reconcile_claim, error_policy, ctx.clone())
            .for_each(|_| async {});
    let volumes =
        Controller::for_shared_stream(informers.volumes.subscribe(), informers.volumes.store())
            .run(reconcile_volume, error_policy, ctx)
            .for_each(|_| async {});
    tokio::join!(claims, volumes);
}

fn error_policy<K: kube::Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    _: Arc<Ctx>,
) -> Action {
    tracing::debug!(kind = %K::kind(&()), name = %obj.name_any(), error = %err, "local-path sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile_claim(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<Ctx>,
) -> Result<Action, Error> {
    let class_name = matching::claim_class(&claim);
    let class = ctx.classes.get(&ObjectRef::new(class_name));
    let node = match volume::decide_claim(&claim, class.as_deref()) {
        ClaimDecision::Skip => return Ok(Action::await_change()),
        ClaimDecision::Fail(why) => {
            ctx.sayer
                .say(&*claim, &Said::warning("ProvisioningFailed", &why))
                .await;
            return Ok(Action::await_change());
        }
        ClaimDecision::Provision { node } => node,
    };
    let Some(class) = class else {
        return Ok(Action::await_change());
    };
    let name = volume::volume_name(&claim);
    if ctx.volumes.get(&ObjectRef::new(&name)).is_some() {
        return Ok(Action::await_change());
    }
    let key = format!(
        "{}/{}",
        claim.namespace().unwrap_or_default(),
        claim.name_any()
    );
    ctx.sayer
        .say(
            &*claim,
            &Said::normal(
                "Provisioning",
                &format!("External provisioner is provisioning volume for claim \"{key}\""),
            ),
        )
        .await;
    let pv = match volume::build(&claim, &class, &node, &ctx.root) {
        Ok(pv) => pv,
        Err(e) => {
            let why = format!("failed to provision volume with StorageClass \"{class_name}\": {e}");
            ctx.sayer
                .say(&*claim, &Said::warning("ProvisioningFailed", &why))
                .await;
            return Ok(Action::await_change());
        }
    };
    match Api::<PersistentVolume>::all(ctx.client.clone())
        .create(&PostParams::default(), &pv)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => return Ok(Action::await_change()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(claim = %key, volume = %name, %node, "provisioned local-path volume");
    ctx.sayer
        .say(
            &*claim,
            &Said::normal(
                "ProvisioningSucceeded",
                &format!("Successfully provisioned volume {name}"),
            ),
        )
        .await;
    ctx.sayer.forget(&*claim);
    Ok(Action::await_change())
}

async fn reconcile_volume(pv: Arc<PersistentVolume>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let api: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let name = pv.name_any();
    match volume::decide_volume(&pv) {
        VolumeDecision::Nothing => Ok(Action::await_change()),
        VolumeDecision::Delete => {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pv.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => tracing::info!(volume = %name, "deleting released local-path volume"),
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Action::await_change())
        }
        VolumeDecision::Release => {
            drop_finalizer(&api, &pv).await?;
            Ok(Action::await_change())
        }
        VolumeDecision::AwaitNode(node) => {
            let nodes: Api<Node> = Api::all(ctx.client.clone());
            if nodes.get_opt(&node).await?.is_some() {
                // The node's agent removes the directory, then the finalizer. Its node
                // might vanish meanwhile: look again now and then.
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
            tracing::info!(volume = %name, %node, "node of local-path volume is gone; nothing left to clean up");
            drop_finalizer(&api, &pv).await?;
            Ok(Action::await_change())
        }
    }
}

/// Removes our finalizer, guarded by the resourceVersion seen, so another party's
/// concurrent finalizer change is never overwritten (a conflict retries).
pub async fn drop_finalizer(
    api: &Api<PersistentVolume>,
    pv: &PersistentVolume,
) -> Result<(), Error> {
    let have: Vec<String> = pv.metadata.finalizers.clone().unwrap_or_default();
    let keep: Vec<&String> = have.iter().filter(|f| *f != FINALIZER).collect();
    if keep.len() == have.len() {
        return Ok(());
    }
    let patch = json!({"metadata": {
        "resourceVersion": pv.metadata.resource_version, "finalizers": keep,
    }});
    match api
        .patch(
            &pv.name_any(),
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
