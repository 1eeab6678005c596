//! Garbage collection by owner references, as upstream's garbage collector does it:
//! dependents whose owners are all gone are deleted; an owner deleted with
//! `propagationPolicy: Orphan` has its dependents released first; one deleted with
//! `Foreground` has its dependents deleted first and goes once no dependent with
//! `blockOwnerDeletion` is left.
//!
//! Dependents of an owner can be of any kind, so the collector watches the metadata of
//! every listable and watchable resource (rediscovered periodically, for new custom
//! resources) and keeps an owner → dependents graph; the work itself runs from a queue
//! of uids.

mod collected;
pub mod graph;
mod queue;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::core::ObjectMeta;
use kube::discovery::{verbs, Discovery, Scope};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::json;

use crate::Error;
use graph::{
    plan_for_dependent, plan_for_owner, DependentPlan, Graph, Node, ObjRef, Owner, OwnerPlan,
    OwnerState, FOREGROUND, ORPHAN,
};
use queue::Queue;

const WORKERS: usize = 4;
const REDISCOVER: Duration = Duration::from_secs(30);
/// How long to wait for the first listing of every resource before acting anyway.
const INITIAL_SYNC: Duration = Duration::from_secs(30);
const RETRY: Duration = Duration::from_secs(1);
/// Foreground deletions also poll, in case a dependent's last event was missed.
const FOREGROUND_POLL: Duration = Duration::from_secs(2);

struct Gc {
    client: Client,
    graph: Mutex<Graph>,
    queue: Queue,
    /// (apiVersion, kind) → resource and whether it is namespaced, over every served version.
    kinds: RwLock<HashMap<(String, String), (ApiResource, bool)>>,
    watched: Mutex<HashSet<String>>,
    synced: AtomicUsize,
}

pub async fn run(client: Client) {
    let gc = Arc::new(Gc {
        client,
        graph: Mutex::default(),
        queue: Queue::default(),
        kinds: RwLock::default(),
        watched: Mutex::default(),
        synced: AtomicUsize::new(0),
    });
    // Acting on a half-built graph could orphan or keep too little; wait for the first
    // listing of every resource (bounded, so one broken resource cannot stall it).
    let mut started = false;
    let first = Instant::now();
    loop {
        match gc.discover().await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "garbage collector discovery failed"),
        }
        if !started {
            let want = gc.watched.lock().map(|w| w.len()).unwrap_or(0);
            while want > 0
                && gc.synced.load(Ordering::Relaxed) < want
                && first.elapsed() < INITIAL_SYNC
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if want > 0 {
                for _ in 0..WORKERS {
                    tokio::spawn(worker(gc.clone()));
                }
                started = true;
            } else {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        }
        tokio::time::sleep(REDISCOVER).await;
    }
}

impl Gc {
    async fn discover(self: &Arc<Self>) -> Result<(), Error> {
        let discovery = Discovery::new(self.client.clone()).run_aggregated().await?;
        let mut kinds = HashMap::new();
        let mut to_watch = Vec::new();
        for group in discovery.groups() {
            for ver in group.versions() {
                for (ar, caps) in group.versioned_resources(ver) {
                    let namespaced = caps.scope == Scope::Namespaced;
                    kinds.insert((ar.api_version.clone(), ar.kind.clone()), (ar, namespaced));
                }
            }
            for (ar, caps) in group.recommended_resources() {
                if caps.supports_operation(verbs::LIST)
                    && caps.supports_operation(verbs::WATCH)
                    && !ignored(&ar)
                {
                    to_watch.push(ar);
                }
            }
        }
        if let Ok(mut k) = self.kinds.write() {
            *k = kinds;
        }
        for ar in to_watch {
            let source = format!("{}/{}", ar.api_version, ar.plural);
            let new = self
                .watched
                .lock()
                .map(|mut w| w.insert(source.clone()))
                .unwrap_or(false);
            if new {
                tokio::spawn(watch(self.clone(), ar, source));
            }
        }
        Ok(())
    }

    fn resolve(&self, api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
        self.kinds
            .read()
            .ok()?
            .get(&(api_version.to_string(), kind.to_string()))
            .cloned()
    }

    fn enqueue(&self, uids: Vec<String>) {
        for u in uids {
            self.queue.add(u);
        }
    }

