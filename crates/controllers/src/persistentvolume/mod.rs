//! The PersistentVolume controller (upstream `pkg/controller/volume/persistentvolume`):
//! binds claims to volumes and keeps both sides' phases right.
//!
//! Two loops over shared caches of volumes, claims and StorageClasses, as upstream's
//! claim and volume workers. A claim gets a volume already promised to it, else the
//! smallest available fit (`matching.rs`); a claim of a `WaitForFirstConsumer` class
//! waits until the scheduler promised it a volume (`spec.claimRef`) or picked a node
//! (`volume.kubernetes.io/selected-node`); a claim no volume fits is handed to its class's
//! provisioner through `volume.kubernetes.io/storage-provisioner`, as upstream does for
//! every external provisioner (ours is `local_path`). A volume whose claim is gone is
//! Released and reclaimed: Retain keeps it, Delete is the provisioner's work (our
//! provisioner deletes the object, the node agent its directory), and a Delete or Recycle
//! nothing here can carry out leaves it Failed. Decisions are pure (`claim_sync.rs`,
//! `volume_sync.rs`); this file does the API calls.

mod claim_sync;
pub mod matching;
pub mod protection;
mod volume_sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::{json, Value};

use crate::events::Recorder;
use crate::informers::Informer;
use crate::Error;
use claim_sync::ClaimStep;
use volume_sync::{Reclaim, VolumeStep};

/// On a claim: its binding finished once (from then on it is bound or Lost).
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On either side: this controller (or the scheduler for it) made the link, not a user.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a claim: the node its first consumer was scheduled to (set by the scheduler).
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a claim: which provisioner is asked for its volume.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a volume: the provisioner that made it (and deletes it).
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

const COMPONENT: &str = "persistentvolume-controller";
/// Pending claims are looked at again this often (upstream's resync), so a class or
/// volume created meanwhile is noticed even without an event naming the claim.
const RESYNC: Duration = Duration::from_secs(15);

pub(crate) fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// An event to record about an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

