//! Revisioned key-value store with etcd v3 semantics.
//!
//! Every write increments one global revision; a key's `mod_revision` is the revision of its
//! last write and the apiserver uses it as the object's `resourceVersion`. Writes are
//! compare-and-swap on `mod_revision`. Watches replay history from any revision that has not
//! been compacted away and then follow live writes.
//!
//! **Architecture Invariant:** only the apiserver opens a `Store`; everything else goes
//! through the Kubernetes API.

mod error;
pub mod etcd;
mod keys;
pub mod metrics;
pub mod snapshot;
pub mod sqlite;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use error::{Error, Result};
pub use etcd::{EtcdOptions, EtcdStore};
pub use metrics::{Observe, StorageSizes, StoreMetrics};
pub use sqlite::{SqliteOptions, SqliteStore};

/// The ticker of a periodic compactor: ticks every `interval` without catching up on missed
/// ticks, the first one an interval from now (compacting right at start-up is pointless).
pub(crate) async fn compaction_ticker(interval: std::time::Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    ticker
}

/// A global store revision. Revisions start at 1 and only ever grow, also across restarts.
pub type Revision = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision at which the key was (last) created.
    pub create_revision: Revision,
    /// Revision of the last write to the key (for a delete event: the delete's revision).
    pub mod_revision: Revision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A create (`prev` is `None`) or an update.
    Put,
    /// `kv.value` is the last value the key held; `kv.mod_revision` the revision of the delete.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev: Option<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Keys in ascending byte order.
    pub kvs: Vec<KeyValue>,
    /// The revision the list was read at.
    pub revision: Revision,
    /// More keys under the prefix follow the last returned one.
    pub more: bool,
}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

#[derive(Debug, Clone, Default)]
pub struct ListOptions<'a> {
    /// Only keys strictly greater than this one (pagination).
    pub start_after: Option<&'a str>,
    /// At most this many keys; `None` = all.
    pub limit: Option<usize>,
    /// Read the state as of this revision; `None` = the current revision. Below the compacted
    /// revision: `Error::Compacted`. Above the current revision: `Error::FutureRevision`.
    pub revision: Option<Revision>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current revision (of the latest write).
    async fn current_revision(&self) -> Result<Revision>;

    /// The oldest revision that can still be read or watched from.
    async fn compacted_revision(&self) -> Result<Revision>;

    /// The key's latest value, and the current revision.
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)>;

    /// Keys beginning with `prefix`, in ascending order.
    async fn list(&self, prefix: &str, opts: ListOptions<'_>) -> Result<ListResult>;

    /// Number of live keys under `prefix`.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Creates `key`; `Error::AlreadyExists` if it exists. Durable when it returns.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replaces `key` if its `mod_revision` still equals `expected`.
    /// `Error::NotFound` if absent, `Error::Conflict` (carrying the current value) otherwise.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue>;

    /// Deletes `key` (if `expected` is given, only at that `mod_revision`). Returns the
    /// deleted value with `mod_revision` set to the delete's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Events for keys under `prefix` with revision > `after`, in revision order: first the
    /// retained history, then live writes. `Error::Compacted` if `after` is below the
    /// compacted revision.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// Forgets history older than `revision` (the latest version of every key is kept).
    async fn compact(&self, revision: Revision) -> Result<()>;
}
