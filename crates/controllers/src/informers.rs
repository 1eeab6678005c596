//! Shared informers: one watch per kind for the whole controller manager (client-go's
//! `SharedInformerFactory`). Each informer keeps one cache of its objects and broadcasts
//! every change (deletions included) to any number of controllers, so ten controllers that
//! care about pods cost the apiserver one pod watch, not ten.
//!
//! kube-rs's own shared reflector does not pass deletions on to subscribers, and a
//! ReplicaSet must hear that its pod was deleted; hence this small wrapper around
//! `watcher` and a reflector `Store`.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
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
    changes: broadcast::Sender<Arc<K>>,
    /// The watch task, ended with the informer: a controller manager that loses its lease
    /// drops its informers, and a new term must not find the old watches still running.
    watch: tokio::task::AbortHandle,
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
                    watcher::Event::Init | watcher::Event::InitDone => {}
                }
                writer.apply_watcher_event(&event);
                // A send fails only when nobody listens yet; the cache is what matters then.
                match event {
                    watcher::Event::Apply(o) => {
                        let cached = store.get(&ObjectRef::from_obj(&o));
                        let _ = changes.send(cached.unwrap_or_else(|| Arc::new(o)));
                    }
                    watcher::Event::Delete(o) => {
                        let _ = changes.send(Arc::new(o));
                    }
                    // After a (re)list, everyone looks at everything again, as client-go's
                    // resync does: deletions missed while disconnected surface this way.
                    watcher::Event::InitDone => {
                        for o in store.state() {
                            let _ = changes.send(o);
                        }
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

    /// Every change from now on. A subscriber that falls more than `BACKLOG` changes
    /// behind gets every cached object instead, so it never silently misses one.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let rx = self.changes.subscribe();
        let store = self.store.clone();
        futures::stream::unfold(
            (rx, VecDeque::<Arc<K>>::new()),
            move |(mut rx, mut backlog)| {
                let store = store.clone();
                async move {
                    loop {
                        if let Some(o) = backlog.pop_front() {
                            return Some((o, (rx, backlog)));
                        }
                        match rx.recv().await {
                            Ok(o) => return Some((o, (rx, backlog))),
                            Err(broadcast::error::RecvError::Lagged(_)) => {
                                backlog = store.state().into();
                            }
                            Err(broadcast::error::RecvError::Closed) => return None,
                        }
                    }
                }
            },
        )
    }
}

/// The informers controllers share.
pub struct Informers {
    pub pods: Arc<Informer<Pod>>,
}

impl Informers {
    pub fn start(client: &Client) -> Informers {
        Informers {
            pods: Informer::start(Api::all(client.clone()), trim_pod),
        }
    }
}

fn trim_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
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
    use serde_json::json;

    fn meta(
        owners: serde_json::Value,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        serde_json::from_value(json!({"name": "p", "namespace": "ns", "ownerReferences": owners}))
            .expect("meta")
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
