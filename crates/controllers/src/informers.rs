//! Shared informers: one watch per kind for the whole controller manager (client-go's
//! `SharedInformerFactory`). Each informer keeps one cache of its objects and broadcasts
//! every change (deletions included) to any number of controllers, so ten controllers that
//! care about pods cost the apiserver one pod watch, not ten.
//!
//! kube-rs's own shared reflector does not pass deletions on to subscribers, and a
//! ReplicaSet must hear that its pod was deleted; hence this small wrapper around
//! `watcher` and a reflector `Store`.
//!
//! The pod informer is shared beyond the controller manager: the scheduler runs in the same
//! process and reads the same cache through [`Informer::events`], so each pod is decoded and
//! held once (at 30,000 pods each copy costs a quarter of a gigabyte).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource};
use tokio::sync::broadcast;

/// Changes a subscriber may fall behind by before it is resynced from the cache. Small on
/// purpose: every slot keeps an old version of an object alive until overwritten.
const BACKLOG: usize = 1024;

/// One kind's cache and change feed.
pub struct Informer<K: Resource + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    changes: broadcast::Sender<Change<K>>,
    /// The watch task, ended with the informer: a controller manager that loses its lease
    /// drops its informers, and a new term must not find the old watches still running.
    watch: tokio::task::AbortHandle,
}

/// One entry of an informer's change feed.
enum Change<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
    /// The watch (re)listed: deletions missed while disconnected are only visible by
    /// comparing with the cache.
    Relisted,
}

/// What a [`Informer::triggers`] mapper is told happened to the object it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Added or modified, or still there after a relist.
    Changed,
    /// Deleted: its last state.
    Deleted,
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Applied(o) => Change::Applied(o.clone()),
            Change::Deleted(o) => Change::Deleted(o.clone()),
            Change::Relisted => Change::Relisted,
        }
    }
}

