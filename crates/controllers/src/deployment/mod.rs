//! The Deployment controller (upstream `pkg/controller/deployment`): rolls a Deployment's
//! pod template out through ReplicaSets named `<deployment>-<pod-template-hash>`, one per
//! template, scaling the new one up and the old ones down (RollingUpdate within
//! maxSurge/maxUnavailable, or Recreate), numbering them by revision, pruning old ones
//! past `revisionHistoryLimit`, and reporting counts and the Available and Progressing
//! conditions.
//!
//! The pure decisions live in the small modules; this file does the IO. Every sync reads
//! the Deployment and its namespace's ReplicaSets afresh from the API (consistent lists,
//! so no expectations bookkeeping), acts, and writes the status once at the end.

mod conditions;
mod hash;
mod newrs;
mod recreate;
mod revision;
mod rolling;
mod rsinfo;
mod scale;
mod status;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::{selector, Error};
use newrs::Claim;
use rolling::ScaleTo;
use rsinfo::{desired, replicas};

const COMPONENT: &str = "deployment-controller";

struct Ctx {
    client: Client,
}

/// Runs the Deployment controller until the process ends.
pub async fn run(client: Client) {
    let deployments: Api<Deployment> = Api::all(client.clone());
    let sets: Api<ReplicaSet> = Api::all(client.clone());
    let controller = Controller::new(deployments, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(sets, watcher::Config::default(), move |rs| {
            interested(&store, &rs)
        })
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| async {})
        .await;
}