    fn requeue_after(self: &Arc<Self>, uid: String, after: Duration) {
        let gc = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            gc.queue.add(uid);
        });
    }

    fn api_for(&self, obj: &ObjRef) -> Option<Api<DynamicObject>> {
        let (ar, namespaced) = self.resolve(&obj.api_version, &obj.kind)?;
        Some(match (&obj.namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Works on one uid; `Some(d)` asks for another look after `d`.
    async fn process(&self, uid: &str) -> Result<Option<Duration>, Error> {
        let node = self.graph.lock().ok().and_then(|g| g.get(uid).cloned());
        let Some(node) = node else {
            return Ok(None);
        };
        if node.deleting && (node.has_finalizer(ORPHAN) || node.has_finalizer(FOREGROUND)) {
            return self.finish_owner(&node).await;
        }
        self.check_owners(&node).await?;
        Ok(None)
    }

    async fn finish_owner(&self, node: &Node) -> Result<Option<Duration>, Error> {
        let plan = match self.graph.lock() {
            Ok(g) => plan_for_owner(&g, &node.obj.uid),
            Err(_) => OwnerPlan::None,
        };
        match plan {
            OwnerPlan::None => Ok(None),
            OwnerPlan::Orphan { dependents } => {
                for d in &dependents {
                    let dep = self.graph.lock().ok().and_then(|g| g.get(&d.uid).cloned());
                    if let Some(dep) = dep {
                        self.remove_owner_refs(&dep, std::slice::from_ref(&node.obj.uid))
                            .await?;
                    }
                }
                self.remove_finalizer(node, ORPHAN).await?;
                tracing::info!(owner = %node.obj.name, orphaned = dependents.len(), "orphaned dependents");
                Ok(None)
            }
            OwnerPlan::Foreground { delete, blocking } => {
                for d in &delete {
                    self.delete(d, PropagationPolicy::Foreground).await?;
                }
                if !blocking.is_empty() {
                    return Ok(Some(FOREGROUND_POLL));
                }
                self.remove_finalizer(node, FOREGROUND).await?;
                tracing::info!(owner = %node.obj.name, "foreground deletion finished");
                Ok(None)
            }
        }
    }

    async fn check_owners(&self, node: &Node) -> Result<(), Error> {
        if node.owners.is_empty() || node.deleting {
            return Ok(());
        }
        // The graph may lag behind across resources (an owner's deletion can arrive before
        // the orphaning patch of its dependent): decide on the dependent as it is now.
        let Some(node) = self.latest(node).await? else {
            return Ok(());
        };
        let node = &node;
        if node.owners.is_empty() || node.deleting {
            return Ok(());
        }
        let mut states = Vec::with_capacity(node.owners.len());
        for o in &node.owners {
            match self.owner_state(node, o).await? {
                Some(s) => states.push(s),
                // An owner kind we cannot resolve: never delete on a guess.
                None => return Ok(()),
            }
        }
        let has_dependents = self
            .graph
            .lock()
            .map(|g| !g.dependents(&node.obj.uid).is_empty())
            .unwrap_or(true);
        match plan_for_dependent(node, &states, has_dependents) {
            DependentPlan::Keep => {}
            DependentPlan::RemoveRefs(uids) => self.remove_owner_refs(node, &uids).await?,
            DependentPlan::Delete(policy) => {
                let policy = match policy {
                    "Orphan" => PropagationPolicy::Orphan,
                    "Foreground" => PropagationPolicy::Foreground,
                    _ => PropagationPolicy::Background,
                };
                tracing::info!(kind = %node.obj.kind, name = %node.obj.name, "deleting object whose owners are gone");
                self.delete(&node.obj, policy).await?;
            }
        }
        Ok(())
    }

    /// The object as the API has it now, if it still exists with the same uid.
    async fn latest(&self, node: &Node) -> Result<Option<Node>, Error> {
        let Some((ar, _)) = self.resolve(&node.obj.api_version, &node.obj.kind) else {
            return Ok(None);
        };
        let Some(api) = self.api_for(&node.obj) else {
            return Ok(None);
        };
        let Some(found) = api.get_opt(&node.obj.name).await? else {
            return Ok(None);
        };
        if found.metadata.uid.as_deref() != Some(node.obj.uid.as_str()) {
            return Ok(None);
        }
        Ok(node_of(&ar, &found.metadata, &node.source))
    }

    /// Asks the API (not the graph, which may lag) whether an owner still exists.
    async fn owner_state(&self, node: &Node, owner: &Owner) -> Result<Option<OwnerState>, Error> {
        let Some((ar, namespaced)) = self.resolve(&owner.api_version, &owner.kind) else {
            tracing::debug!(api_version = %owner.api_version, kind = %owner.kind, "unknown owner kind");
            return Ok(None);
        };
        let api: Api<DynamicObject> = match (&node.obj.namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (None, true) => return Ok(Some(OwnerState::Gone)), // cluster-scoped dependents cannot have namespaced owners
            (_, false) => Api::all_with(self.client.clone(), &ar),
        };
        let Some(found) = api.get_opt(&owner.name).await? else {
            return Ok(Some(OwnerState::Gone));
        };
        let meta = &found.metadata;
        if meta.uid.as_deref() != Some(owner.uid.as_str()) {
            return Ok(Some(OwnerState::Gone));
        }
        let foreground = meta.deletion_timestamp.is_some()
            && meta
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|x| x == FOREGROUND));
        Ok(Some(if foreground {
            OwnerState::WaitingForDependents
        } else {
            OwnerState::Solid
        }))
    }

    async fn delete(&self, obj: &ObjRef, policy: PropagationPolicy) -> Result<(), Error> {
        let Some(api) = self.api_for(obj) else {
            return Ok(());
        };
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(obj.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&obj.name, &dp).await {
            Ok(_) => Ok(()),
            // Gone already, or replaced by another object of the same name.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the references to `owners` from `dep`, guarded by `test` ops so a
    /// concurrent change of the list fails the patch instead of removing the wrong entry.
    async fn remove_owner_refs(&self, dep: &Node, owners: &[String]) -> Result<(), Error> {
        let mut ops = Vec::new();
        for (i, o) in dep.owners.iter().enumerate().rev() {
            if owners.contains(&o.uid) {
                let path = format!("/metadata/ownerReferences/{i}");
                ops.push(json!({"op": "test", "path": format!("{path}/uid"), "value": o.uid}));
                ops.push(json!({"op": "remove", "path": path}));
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.json_patch(&dep.obj, ops).await
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<(), Error> {
        let Some(i) = node.finalizers.iter().position(|f| f == finalizer) else {
            return Ok(());
        };
        let path = format!("/metadata/finalizers/{i}");
        self.json_patch(
            &node.obj,
            vec![
                json!({"op": "test", "path": path, "value": finalizer}),
                json!({"op": "remove", "path": path}),
            ],
        )
        .await
    }

    async fn json_patch(&self, obj: &ObjRef, ops: Vec<serde_json::Value>) -> Result<(), Error> {
        let Some(api) = self.api_for(obj) else {
            return Ok(());
        };
        let patch = Patch::<()>::Json(serde_json::from_value(serde_json::Value::Array(ops))?);
        match api.patch(&obj.name, &PatchParams::default(), &patch).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

async fn worker(gc: Arc<Gc>) {
    loop {
        let uid = gc.queue.next().await;
        let again = match gc.process(&uid).await {
            Ok(again) => again,
            Err(e) => {
                tracing::debug!(uid = %uid, error = %e, "garbage collection step failed; retrying");
                Some(RETRY)
            }
        };
        gc.queue.done(&uid);
        if let Some(after) = again {
            gc.requeue_after(uid, after);
        }
    }
}

/// Resources the collector never follows, as upstream's default `ignoredResources`:
/// Events, in both their groups. They carry no owners, and following them would cost a
/// watch event (and a graph node) per Event, the busiest kind in a cluster.
fn ignored(ar: &ApiResource) -> bool {
    ar.plural == "events" && (ar.group.is_empty() || ar.group == "events.k8s.io")
}

async fn watch(gc: Arc<Gc>, ar: ApiResource, source: String) {
    let api: Api<collected::Collected> = Api::all_with(gc.client.clone(), &ar);
    let mut events = pin!(watcher(api, watcher::Config::default()).default_backoff());
    let mut listing: Option<BTreeSet<String>> = None;
    let mut first_sync = true;
    while let Some(event) = events.next().await {
        let work = match event {
            Ok(Event::Apply(m)) | Ok(Event::InitApply(m)) => {
                let Some(node) = node_of(&ar, &m.metadata, &source) else {
                    continue;
                };
                if let Some(seen) = listing.as_mut() {
                    seen.insert(node.obj.uid.clone());
                }
                gc.graph
                    .lock()
                    .map(|mut g| g.apply(node))
                    .unwrap_or_default()
            }
            Ok(Event::Delete(m)) => match m.metadata.uid.as_deref() {
                Some(uid) => gc
                    .graph
                    .lock()
                    .map(|mut g| g.remove(uid))
                    .unwrap_or_default(),
                None => continue,
            },
            Ok(Event::Init) => {
                listing = Some(BTreeSet::new());
                continue;
            }
            Ok(Event::InitDone) => {
                if first_sync {
                    first_sync = false;
                    gc.synced.fetch_add(1, Ordering::Relaxed);
                }
                match listing.take() {
                    Some(seen) => gc
                        .graph
                        .lock()
                        .map(|mut g| g.retain_listed(&source, &seen))
                        .unwrap_or_default(),
                    None => continue,
                }
            }
            Err(e) => {
                tracing::debug!(resource = %source, error = %e, "garbage collector watch");
                continue;
            }
        };
        gc.enqueue(work);
    }
}

fn node_of(ar: &ApiResource, meta: &ObjectMeta, source: &str) -> Option<Node> {
    let uid = meta.uid.clone()?;
    Some(Node {
        obj: ObjRef {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid,
        },
        owners: meta
            .owner_references
            .iter()
            .flatten()
            .map(|o| Owner {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
                block_owner_deletion: o.block_owner_deletion.unwrap_or(false),
            })
            .collect(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use kube::core::GroupVersionKind;

    use super::*;

    #[test]
    fn events_in_both_groups_are_ignored() {
        let cases = [
            ("", "v1", "Event", "events", true),
            ("events.k8s.io", "v1", "Event", "events", true),
            ("", "v1", "Pod", "pods", false),
            ("example.com", "v1", "Event", "events", false),
        ];
        for (group, version, kind, plural, want) in cases {
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            assert_eq!(ignored(&ar), want, "{group}/{plural}");
        }
    }
}
