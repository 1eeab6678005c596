//! The apiserver's in-memory view of the store: every live object and a window of recent
//! events. Lists and watches are served from here, so the store sees only writes and a
//! single watch.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};

use store::{EventKind, Store};

/// Events kept for watches that start from an older resourceVersion.
const HISTORY: usize = 10_000;

/// One object as served: JSON with `metadata.resourceVersion` set, plus what filters need.
#[derive(Debug)]
pub struct CachedObject {
    pub key: String,
    pub json: Bytes,
    /// The version it was written in; reads through another version convert it.
    pub api_version: String,
    pub labels: Map<String, Value>,
    pub mod_revision: i64,
}

impl CachedObject {
    pub fn from_store(key: String, raw: &[u8], mod_revision: i64) -> Option<CachedObject> {
        let served = crate::stored::serve(raw, mod_revision)?;
        Some(CachedObject {
            key,
            json: Bytes::from(served.json),
            api_version: served.api_version,
            labels: served.labels,
            mod_revision,
        })
    }
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The object as `info`'s version serves it.
    pub fn value_for(&self, info: &registry::ResourceInfo) -> Value {
        to_version(info, self.value())
    }

    /// The serialized object as `info`'s version serves it (no copy when no conversion).
    pub fn json_for(&self, info: &registry::ResourceInfo) -> Bytes {
        if self.api_version == info.api_version() {
            self.json.clone()
        } else {
            Bytes::from(serde_json::to_vec(&self.value_for(info)).unwrap_or_default())
        }
    }
}

/// Converts an object stored in another version of the same resource (HPA v1/v2, core and
/// events.k8s.io Events) to the version `info` serves.
pub fn to_version(info: &registry::ResourceInfo, v: Value) -> Value {
    let want = info.api_version();
    match v.get("apiVersion").and_then(Value::as_str) {
        Some(have) if registry::convert::needs_conversion(have, &want) => {
            match registry::convert::convert(v.clone(), &want) {
                Ok(c) => c,
                // Custom resources convert with strategy None: only apiVersion changes.
                Err(registry::convert::ConvertError::Unsupported { from, .. })
                    if same_group(&from, &want)
                        && registry::catalog::find(info.group, info.version, info.plural)
                            .is_none() =>
                {
                    let mut v = v;
                    v["apiVersion"] = Value::String(want);
                    v
                }
                Err(e) => {
                    tracing::warn!(error = %e, "conversion failed; serving the stored version");
                    v
                }
            }
        }
        _ => v,
    }
}

fn same_group(a: &str, b: &str) -> bool {
    let group = |s: &str| {
        s.rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default()
    };
    group(a) == group(b)
}

pub fn set_resource_version(v: &mut Value, rev: i64) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug)]
pub struct CacheEvent {
    pub revision: i64,
    pub change: Change,
    /// For a delete: the last state, with resourceVersion set to the delete's revision.
    pub obj: Arc<CachedObject>,
    pub prev: Option<Arc<CachedObject>>,
    /// What field selectors read of `obj` and `prev` ([`crate::selectable`]), parsed once
    /// per event for all watchers whose field selectors need more than name and namespace
    /// (kubelets select pods by `spec.nodeName`).
    pub obj_parsed: std::sync::OnceLock<Value>,
    pub prev_parsed: std::sync::OnceLock<Value>,
}

struct Inner {
    objects: BTreeMap<String, Arc<CachedObject>>,
    history: VecDeque<Arc<CacheEvent>>,
    revision: i64,
    /// Every event with a revision above this one is in `history`.
    history_floor: i64,
    /// The revision of the last change under each `/registry/<first segment>/`, so a
    /// consumer that derives state from one kind (the RBAC policy) can tell in O(1) whether
    /// it must rebuild.
    last_change: std::collections::HashMap<String, i64>,
}

pub struct WatchCache {
    inner: RwLock<Inner>,
    events: broadcast::Sender<Arc<CacheEvent>>,
    revision: watch::Sender<i64>,
}

pub enum Since {
    /// Events after this revision, all available.
    Events(Vec<Arc<CacheEvent>>),
    /// The revision is older than the window.
    TooOld { oldest: i64 },
}

fn prefix_end(prefix: &str) -> String {
    // Keys are ASCII; the byte after '/' is '0', so this bounds "prefix/…" exactly.
    let mut s = prefix.to_string();
    s.push('\u{10FFFF}');
    s
}

const REGISTRY: &str = "/registry/";

/// `/registry/<segment>/` of a key, e.g. `/registry/roles/` of `/registry/roles/ns/name`.
fn first_segment(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(REGISTRY)?;
    let end = REGISTRY.len() + rest.find('/')? + 1;
    key.get(..end)
}

