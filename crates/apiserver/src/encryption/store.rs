//! `EncryptedStore`: a `Store` that seals values on their way in and opens them on their way
//! out, for any backend. Revisions, keys and compare-and-swap pass through untouched.
//!
//! A value that cannot be opened is an error for `get`, `update`'s conflict and `delete`
//! (`store::Error::Io` carrying a [`TransformError`], which the apiserver answers with a 500
//! that names the key). `list` and `watch` leave such a value out and log it: the watch cache
//! lists and follows the whole store at start, and one unreadable object must not keep the
//! server from starting or its watch from moving on.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use store::{Event, KeyValue, ListOptions, ListResult, Revision, Store, WatchStream};

use super::transform::{TransformError, Transformers};

pub struct EncryptedStore {
    inner: Arc<dyn Store>,
    transformers: Arc<Transformers>,
}

fn store_error(e: TransformError) -> store::Error {
    store::Error::Io(std::io::Error::other(e))
}

/// The transform error inside a store error, if that is what it is.
pub fn transform_error(e: &store::Error) -> Option<&TransformError> {
    match e {
        store::Error::Io(io) => io.get_ref()?.downcast_ref::<TransformError>(),
        _ => None,
    }
}

impl EncryptedStore {
    pub fn new(inner: Arc<dyn Store>, transformers: Arc<Transformers>) -> Arc<EncryptedStore> {
        Arc::new(EncryptedStore {
            inner,
            transformers,
        })
    }

    fn open(&self, mut kv: KeyValue) -> store::Result<KeyValue> {
        kv.value = self
            .transformers
            .open(&kv.key, kv.value)
            .map_err(store_error)?;
        Ok(kv)
    }

    /// Whether `key`'s stored value was written with another provider or key than a write
    /// would use now (so an unchanged update must still be written).
    pub async fn is_stale(&self, key: &str) -> bool {
        match self.inner.get(key).await {
            Ok((Some(kv), _)) => self.transformers.is_stale(key, &kv.value),
            _ => false,
        }
    }
}

/// A watch event with its values opened; `None` (logged) when its object cannot be.
fn open_event(transformers: &Transformers, mut ev: Event) -> Option<Event> {
    match transformers.open(&ev.kv.key, ev.kv.value) {
        Ok(v) => ev.kv.value = v,
        Err(e) => {
            tracing::warn!(revision = ev.kv.mod_revision, "watch event left out: {e}");
            return None;
        }
    }
    if let Some(mut prev) = ev.prev.take() {
        match transformers.open(&prev.key, prev.value) {
            Ok(v) => {
                prev.value = v;
                ev.prev = Some(prev);
            }
            Err(e) => tracing::debug!("previous value of a watch event left out: {e}"),
        }
    }
    Some(ev)
}

#[async_trait]
impl Store for EncryptedStore {
    async fn current_revision(&self) -> store::Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compacted_revision(&self) -> store::Result<Revision> {
        self.inner.compacted_revision().await
    }

    async fn get(&self, key: &str) -> store::Result<(Option<KeyValue>, Revision)> {
        let (kv, rev) = self.inner.get(key).await?;
        Ok((kv.map(|kv| self.open(kv)).transpose()?, rev))
    }

    async fn list(&self, prefix: &str, opts: ListOptions<'_>) -> store::Result<ListResult> {
        let mut list = self.inner.list(prefix, opts).await?;
        list.kvs = std::mem::take(&mut list.kvs)
            .into_iter()
            .filter_map(|kv| match self.open(kv) {
                Ok(kv) => Some(kv),
                Err(e) => {
                    tracing::error!("listed object left out: {e}");
                    None
                }
            })
            .collect();
        Ok(list)
    }

    async fn count(&self, prefix: &str) -> store::Result<i64> {
        self.inner.count(prefix).await
    }

    async fn create(&self, key: &str, value: Bytes) -> store::Result<KeyValue> {
        let sealed = self
            .transformers
            .seal(key, value.clone())
            .map_err(store_error)?;
        let mut kv = self.inner.create(key, sealed).await?;
        kv.value = value;
        Ok(kv)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> store::Result<KeyValue> {
        let sealed = self
            .transformers
            .seal(key, value.clone())
            .map_err(store_error)?;
        match self.inner.update(key, sealed, expected).await {
            Ok(mut kv) => {
                kv.value = value;
                Ok(kv)
            }
            Err(store::Error::Conflict {
                key,
                expected,
                current,
            }) => Err(store::Error::Conflict {
                key,
                expected,
                current: Box::new(self.open(*current)?),
            }),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> store::Result<KeyValue> {
        let kv = self.inner.delete(key, expected).await?;
        self.open(kv)
    }

    async fn watch(&self, prefix: &str, after: Revision) -> store::Result<WatchStream> {
        let stream = self.inner.watch(prefix, after).await?;
        let transformers = self.transformers.clone();
        Ok(Box::pin(stream.filter_map(move |item| {
            let out = match item {
                Ok(ev) => open_event(&transformers, ev).map(Ok),
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        })))
    }

    async fn compact(&self, revision: Revision) -> store::Result<()> {
        self.inner.compact(revision).await
    }
}