impl Said {
    pub fn normal(reason: &str, message: &str) -> Said {
        Said {
            warning: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn warning(reason: &str, message: &str) -> Said {
        Said {
            warning: true,
            ..Said::normal(reason, message)
        }
    }
}

/// Records an event once per object until what there is to say changes: upstream's
/// recorder folds repeats into a count, ours would write a new Event every resync.
pub(crate) struct Sayer {
    recorder: Recorder,
    last: Mutex<HashMap<String, Said>>,
}

impl Sayer {
    pub fn new(client: Client, component: &'static str) -> Sayer {
        Sayer {
            recorder: Recorder { client, component },
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets what was said about an object whose story is over (bound, provisioned), so
    /// the memory does not grow with every claim ever made.
    pub fn forget<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        if let (Ok(mut last), Some(uid)) = (self.last.lock(), obj.meta().uid.as_deref()) {
            last.remove(uid);
        }
    }

    pub async fn say<K: Resource<DynamicType = ()>>(&self, obj: &K, said: &Said) {
        let key = obj.meta().uid.clone().unwrap_or_default();
        {
            let Ok(mut last) = self.last.lock() else {
                return;
            };
            if last.get(&key) == Some(said) {
                return;
            }
            last.insert(key, said.clone());
        }
        if said.warning {
            self.recorder
                .warning(obj, &said.reason, &said.message)
                .await;
        } else {
            self.recorder.normal(obj, &said.reason, &said.message).await;
        }
    }
}

/// The caches the volume controllers share: one watch each for volumes, claims, classes.
pub struct Informers {
    pub volumes: Arc<Informer<PersistentVolume>>,
    pub claims: Arc<Informer<PersistentVolumeClaim>>,
    pub classes: Arc<Informer<StorageClass>>,
}

impl Informers {
    pub fn start(client: &Client) -> Informers {
        Informers {
            volumes: Informer::start(Api::all(client.clone()), |v: &mut PersistentVolume| {
                v.metadata.managed_fields = None
            }),
            claims: Informer::start(Api::all(client.clone()), |c: &mut PersistentVolumeClaim| {
                c.metadata.managed_fields = None
            }),
            classes: Informer::start(Api::all(client.clone()), |c: &mut StorageClass| {
                c.metadata.managed_fields = None
            }),
        }
    }
}

/// The claims a volume names (a change to the volume may finish their binding).
pub(crate) fn claim_of(pv: &PersistentVolume) -> Option<ObjectRef<PersistentVolumeClaim>> {
    let r = pv.spec.as_ref()?.claim_ref.as_ref()?;
    Some(ObjectRef::new(r.name.as_deref()?).within(r.namespace.as_deref()?))
}

/// The volumes a claim concerns: the one it names and any that name it.
pub(crate) fn volumes_of(
    volumes: &Store<PersistentVolume>,
    claim: &PersistentVolumeClaim,
) -> Vec<ObjectRef<PersistentVolume>> {
    let mut out: Vec<ObjectRef<PersistentVolume>> = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .filter(|n| !n.is_empty())
        .map(ObjectRef::new)
        .into_iter()
        .collect();
    let me = ObjectRef::<PersistentVolumeClaim>::from_obj(claim);
    for pv in volumes.state() {
        if claim_of(&pv).is_some_and(|c| c == me) {
            out.push(ObjectRef::from_obj(&*pv));
        }
    }
    out
}

struct Ctx {
    client: Client,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
    claims: Store<PersistentVolumeClaim>,
    sayer: Sayer,
}

pub async fn run(client: Client, informers: &Informers) {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        volumes: informers.volumes.store(),
        classes: informers.classes.store(),
        claims: informers.claims.store(),
        sayer: Sayer::new(client, COMPONENT),
    });
    let claim_loop =
        Controller::for_shared_stream(informers.claims.subscribe(), informers.claims.store())
            .watches_shared_stream(informers.volumes.subscribe(), |pv| claim_of(&pv))
            .run(reconcile_claim, error_policy, ctx.clone())
            .for_each(|_| async {});
    let volume_store = informers.volumes.store();
    let volume_loop =
        Controller::for_shared_stream(informers.volumes.subscribe(), informers.volumes.store())
            .watches_shared_stream(informers.claims.subscribe(), move |claim| {
                volumes_of(&volume_store, &claim)
            })
            .run(reconcile_volume, error_policy, ctx)
            .for_each(|_| async {});
    tokio::join!(claim_loop, volume_loop);
}

fn error_policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::debug!(kind = %K::kind(&()), name = %obj.name_any(), error = %err, "volume sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn claims_api(client: &Client, claim: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
    Api::namespaced(
        client.clone(),
        claim.metadata.namespace.as_deref().unwrap_or(""),
    )
}

fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn volume_phase(pv: &PersistentVolume) -> &str {
    pv.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

async fn set_claim_phase(
    client: &Client,
    claim: &PersistentVolumeClaim,
    phase: &str,
) -> Result<(), Error> {
    if claim_phase(claim) != phase {
        claims_api(client, claim)
            .patch_status(
                &claim.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": phase}})),
            )
            .await?;
    }
    Ok(())
}

async fn set_volume_phase(
    client: &Client,
    pv: &PersistentVolume,
    phase: &str,
    message: Option<&str>,
) -> Result<(), Error> {
    let now_message = pv.status.as_ref().and_then(|s| s.message.as_deref());
    if volume_phase(pv) != phase || now_message != message {
        let mut status = json!({"phase": phase, "message": message});
        if volume_phase(pv) != phase {
            // Upstream records when the phase last changed (whole seconds).
            let now = jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            status["lastPhaseTransitionTime"] = json!(now);
        }
        Api::<PersistentVolume>::all(client.clone())
            .patch_status(
                &pv.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await?;
        tracing::info!(volume = %pv.name_any(), phase, "volume phase");
    }
    Ok(())
}

async fn reconcile_claim(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<Ctx>,
) -> Result<Action, Error> {
    let volumes = ctx.volumes.state();
    let class_name = matching::claim_class(&claim);
    let class = if class_name.is_empty() {
        None
    } else {
        ctx.classes.get(&ObjectRef::new(class_name))
    };
    match claim_sync::decide(&claim, &volumes, class.as_deref()) {
        ClaimStep::Pending(said) => {
            set_claim_phase(&ctx.client, &claim, "Pending").await?;
            if let Some(said) = said {
                ctx.sayer.say(&*claim, &said).await;
            }
            Ok(Action::requeue(RESYNC))
        }
        ClaimStep::Bind(name) => {
            let Some(pv) = volumes
                .iter()
                .find(|v| v.metadata.name.as_deref() == Some(&name))
            else {
                return Ok(Action::requeue(RESYNC));
            };
            bind(&ctx.client, &claim, pv).await?;
            ctx.sayer.forget(&*claim);
            Ok(Action::await_change())
        }
        ClaimStep::Provision(provisioner) => {
            if annotation(&claim.metadata, ANN_STORAGE_PROVISIONER) != Some(&provisioner) {
                claims_api(&ctx.client, &claim)
                    .patch(
                        &claim.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"annotations": {
                            ANN_STORAGE_PROVISIONER: provisioner,
                            ANN_BETA_STORAGE_PROVISIONER: provisioner,
                        }}})),
                    )
                    .await?;
            }
            set_claim_phase(&ctx.client, &claim, "Pending").await?;
            let said = Said::normal(
                "ExternalProvisioning",
                &format!("Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."),
            );
            ctx.sayer.say(&*claim, &said).await;
            Ok(Action::requeue(RESYNC))
        }
        ClaimStep::Lost(said) => {
            if claim_phase(&claim) != "Lost" {
                set_claim_phase(&ctx.client, &claim, "Lost").await?;
                ctx.sayer.say(&*claim, &said).await;
            }
            Ok(Action::await_change())
        }
    }
}