/// Events to preload on start, so clients that watched the previous process resume from
/// their resourceVersion instead of relisting.
const PRELOAD: i64 = 10_000;

/// The store's events after `max(compacted, upto - PRELOAD)` up to `upto`, and that floor.
async fn recent_history(store: &dyn Store, upto: i64) -> (VecDeque<Arc<CacheEvent>>, i64) {
    let mut out = VecDeque::new();
    let compacted = store.compacted_revision().await.unwrap_or(upto);
    let from = (upto - PRELOAD).max(compacted);
    if from >= upto {
        return (out, upto);
    }
    let Ok(mut stream) = store.watch("", from).await else {
        return (out, upto);
    };
    // The stream goes live after the history; stop at `upto` or when it falls silent.
    while let Ok(Some(Ok(ev))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), stream.next()).await
    {
        let rev = ev.kv.mod_revision;
        if rev > upto {
            break;
        }
        if let Some(e) = ev
            .kv
            .key
            .starts_with(REGISTRY)
            .then(|| cache_event(&ev))
            .flatten()
        {
            out.push_back(Arc::new(e));
        }
        if rev == upto {
            break;
        }
    }
    (out, from)
}

fn cache_event(ev: &store::Event) -> Option<CacheEvent> {
    let obj = Arc::new(CachedObject::from_store(
        ev.kv.key.clone(),
        &ev.kv.value,
        ev.kv.mod_revision,
    )?);
    let prev = ev
        .prev
        .as_ref()
        .and_then(|p| CachedObject::from_store(p.key.clone(), &p.value, p.mod_revision))
        .map(Arc::new);
    let change = match (&ev.kind, &prev) {
        (EventKind::Delete, _) => Change::Deleted,
        (EventKind::Put, None) => Change::Added,
        (EventKind::Put, Some(_)) => Change::Modified,
    };
    Some(CacheEvent {
        revision: ev.kv.mod_revision,
        change,
        obj,
        prev,
        obj_parsed: Default::default(),
        prev_parsed: Default::default(),
    })
}

impl WatchCache {
    /// Loads every object under `/registry/` and follows the store from there.
    pub async fn start(store: Arc<dyn Store>) -> store::Result<Arc<WatchCache>> {
        let list = store
            .list("/registry/", store::ListOptions::default())
            .await?;
        let mut objects = BTreeMap::new();
        for kv in list.kvs {
            if let Some(o) = CachedObject::from_store(kv.key.clone(), &kv.value, kv.mod_revision) {
                objects.insert(kv.key, Arc::new(o));
            }
        }
        let (history, history_floor) = recent_history(store.as_ref(), list.revision).await;
        let (events, _) = broadcast::channel(16_384);
        let (revision, _) = watch::channel(list.revision);
        let cache = Arc::new(WatchCache {
            inner: RwLock::new(Inner {
                objects,
                history,
                revision: list.revision,
                history_floor,
                last_change: Default::default(),
            }),
            events,
            revision,
        });
        let feeder = cache.clone();
        tokio::spawn(async move { feeder.follow(store, list.revision).await });
        Ok(cache)
    }