/// The Deployments a ReplicaSet event concerns: its controller, or for an orphan every
/// Deployment in its namespace that would adopt it.
fn interested(store: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let Some(ns) = rs.namespace() else {
        return Vec::new();
    };
    let owner = rs
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(owner) = owner {
        if owner.kind == "Deployment" && owner.api_version.starts_with("apps/") {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    store
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(ns.as_str()))
        .filter(|d| {
            let s = &d.spec.selector;
            !selector::is_empty(s) && selector::matches(s, &labels)
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(d: Arc<Deployment>, err: &Error, _: Arc<Ctx>) -> Action {
    // A conflict only means someone (often the ReplicaSet controller) wrote first.
    if let Error::Kube(kube::Error::Api(e)) = err {
        if e.code == 409 {
            return Action::requeue(Duration::from_millis(300));
        }
    }
    tracing::warn!(deployment = %d.name_any(), error = %err, "deployment sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(cached: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(d) = deployments.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let mut sync = Round {
        status: d.status.clone().unwrap_or_default(),
        d,
        rss: Vec::new(),
        deployments,
        sets: Api::namespaced(ctx.client.clone(), &ns),
        pods: Api::namespaced(ctx.client.clone(), &ns),
        events: Api::namespaced(ctx.client.clone(), &ns),
        revision: None,
        now: conditions::now_seconds(),
    };
    sync.claim().await?;

    if sync.d.metadata.deletion_timestamp.is_some() {
        sync.status_only();
        return sync.write().await.map(|_| Action::await_change());
    }

    let paused = sync.d.spec.paused == Some(true);
    conditions::paused_conditions(&sync.d, &mut sync.status, sync.now);
    let scaling = {
        let all: Vec<&ReplicaSet> = sync.rss.iter().collect();
        scale::is_scaling_event(&sync.d, &all)
    };
    if paused || scaling {
        sync.scale_only().await?;
        return Ok(Action::await_change());
    }
    let requeue = if rolling::is_recreate(&sync.d) {
        sync.recreate().await?
    } else {
        sync.rolling().await?
    };
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// One sync's state: the Deployment as read, its claimed ReplicaSets as they stand after
/// this sync's writes, and the status being built.
struct Round {
    d: Deployment,
    status: DeploymentStatus,
    rss: Vec<ReplicaSet>,
    deployments: Api<Deployment>,
    sets: Api<ReplicaSet>,
    pods: Api<Pod>,
    events: Api<Event>,
    /// A revision annotation the Deployment must get.
    revision: Option<String>,
    now: Timestamp,
}

impl Round {
    async fn claim(&mut self) -> Result<(), Error> {
        for rs in self.sets.list(&ListParams::default()).await?.items {
            match newrs::claim(&self.d, &rs) {
                Claim::Keep => self.rss.push(rs),
                Claim::Adopt => {
                    let patch = json!({"metadata": {
                        "ownerReferences": [newrs::controller_ref(&self.d)],
                        "uid": rs.metadata.uid,
                    }});
                    if let Some(adopted) = self.patch_rs(&rs, patch).await? {
                        self.rss.push(adopted);
                    }
                }
                Claim::Release => {
                    let patch = json!({"metadata": {
                        "ownerReferences": [{"$patch": "delete", "uid": self.d.metadata.uid}],
                        "uid": rs.metadata.uid,
                    }});
                    self.patch_rs(&rs, patch).await?;
                }
                Claim::Ignore => {}
            }
        }
        Ok(())
    }

    /// A strategic patch with the RS's uid as precondition; `None` if it went away or
    /// was replaced meanwhile.
    async fn patch_rs(
        &self,
        rs: &ReplicaSet,
        patch: serde_json::Value,
    ) -> Result<Option<ReplicaSet>, Error> {
        match self
            .sets
            .patch(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await
        {
            Ok(rs) => Ok(Some(rs)),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 || e.code == 409 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.rss.iter().position(|rs| rsinfo::name(rs) == name)
    }

    /// The new ReplicaSet's index and the old ones' indices.
    fn split(&self) -> (Option<usize>, Vec<usize>) {
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let new = revision::find_new(&self.d, &all).and_then(|rs| self.index(rsinfo::name(rs)));
        let old = (0..self.rss.len()).filter(|i| Some(*i) != new).collect();
        (new, old)
    }

    fn refs(&self, idx: &[usize]) -> Vec<&ReplicaSet> {
        idx.iter().map(|i| &self.rss[*i]).collect()
    }

    /// Finds the new ReplicaSet, bringing its revision and annotations up to date, or
    /// creates it when `create` (upstream `getNewReplicaSet`).
    async fn new_rs(&mut self, create: bool) -> Result<Option<usize>, Error> {
        let (new, old) = self.split();
        let next_revision = revision::max_revision(&self.refs(&old)) + 1;
        let max_replicas = desired(&self.d) + rolling::max_surge(&self.d);
        if let Some(i) = new {
            let mut rs = self.rss[i].clone();
            let mut ann = rs.metadata.annotations.clone().unwrap_or_default();
            let changed = revision::set_new_rs_annotations(
                &self.d,
                &mut ann,
                next_revision,
                true,
                max_replicas,
            );
            if changed || rs.spec.min_ready_seconds != self.d.spec.min_ready_seconds {
                rs.metadata.annotations = Some(ann);
                rs.spec.min_ready_seconds = self.d.spec.min_ready_seconds;
                self.rss[i] = self
                    .sets
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await?;
            }
            if let Some(rev) = rsinfo::annotation(&self.rss[i], rsinfo::REVISION) {
                self.set_revision(rev.to_string());
            }
            if conditions::has_progress_deadline(&self.d)
                && conditions::get(&self.status, conditions::PROGRESSING).is_none()
            {
                let msg = format!("Found new replica set \"{}\"", self.rss[i].name_any());
                let cond = conditions::new(
                    conditions::PROGRESSING,
                    "True",
                    conditions::FOUND_NEW_RS,
                    msg,
                    self.now,
                );
                conditions::set(&mut self.status, cond);
            }
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }

        let mut rs = newrs::build(&self.d);
        let mut ann = BTreeMap::new();
        revision::set_new_rs_annotations(&self.d, &mut ann, next_revision, false, max_replicas);
        rs.metadata.annotations = Some(ann);
        let count = {
            let mut all = self.refs(&old);
            all.push(&rs);
            rolling::new_rs_new_replicas(&self.d, &all, &rs)
        };
        rs.spec.replicas = Some(count);
        let name = rs.name_any();
        let created = match self.sets.create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(kube::Error::Api(e)) if e.code == 409 => return self.collision(&name).await,
            Err(e) => return Err(e.into()),
        };
        tracing::info!(deployment = %self.d.name_any(), replicaset = %name, "created new replica set");
        self.rss.push(created);
        if count > 0 {
            self.event(format!("Scaled up replica set {name} from 0 to {count}"))
                .await;
        }
        self.set_revision(next_revision.to_string());
        if conditions::has_progress_deadline(&self.d) {
            let cond = conditions::new(
                conditions::PROGRESSING,
                "True",
                conditions::NEW_RS_CREATED,
                format!("Created new replica set \"{name}\""),
                self.now,
            );
            conditions::set(&mut self.status, cond);
        }
        Ok(Some(self.rss.len() - 1))
    }

    /// A ReplicaSet of the new name exists with another template: count the collision so
    /// the next hash differs; no new ReplicaSet this time.
    async fn collision(&mut self, name: &str) -> Result<Option<usize>, Error> {
        if let Some(existing) = self.sets.get_opt(name).await? {
            let ours = newrs::claim(&self.d, &existing) == Claim::Keep;
            let same = existing
                .spec
                .template
                .as_ref()
                .is_some_and(|t| revision::equal_ignore_hash(t, &self.d.spec.template));
            if ours && same {
                self.rss.push(existing);
                return Ok(Some(self.rss.len() - 1));
            }
        }
        let count = self.status.collision_count.unwrap_or(0);
        self.status.collision_count = Some(count.saturating_add(1));
        tracing::info!(deployment = %self.d.name_any(), replicaset = %name, "hash collision");
        self.write().await?;
        // The status write wakes this Deployment again, to retry under the new hash.
        Ok(None)
    }

    fn set_revision(&mut self, rev: String) {
        let current = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(rsinfo::REVISION));
        if current != Some(&rev) {
            self.revision = Some(rev);
        }
    }

    /// Sets the ReplicaSets' sizes (and their replica annotations); returns whether any
    /// size changed.
    async fn apply(&mut self, ops: Vec<ScaleTo>) -> Result<bool, Error> {
        let mut scaled = false;
        for op in ops {
            let Some(i) = self.index(&op.name) else {
                continue;
            };
            let mut rs = self.rss[i].clone();
            let from = replicas(&rs);
            let mut ann = rs.metadata.annotations.clone().unwrap_or_default();
            let ann_changed = revision::set_replicas_annotations(
                &mut ann,
                desired(&self.d),
                desired(&self.d) + rolling::max_surge(&self.d),
            );
            if from == op.replicas && !ann_changed {
                continue;
            }
            rs.spec.replicas = Some(op.replicas);
            rs.metadata.annotations = Some(ann);
            self.rss[i] = self
                .sets
                .replace(&op.name, &PostParams::default(), &rs)
                .await?;
            if from != op.replicas {
                scaled = true;
                let way = if op.replicas > from { "up" } else { "down" };
                self.event(format!(
                    "Scaled {way} replica set {} from {from} to {}",
                    op.name, op.replicas
                ))
                .await;
            }
        }
        Ok(scaled)
    }

    /// Deletes old ReplicaSets beyond the revision history limit.
    async fn clean_up(&mut self, old: &[usize]) -> Result<(), Error> {
        let victims: Vec<String> = revision::to_clean_up(&self.d, &self.refs(old))
            .into_iter()
            .map(|rs| rs.name_any())
            .collect();
        for name in victims {
            match self.sets.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(deployment = %self.d.name_any(), replicaset = %name, "deleted old replica set")
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            self.rss.retain(|rs| rsinfo::name(rs) != name);
        }
        Ok(())
    }

    /// Scaling without rolling out (paused, or resized): upstream `sync`.
    async fn scale_only(&mut self) -> Result<(), Error> {
        let new = self.new_rs(false).await?;
        let (_, old) = self.split();
        let ops = {
            let new_ref = new.map(|i| &self.rss[i]);
            scale::plan(&self.d, new_ref, &self.refs(&old))
        };
        self.apply(ops).await?;
        if self.d.spec.paused == Some(true) {
            self.clean_up(&old).await?;
        }
        self.status_only();
        self.write().await
    }

    async fn rolling(&mut self) -> Result<Option<Duration>, Error> {
        let Some(new) = self.new_rs(true).await? else {
            return Ok(None);
        };
        let (_, old) = self.split();
        let ops = rolling::step(&self.d, &self.rss[new], &self.refs(&old));
        let scaled = self.apply(ops).await?;
        if !scaled && conditions::complete(&self.d, &self.status) {
            self.clean_up(&old).await?;
        }
        self.rollout_status().await
    }

    async fn recreate(&mut self) -> Result<Option<Duration>, Error> {
        let new = self.new_rs(false).await?;
        let (_, old) = self.split();
        let pods = self.pods.list(&ListParams::default()).await?.items;
        match recreate::step(&self.refs(&old), &pods) {
            recreate::Step::ScaleDownOld(ops) => {
                self.apply(ops).await?;
                self.rollout_status().await
            }
            recreate::Step::WaitForOldPods => {
                self.rollout_status().await?;
                // Pods are not watched: look again shortly for them to be gone.
                Ok(Some(Duration::from_secs(1)))
            }
            recreate::Step::ScaleUpNew => {
                let new = match new {
                    Some(i) => Some(i),
                    None => self.new_rs(true).await?,
                };
                if let Some(i) = new {
                    let op = ScaleTo {
                        name: self.rss[i].name_any(),
                        replicas: desired(&self.d),
                    };
                    self.apply(vec![op]).await?;
                }
                if conditions::complete(&self.d, &self.status) {
                    let (_, old) = self.split();
                    self.clean_up(&old).await?;
                }
                self.rollout_status().await
            }
        }
    }

    /// The counts and Available condition, without judging progress.
    fn status_only(&mut self) {
        let (new, _) = self.split();
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let new_ref = new.map(|i| &self.rss[i]);
        self.status = status::calculate(&self.d, &self.status, &all, new_ref, self.now);
    }

    /// The status after a rollout step, Progressing included; returns when to look
    /// again for the progress deadline.
    async fn rollout_status(&mut self) -> Result<Option<Duration>, Error> {
        let before = self.status.clone();
        self.status_only();
        let (new, _) = self.split();
        let new_name = new.map(|i| self.rss[i].name_any());
        conditions::update_progressing(
            &self.d,
            &before,
            &mut self.status,
            new_name.as_deref(),
            self.now,
        );
        {
            let all: Vec<&ReplicaSet> = self.rss.iter().collect();
            let new_ref = new.map(|i| &self.rss[i]);
            conditions::update_replica_failure(&mut self.status, &all, new_ref);
        }
        self.write().await?;
        Ok(conditions::requeue_after(&self.d, &self.status, self.now))
    }

    /// Writes the revision annotation and the status, where they changed.
    async fn write(&mut self) -> Result<(), Error> {
        let name = self.d.name_any();
        if let Some(rev) = self.revision.take() {
            let patch = json!({"metadata": {"annotations": {rsinfo::REVISION: rev}}});
            self.d = self
                .deployments
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
        }
        if self.d.status.as_ref() != Some(&self.status) {
            let mut updated = self.d.clone();
            updated.status = Some(self.status.clone());
            self.d = self
                .deployments
                .replace_status(&name, &PostParams::default(), &updated)
                .await?;
        }
        Ok(())
    }

    /// Records a ScalingReplicaSet event on the Deployment; losing one is not worth
    /// failing the sync for.
    async fn event(&self, message: String) {
        let now = self.now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let ns = self.d.namespace().unwrap_or_default();
        let unique = Timestamp::now().as_nanosecond();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{}.{unique:x}", self.d.name_any()), "namespace": ns},
            "involvedObject": {
                "apiVersion": "apps/v1", "kind": "Deployment", "name": self.d.name_any(),
                "namespace": ns, "uid": self.d.uid(), "resourceVersion": self.d.resource_version(),
            },
            "reason": "ScalingReplicaSet", "message": message, "type": "Normal",
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let created = match serde_json::from_value::<Event>(event) {
            Ok(e) => self
                .events
                .create(&PostParams::default(), &e)
                .await
                .map(|_| ()),
            Err(e) => Err(kube::Error::SerdeError(e)),
        };
        if let Err(e) = created {
            tracing::warn!(deployment = %self.d.name_any(), error = %e, "event not recorded");
        }
    }
}