/// Links claim and volume both ways, in upstream's order: the volume's `claimRef` and
/// phase first, then the claim's `volumeName`, then its status. Each step is skipped when
/// already done, so a binding cut short by a crash or a conflict is finished next time.
async fn bind(
    client: &Client,
    claim: &PersistentVolumeClaim,
    pv: &PersistentVolume,
) -> Result<(), Error> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims = claims_api(client, claim);
    let pv_name = pv.name_any();
    let ref_uid = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .and_then(|r| r.uid.as_deref());
    if ref_uid.is_none() || ref_uid != claim.metadata.uid.as_deref() {
        let mut annotations = json!({});
        if !matching::is_bound_to_claim(pv, claim) {
            annotations[ANN_BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch = json!({
            "metadata": {"resourceVersion": pv.metadata.resource_version, "annotations": annotations},
            "spec": {"claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": claim.metadata.namespace, "name": claim.metadata.name,
                "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version,
            }},
        });
        volumes
            .patch(&pv_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if volume_phase(pv) != "Bound" {
        set_volume_phase(client, pv, "Bound", None).await?;
    }
    let claim_volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    if claim_volume != pv_name || annotation(&claim.metadata, ANN_BIND_COMPLETED).is_none() {
        let mut annotations = json!({ANN_BIND_COMPLETED: "yes"});
        if claim_volume.is_empty() {
            annotations[ANN_BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch = json!({
            "metadata": {"resourceVersion": claim.metadata.resource_version, "annotations": annotations},
            "spec": {"volumeName": pv_name},
        });
        claims
            .patch(
                &claim.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    let spec = pv.spec.as_ref();
    let want = json!({
        "phase": "Bound",
        "capacity": spec.and_then(|s| s.capacity.clone()),
        "accessModes": spec.and_then(|s| s.access_modes.clone()),
    });
    let have = claim
        .status
        .as_ref()
        .map(|s| json!({"phase": s.phase, "capacity": s.capacity, "accessModes": s.access_modes}))
        .unwrap_or(Value::Null);
    if have != want {
        claims
            .patch_status(
                &claim.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": want})),
            )
            .await?;
        tracing::info!(claim = %claim.name_any(), volume = %pv_name, "claim bound");
    }
    Ok(())
}

async fn reconcile_volume(pv: Arc<PersistentVolume>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let claim = claim_of(&pv).and_then(|r| ctx.claims.get(&r));
    match volume_sync::decide(&pv, claim.as_deref()) {
        VolumeStep::Phase(phase) => set_volume_phase(&ctx.client, &pv, phase, None).await?,
        VolumeStep::Wait => {}
        VolumeStep::Release => return release(&ctx, &pv).await,
        VolumeStep::Unbind => {
            let patch = json!({
                "metadata": {"resourceVersion": pv.metadata.resource_version,
                             "annotations": {ANN_BOUND_BY_CONTROLLER: null}},
                "spec": {"claimRef": null},
            });
            Api::<PersistentVolume>::all(ctx.client.clone())
                .patch(
                    &pv.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            set_volume_phase(&ctx.client, &pv, "Available", None).await?;
        }
    }
    Ok(Action::await_change())
}

/// The claim is gone (the cache says so; the API confirms, since a claim just created may
/// not be cached yet): Released, then what the reclaim policy says.
async fn release(ctx: &Ctx, pv: &PersistentVolume) -> Result<Action, Error> {
    if let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(ctx.client.clone(), r.namespace.as_deref().unwrap_or(""));
        if let Some(c) = api.get_opt(r.name.as_deref().unwrap_or("")).await? {
            let same = c.metadata.uid.is_some() && c.metadata.uid == r.uid;
            let elsewhere = c
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.as_deref())
                .is_some_and(|v| !v.is_empty() && Some(v) != pv.metadata.name.as_deref());
            if same && !elsewhere {
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
        }
    }
    let phase = volume_phase(pv);
    if phase != "Released" && phase != "Failed" {
        set_volume_phase(&ctx.client, pv, "Released", None).await?;
    }
    match volume_sync::reclaim(pv) {
        Reclaim::Keep | Reclaim::Provisioner => {}
        Reclaim::Fail(said) => {
            if phase != "Failed" {
                set_volume_phase(&ctx.client, pv, "Failed", Some(&said.message)).await?;
                ctx.sayer.say(pv, &said).await;
            }
        }
    }
    Ok(Action::await_change())
}