impl<K: Resource + 'static> Drop for Informer<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl<K> Informer<K>
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    /// Starts watching `api`; `trim` drops what no controller reads before an object is
    /// cached (managedFields above all), since the cache holds every object of the kind.
    pub fn start(api: Api<K>, trim: fn(&mut K)) -> Arc<Informer<K>> {
        let (store, mut writer) = reflector::store::<K>();
        let (changes, _) = broadcast::channel(BACKLOG);
        let (cache, feed) = (store.clone(), changes.clone());
        let task = tokio::spawn(async move {
            let (store, changes) = (cache, feed);
            let events = watcher(api, watcher::Config::default()).default_backoff();
            futures::pin_mut!(events);
            // The cache as it was when a relist began: what the relist no longer finds was
            // deleted while the watch was down, and subscribers hear of it as a deletion.
            let mut before_relist = Vec::new();
            while let Some(event) = events.next().await {
                let mut event = match event {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::debug!(error = %e, "shared informer watch");
                        continue;
                    }
                };
                match &mut event {
                    watcher::Event::Apply(o)
                    | watcher::Event::Delete(o)
                    | watcher::Event::InitApply(o) => trim(o),
                    watcher::Event::Init => before_relist = store.state(),
                    watcher::Event::InitDone => {}
                }
                writer.apply_watcher_event(&event);
                // A send fails only when nobody listens yet; the cache is what matters then.
                match event {
                    watcher::Event::Apply(o) => {
                        let cached = store.get(&ObjectRef::from_obj(&o));
                        let _ =
                            changes.send(Change::Applied(cached.unwrap_or_else(|| Arc::new(o))));
                    }
                    watcher::Event::Delete(o) => {
                        let _ = changes.send(Change::Deleted(Arc::new(o)));
                    }
                    watcher::Event::InitDone => {
                        for gone in vanished(std::mem::take(&mut before_relist), &store) {
                            let _ = changes.send(Change::Deleted(gone));
                        }
                        let _ = changes.send(Change::Relisted);
                    }
                    watcher::Event::Init | watcher::Event::InitApply(_) => {}
                }
            }
        });
        Arc::new(Informer {
            store,
            changes,
            watch: task.abort_handle(),
        })
    }

    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Every changed object from now on. After a relist, and when a subscriber falls
    /// more than `BACKLOG` changes behind, it gets every cached object instead, as
    /// client-go's resync does, so it never silently misses one.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.subscribe_where(|_| true)
    }

    /// [`Self::subscribe`], passing on only the objects `relevant` keeps. For a controller
    /// that maps few of a kind's objects to anything (say pods owned by a Job): the others
    /// are dropped here, before the controller's trigger machinery copies each one's
    /// reference (measurable at thousands of pod changes a second).
    pub fn subscribe_where(
        &self,
        relevant: impl Fn(&K) -> bool + Send + Sync + 'static,
    ) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.feed(
            self.changes.subscribe(),
            move |store, change, out| match change {
                Some(Change::Applied(o) | Change::Deleted(o)) => {
                    if relevant(&o) {
                        out.push_back(o)
                    }
                }
                Some(Change::Relisted) | None => {
                    out.extend(store.state().into_iter().filter(|o| relevant(o)))
                }
            },
        )
    }

    /// The reconcile requests of a controller of kind `R` that each change maps to, for
    /// `Controller::reconcile_on`; after a relist or a lag every cached object is mapped
    /// as [`Seen::Changed`]. For a controller that follows a kind through a mapper rather
    /// than owner references: kube-rs's `watches_shared_stream` builds every changed
    /// object's reference (copies of its name and namespace) before mapping it, even when
    /// the mapper returns nothing, as it does for most pods; here nothing is done for those.
    /// A deletion missed while the watch was down arrives as [`Seen::Deleted`] before the
    /// relist.
    pub fn triggers<R, I, F>(&self, map: F) -> impl Stream<Item = ObjectRef<R>> + Send + 'static
    where
        R: Resource + 'static,
        R::DynamicType: Send,
        I: IntoIterator<Item = ObjectRef<R>>,
        F: Fn(&K, Seen) -> I + Send + Sync + 'static,
    {
        self.feed(
            self.changes.subscribe(),
            move |store, change, out| match change {
                Some(Change::Applied(o)) => out.extend(map(&o, Seen::Changed)),
                Some(Change::Deleted(o)) => out.extend(map(&o, Seen::Deleted)),
                Some(Change::Relisted) | None => {
                    for o in store.state() {
                        out.extend(map(&o, Seen::Changed));
                    }
                }
            },
        )
    }

    /// Every change as watch events, starting with the whole cache (`Init`, `InitApply`
    /// each, `InitDone`), for a consumer that keeps its own state and must learn of
    /// deletions: after a relist or a lag it gets the whole cache again in the same shape,
    /// and what is missing from it is gone. The stream holds the informer alive.
    pub fn events(self: &Arc<Self>) -> impl Stream<Item = watcher::Event<Arc<K>>> + Send + 'static {
        let owner = self.clone();
        let relist = |store: &Store<K>, out: &mut VecDeque<watcher::Event<Arc<K>>>| {
            out.push_back(watcher::Event::Init);
            out.extend(store.state().into_iter().map(watcher::Event::InitApply));
            out.push_back(watcher::Event::InitDone);
        };
        // Subscribed before looking at the cache, so nothing falls between the two; a
        // cache not yet filled sends its first relist through the feed.
        let rx = self.changes.subscribe();
        let mut first = VecDeque::new();
        if self
            .store
            .wait_until_ready()
            .now_or_never()
            .is_some_and(|r| r.is_ok())
        {
            relist(&self.store, &mut first);
        }
        let rest = self.feed(rx, move |store, change, out| {
            let _alive = &owner;
            match change {
                Some(Change::Applied(o)) => out.push_back(watcher::Event::Apply(o)),
                Some(Change::Deleted(o)) => out.push_back(watcher::Event::Delete(o)),
                Some(Change::Relisted) | None => relist(store, out),
            }
        });
        futures::stream::iter(first).chain(rest)
    }

    /// The change feed turned into a stream by `expand`, which is given `None` when the
    /// subscriber lagged and must catch up from the cache.
    fn feed<T, F>(
        &self,
        rx: broadcast::Receiver<Change<K>>,
        expand: F,
    ) -> impl Stream<Item = T> + Send + 'static
    where
        T: Send + 'static,
        F: Fn(&Store<K>, Option<Change<K>>, &mut VecDeque<T>) + Send + Sync + 'static,
    {
        let store = self.store.clone();
        let expand = Arc::new(expand);
        futures::stream::unfold((rx, VecDeque::<T>::new()), move |(mut rx, mut backlog)| {
            let (store, expand) = (store.clone(), expand.clone());
            async move {
                loop {
                    if let Some(o) = backlog.pop_front() {
                        return Some((o, (rx, backlog)));
                    }
                    match rx.recv().await {
                        Ok(c) => expand(&store, Some(c), &mut backlog),
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            expand(&store, None, &mut backlog)
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
    }
}

/// The objects of `before` that `store` no longer holds: deleted while the watch was
/// down (client-go hands these out as `DeletedFinalStateUnknown`). One recreated under the
/// same name is not among them; the relist that follows maps it as changed.
fn vanished<K>(before: Vec<Arc<K>>, store: &Store<K>) -> Vec<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    before
        .into_iter()
        .filter(|o| store.get(&ObjectRef::from_obj(o.as_ref())).is_none())
        .collect()
}

/// The process's pod informer, started by whichever component asks first and stopped
/// when none holds it any more: the controller manager and the scheduler are elected
/// separately, and a process leading neither should not keep every pod in memory.
pub struct SharedPods {
    client: Client,
    current: Mutex<Weak<Informer<Pod>>>,
}

impl SharedPods {
    pub fn new(client: Client) -> SharedPods {
        SharedPods {
            client,
            current: Mutex::new(Weak::new()),
        }
    }

    pub fn get(&self) -> Arc<Informer<Pod>> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(informer) = current.upgrade() {
            return informer;
        }
        let informer = Informer::start(Api::all(self.client.clone()), trim_pod);
        *current = Arc::downgrade(&informer);
        informer
    }
}

/// The informers controllers share.
pub struct Informers {
    pub pods: Arc<Informer<Pod>>,
    /// Six controllers follow nodes; at 1,000 nodes each copy and each heartbeat's decode
    /// was paid six times.
    pub nodes: Arc<Informer<Node>>,
}

impl Informers {
    pub fn new(client: &Client, pods: Arc<Informer<Pod>>) -> Informers {
        Informers {
            pods,
            nodes: Informer::start(Api::all(client.clone()), trim_node),
        }
    }
}

/// managedFields, and the image list (up to 50 entries a node; only the scheduler, which
/// keeps its own node cache, reads it).
fn trim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    if let Some(status) = node.status.as_mut() {
        status.images = None;
    }
}

/// What no in-process reader of the shared pod cache looks at: managedFields, and every
/// volume but claims (`persistentVolumeClaim` and generic `ephemeral` volumes, which
/// VolumeBinding and PVC protection read). A `Volume` is 3 KiB as a k8s-openapi struct,
/// and every pod has at least the projected `kube-api-access-*` one: dropping it takes a
/// third off each cached pod. Writers never send a cached pod back whole.
fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(volumes) = pod.spec.as_mut().and_then(|s| s.volumes.as_mut()) {
        volumes.retain(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some());
        volumes.shrink_to_fit();
    }
}