    async fn follow(self: Arc<Self>, store: Arc<dyn Store>, mut after: i64) {
        loop {
            // Everything, not just `/registry/`: see `apply`.
            let mut stream = match store.watch("", after).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "watch cache: store watch failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            while let Some(item) = stream.next().await {
                match item {
                    Ok(ev) => {
                        after = ev.kv.mod_revision;
                        self.apply(ev);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "watch cache: store watch ended; resuming");
                        break;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn apply(&self, ev: store::Event) {
        let key = ev.kv.key.clone();
        if !key.starts_with(REGISTRY) {
            // A shared etcd also holds skiff's own bookkeeping; its writes carry no object
            // but still move the store's revision, which consistent reads wait for.
            self.advance(ev.kv.mod_revision);
            return;
        }
        let Some(obj) = CachedObject::from_store(key.clone(), &ev.kv.value, ev.kv.mod_revision)
        else {
            tracing::warn!(%key, "watch cache: undecodable value skipped");
            self.advance(ev.kv.mod_revision);
            return;
        };
        let obj = Arc::new(obj);
        let rev = ev.kv.mod_revision;
        let event = {
            let Ok(mut inner) = self.inner.write() else {
                return;
            };
            let prev = match ev.kind {
                EventKind::Put => inner.objects.insert(key.clone(), obj.clone()),
                EventKind::Delete => inner.objects.remove(&key),
            };
            let change = match (&ev.kind, &prev) {
                (EventKind::Delete, _) => Change::Deleted,
                (EventKind::Put, None) => Change::Added,
                (EventKind::Put, Some(_)) => Change::Modified,
            };
            let event = Arc::new(CacheEvent {
                revision: rev,
                change,
                obj,
                prev,
                obj_parsed: Default::default(),
                prev_parsed: Default::default(),
            });
            inner.history.push_back(event.clone());
            while inner.history.len() > HISTORY {
                if let Some(old) = inner.history.pop_front() {
                    inner.history_floor = old.revision;
                }
            }
            inner.revision = rev;
            if let Some(prefix) = first_segment(&key) {
                inner.last_change.insert(prefix.to_string(), rev);
            }
            event
        };
        let _ = self.events.send(event);
        self.revision.send_replace(rev);
    }

    fn advance(&self, rev: i64) {
        if let Ok(mut inner) = self.inner.write() {
            inner.revision = inner.revision.max(rev);
        }
        self.revision.send_if_modified(|r| {
            let newer = rev > *r;
            if newer {
                *r = rev;
            }
            newer
        });
    }

    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// The revision of the last change under `prefix` (`/registry/<segment>/`) seen since
    /// this cache started (0: none).
    pub fn last_change(&self, prefix: &str) -> i64 {
        self.inner
            .read()
            .ok()
            .and_then(|i| i.last_change.get(prefix).copied())
            .unwrap_or(0)
    }

    /// Waits until the cache has seen revision `rev` (or `timeout` passes; returns whether it did).
    pub async fn wait_for(&self, rev: i64, timeout: std::time::Duration) -> bool {
        let mut rx = self.revision.subscribe();
        let ok = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|r| *r >= rev)).await,
            Ok(Ok(_))
        );
        ok
    }

    /// Live objects under `prefix` (which must end in '/'), in key order, and the revision.
    pub fn list(&self, prefix: &str) -> (Vec<Arc<CachedObject>>, i64) {
        let Ok(inner) = self.inner.read() else {
            return (Vec::new(), 0);
        };
        let end = prefix_end(prefix);
        let items = inner
            .objects
            .range(prefix.to_string()..end)
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.revision)
    }

    /// Number of live objects under `prefix` (which must end in '/').
    pub fn count(&self, prefix: &str) -> usize {
        let Ok(inner) = self.inner.read() else {
            return 0;
        };
        inner
            .objects
            .range(prefix.to_string()..prefix_end(prefix))
            .count()
    }

    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.inner.read().ok()?.objects.get(key).cloned()
    }

    /// Subscribes to live events and returns the buffered ones after `after`, atomically, so
    /// the caller sees every event exactly once.
    pub fn subscribe_since(&self, after: i64) -> (broadcast::Receiver<Arc<CacheEvent>>, Since) {
        let Ok(inner) = self.inner.read() else {
            return (self.events.subscribe(), Since::TooOld { oldest: 0 });
        };
        let rx = self.events.subscribe();
        if after < inner.history_floor {
            return (
                rx,
                Since::TooOld {
                    oldest: inner.history_floor + 1,
                },
            );
        }
        let start = inner.history.partition_point(|e| e.revision <= after);
        let events = inner.history.iter().skip(start).cloned().collect();
        (rx, Since::Events(events))
    }

    /// Subscribes and snapshots the objects under `prefix` at the same instant.
    pub fn subscribe_with_state(
        &self,
        prefix: &str,
    ) -> (
        broadcast::Receiver<Arc<CacheEvent>>,
        Vec<Arc<CachedObject>>,
        i64,
    ) {
        let Ok(inner) = self.inner.read() else {
            return (self.events.subscribe(), Vec::new(), 0);
        };
        let rx = self.events.subscribe();
        let end = prefix_end(prefix);
        let items = inner
            .objects
            .range(prefix.to_string()..end)
            .map(|(_, v)| v.clone())
            .collect();
        (rx, items, inner.revision)
    }
}

#[cfg(test)]
mod first_segment_tests {
    #[test]
    fn first_segment_table() {
        let cases = [
            ("/registry/roles/ns/r", Some("/registry/roles/")),
            (
                "/registry/clusterroles/admin",
                Some("/registry/clusterroles/"),
            ),
            ("/registry/apps/deployments/ns/d", Some("/registry/apps/")),
            ("/registry/pods", None),
            ("/skiff/compact-revision", None),
        ];
        for (key, want) in cases {
            assert_eq!(super::first_segment(key), want, "{key}");
        }
    }
}
