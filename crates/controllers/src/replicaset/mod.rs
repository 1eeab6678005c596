//! The ReplicaSet controller (upstream `pkg/controller/replicaset`): keeps
//! `spec.replicas` active pods matching the selector, adopting matching orphans and
//! releasing owned pods that stopped matching, and reports the counts in the status.
//!
//! Pods come from the shared pod informer's cache; `expectations` remembers the creates
//! and deletes the cache has not shown yet, so a lagging cache never causes the same pods
//! to be created twice.

mod expectations;
mod plan;
mod ranking;
mod replicationcontroller;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::informers::Informers;
use crate::{podinfo, selector, Error};
use expectations::{Expectations, Seen};
use plan::{Claim, Diff};

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    expectations: Expectations,
}

/// Runs the ReplicaSet and ReplicationController controllers.
pub async fn run(client: Client, informers: &Informers) {
    tokio::join!(
        run_replicasets(client.clone(), informers),
        replicationcontroller::run(client, informers)
    );
}

async fn run_replicasets(client: Client, informers: &Informers) {
    let sets: Api<ReplicaSet> = Api::all(client.clone());
    let controller = Controller::new(sets, watcher::Config::default());
    let store = controller.store();
    let ctx = Arc::new(Ctx {
        client,
        pods: informers.pods.store(),
        expectations: Expectations::default(),
    });
    controller
        .reconcile_on(
            informers
                .pods
                .triggers(move |pod, _| interested(&store, pod)),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

/// The ReplicaSets a pod event concerns: its controller if that is a ReplicaSet, or, for
/// an orphan, every ReplicaSet in its namespace whose selector matches it (to adopt it).
fn interested(store: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    let Some(ns) = pod.namespace() else {
        return Vec::new();
    };
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(owner) = controller {
        if owner.kind == "ReplicaSet" && owner.api_version.starts_with("apps/") {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    // Every pod event of the cluster comes through here: no copy of its labels.
    let no_labels = std::collections::BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&no_labels);
    store
        .state()
        .iter()
        .filter(|rs| rs.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rs| {
            let s = &rs.spec.selector;
            !selector::is_empty(s) && selector::matches(s, labels)
        })
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

fn error_policy(rs: Arc<ReplicaSet>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(replicaset = %rs.name_any(), error = %err, "replicaset sync failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(cached: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    // A fresh copy: adoption must not act for a ReplicaSet deleted meanwhile (upstream's
    // uncached `canAdopt` check), and the status write needs the current resourceVersion.
    let key = format!("{ns}/{}", cached.name_any());
    let Some(rs) = sets.get_opt(&cached.name_any()).await? else {
        ctx.expectations.forget(&key);
        return Ok(Action::await_change());
    };
    let cache = PodCache {
        store: &ctx.pods,
        expectations: &ctx.expectations,
        key: &key,
    };
    let synced = sync(&rs, plan::REPLICA_SET, &pods, &cache).await?;
    if let Some(status) = synced.status {
        let mut updated = rs.clone();
        updated.status = Some(status);
        sets.replace_status(&rs.name_any(), &PostParams::default(), &updated)
            .await?;
    }
    Ok(synced.action)
}

/// The outcome of one sync: the status to write, if it changed, and when to look again.
pub(super) struct Synced {
    pub status: Option<ReplicaSetStatus>,
    pub action: Action,
}

/// The shared pod cache as one owner sees it, with that owner's expectations.
pub(super) struct PodCache<'a> {
    pub store: &'a Store<Pod>,
    pub expectations: &'a Expectations,
    /// `namespace/name` of the owner.
    pub key: &'a str,
}

impl PodCache<'_> {
    fn in_namespace(&self, ns: &str) -> Vec<Arc<Pod>> {
        self.store
            .state()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
            .collect()
    }

    fn caught_up(&self, ns: &str) -> bool {
        self.expectations.satisfied(self.key, |name| {
            match self.store.get(&ObjectRef::new(name).within(ns)) {
                None => Seen::Absent,
                Some(p) => Seen::Present {
                    uid: p.metadata.uid.clone().unwrap_or_default(),
                    deleting: p.metadata.deletion_timestamp.is_some(),
                },
            }
        })
    }
}

/// Claims pods, creates or deletes the difference, and computes the status, for a
/// ReplicaSet or a ReplicationController seen as one.
pub(super) async fn sync(
    rs: &ReplicaSet,
    owner: plan::Owner,
    pods: &Api<Pod>,
    cache: &PodCache<'_>,
) -> Result<Synced, Error> {
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let ns = rs.namespace().unwrap_or_default();
    let now = Timestamp::now();

    let mut owned: Vec<Arc<Pod>> = Vec::new();
    let mut terminating = 0;
    // Checked before reading the cache: whatever it shows then includes our last changes.
    let caught_up = cache.caught_up(&ns);
    for pod in cache.in_namespace(&ns) {
        if !podinfo::is_active(&pod) {
            let ours = podinfo::controller_uid(&pod) == Some(uid.as_str())
                && plan::claim(rs, &pod) == Claim::Keep;
            if ours && podinfo::is_terminating(&pod) {
                terminating += 1;
            }
            continue;
        }
        match plan::claim(rs, &pod) {
            Claim::Keep => owned.push(pod),
            Claim::Adopt => {
                if let Some(adopted) = adopt(pods, rs, owner, &pod).await? {
                    owned.push(Arc::new(adopted));
                }
            }
            Claim::Release => release(pods, &uid, &pod).await?,
            Claim::Ignore => {}
        }
    }

    let spec = rs.spec.clone();
    let wanted = spec.replicas.unwrap_or(1);
    let manage_error = if rs.metadata.deletion_timestamp.is_some() || !caught_up {
        None
    } else {
        match plan::diff(owned.len(), wanted) {
            Diff::Create(n) => {
                let (created, error) = create_pods(pods, rs, owner, n).await;
                cache.expectations.expect_creates(cache.key, created);
                error
            }
            Diff::Delete(n) => {
                let refs: Vec<&Pod> = owned.iter().map(AsRef::as_ref).collect();
                let victims = ranking::pods_to_delete(&refs, &refs, n, now);
                cache.expectations.expect_deletes(
                    cache.key,
                    victims
                        .iter()
                        .map(|p| (p.name_any(), p.uid().unwrap_or_default())),
                );
                delete_pods(pods, &victims).await
            }
            Diff::Steady => None,
        }
    };

    let active: Vec<&Pod> = owned.iter().map(AsRef::as_ref).collect();
    let mut new_status = status::compute(rs, &active, terminating, manage_error.as_deref(), now);
    if !owner.counts_terminating {
        new_status.terminating_replicas = None;
    }
    let (ready, available) = (new_status.ready_replicas, new_status.available_replicas);
    let status = status::needs_write(rs, &new_status).then(|| {
        new_status.observed_generation = rs.metadata.generation;
        new_status
    });

    let action = if manage_error.is_some() {
        Action::requeue(Duration::from_secs(5))
    } else if !caught_up {
        // The pod events that satisfy the expectations trigger a sync too; this is the
        // fallback should one be missed.
        Action::requeue(Duration::from_secs(1))
    } else {
        // Pods become available minReadySeconds after turning ready, with no event to
        // say so.
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if min_ready > 0 && ready == Some(wanted) && available != Some(wanted) {
            Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(0)))
        } else {
            Action::await_change()
        }
    };
    Ok(Synced { status, action })
}

/// Makes `rs` the pod's controller; `None` if the pod went away or changed under us.
async fn adopt(
    pods: &Api<Pod>,
    rs: &ReplicaSet,
    owner: plan::Owner,
    pod: &Pod,
) -> Result<Option<Pod>, Error> {
    // The uid in the patch is a precondition: a pod recreated under the same name is not
    // adopted by mistake.
    let patch = json!({"metadata": {
        "ownerReferences": [plan::controller_ref(rs, owner)],
        "uid": pod.metadata.uid,
    }});
    match pods
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
    {
        Ok(p) => {
            tracing::info!(pod = %pod.name_any(), replicaset = %rs.name_any(), "adopted pod");
            Ok(Some(p))
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 || e.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn release(pods: &Api<Pod>, rs_uid: &str, pod: &Pod) -> Result<(), Error> {
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": rs_uid}],
        "uid": pod.metadata.uid,
    }});
    match pods
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(pod = %pod.name_any(), "released pod");
            Ok(())
        }
        // Gone, or a different pod under that name now: nothing to release.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates `count` pods in slow-start batches, stopping after a batch with a failure;
/// returns the names created and the first failure's message.
async fn create_pods(
    pods: &Api<Pod>,
    rs: &ReplicaSet,
    owner: plan::Owner,
    count: usize,
) -> (Vec<String>, Option<String>) {
    let template = plan::pod_from_template(rs, owner);
    let params = PostParams::default();
    let mut created = Vec::new();
    for size in plan::slow_start_batches(count) {
        let results = join_all((0..size).map(|_| pods.create(&params, &template))).await;
        let mut failure = None;
        for r in results {
            match r {
                Ok(p) => created.push(p.name_any()),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            // A namespace being deleted refuses new pods; that is expected, not a failure.
            if let kube::Error::Api(ae) = &e {
                if ae.code == 403 && ae.message.contains("because it is being terminated") {
                    return (created, None);
                }
            }
            tracing::warn!(replicaset = %rs.name_any(), error = %e, "pod creation failed");
            return (created, Some(api_message(e)));
        }
    }
    (created, None)
}

async fn delete_pods(pods: &Api<Pod>, victims: &[&Pod]) -> Option<String> {
    let params = DeleteParams::default();
    let results = join_all(
        victims
            .iter()
            .map(|p| pods.delete(p.metadata.name.as_deref().unwrap_or(""), &params)),
    )
    .await;
    results.into_iter().find_map(|r| match r {
        Err(kube::Error::Api(e)) if e.code == 404 => None,
        Err(e) => Some(api_message(e)),
        Ok(_) => None,
    })
}

/// The apiserver's own words for a failed request, as upstream puts them in conditions.
fn api_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(ae) => ae.message,
        other => other.to_string(),
    }
}