/// The owners of kind `K` an object names (what kube-rs's `owns` maps a change to), for
/// controllers that hear about their dependents through a shared informer.
pub fn owners<K>(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()>,
{
    let Some(ns) = meta.namespace.as_deref() else {
        return Vec::new();
    };
    let (kind, group) = (K::kind(&()), K::group(&()));
    meta.owner_references
        .iter()
        .flatten()
        .filter(|r| {
            let owner_group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
            r.kind == kind && owner_group == group
        })
        .map(|r| ObjectRef::new(&r.name).within(ns))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet};
    use k8s_openapi::api::batch::v1::Job;
    use kube::ResourceExt;
    use serde_json::json;

    fn meta(
        owners: serde_json::Value,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        serde_json::from_value(json!({"name": "p", "namespace": "ns", "ownerReferences": owners}))
            .expect("meta")
    }

    #[test]
    fn cached_pods_keep_only_claim_volumes() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "m"}]},
            "spec": {"containers": [], "volumes": [
                {"name": "kube-api-access-x", "projected": {"sources": []}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "ephemeral": {}},
                {"name": "cfg", "configMap": {"name": "cfg"}},
            ]},
        }))
        .expect("pod");
        trim_pod(&mut pod);
        let names: Vec<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(names, ["data", "scratch"]);
        assert!(pod.metadata.managed_fields.is_none());
    }

    /// A change maps to what the mapper returns, with what happened; a change mapped to
    /// nothing yields nothing; a relist maps every cached object as changed.
    #[tokio::test]
    async fn triggers_map_changes_and_relists() {
        let pod = |name: &str, rs: Option<&str>| -> Arc<Pod> {
            let labels = rs.map(|r| json!({"rs": r})).unwrap_or(json!({}));
            Arc::new(
                serde_json::from_value(
                    json!({"metadata": {"name": name, "namespace": "ns", "labels": labels}}),
                )
                .expect("pod"),
            )
        };
        let (store, mut writer) = reflector::store::<Pod>();
        let (changes, _) = broadcast::channel(BACKLOG);
        let idle = tokio::spawn(std::future::pending::<()>());
        let informer = Informer {
            store,
            changes: changes.clone(),
            watch: idle.abort_handle(),
        };
        let refs = informer.triggers(|p: &Pod, seen| {
            p.labels()
                .get("rs")
                .map(|rs| ObjectRef::<ReplicaSet>::new(&format!("{rs}-{seen:?}")).within("ns"))
        });
        futures::pin_mut!(refs);
        for (name, rs) in [("cached", Some("a")), ("plain", None)] {
            writer.apply_watcher_event(&watcher::Event::Apply((*pod(name, rs)).clone()));
        }
        let sent = [
            Change::Applied(pod("plain", None)),
            Change::Applied(pod("cached", Some("a"))),
            Change::Deleted(pod("gone", Some("b"))),
            Change::Relisted,
        ];
        for c in sent {
            changes.send(c).map_err(|_| "no receiver").expect("send");
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            let r = tokio::time::timeout(std::time::Duration::from_secs(5), refs.next())
                .await
                .expect("in time")
                .expect("open");
            got.push(r.name);
        }
        assert_eq!(got, ["a-Changed", "b-Deleted", "a-Changed"]);
    }

    /// After a relist, what the cache held before and no longer holds counts as deleted;
    /// what is still there (by name) does not.
    #[test]
    fn relists_find_what_vanished() {
        let pod = |name: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"}}))
                .expect("pod")
        };
        let (store, mut writer) = reflector::store::<Pod>();
        for name in ["kept", "gone"] {
            writer.apply_watcher_event(&watcher::Event::Apply(pod(name)));
        }
        let before = store.state();
        for e in [
            watcher::Event::Init,
            watcher::Event::InitApply(pod("kept")),
            watcher::Event::InitApply(pod("new")),
            watcher::Event::InitDone,
        ] {
            writer.apply_watcher_event(&e);
        }
        let names: Vec<String> = vanished(before, &store)
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(names, ["gone"]);
    }

    #[test]
    fn owners_by_kind_and_group() {
        let m = meta(json!([
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1", "controller": true},
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "2"},
            {"apiVersion": "example.com/v1", "kind": "ReplicaSet", "name": "other", "uid": "3"},
        ]));
        let names = |v: Vec<String>| v;
        assert_eq!(
            names(
                owners::<ReplicaSet>(&m)
                    .iter()
                    .map(|r| r.name.clone())
                    .collect()
            ),
            vec!["rs"]
        );
        assert_eq!(
            names(owners::<Job>(&m).iter().map(|r| r.name.clone()).collect()),
            vec!["j"]
        );
        assert!(owners::<DaemonSet>(&m).is_empty());
        let cluster_scoped = meta(json!(null));
        assert!(owners::<ReplicaSet>(&cluster_scoped).is_empty());
    }
}
