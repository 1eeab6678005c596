//! SQLite backend of [`Store`].
//!
//! Layout: `schema` (file, pragmas, tables), `writer` (the one writer thread with group
//! commit and chunked compaction), `read` (pooled read connections and the queries), `watch`
//! (history-then-live streams); prefix ranges are the crate's `keys`.
//!
//! **Architecture Invariant:** only the writer thread writes to the database; reads never
//! block it (WAL) and it never waits for a reader except in the post-compaction checkpoint.

mod disk_rate;
pub use disk_rate::raw_commit_rate;
mod observe;
pub use schema::raise_revision;
mod read;
mod schema;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};

use self::read::{ListQuery, ReadPool};
use self::watch::Watcher;
use self::writer::{Batch, Request, Shared, WriteOp, Writer};
use crate::{Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream};

/// Tuning knobs; the defaults suit the apiserver.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Most write requests committed in one transaction.
    pub max_batch: usize,
    /// Committed transactions buffered for live watchers; a watcher further behind rereads
    /// history from the database.
    pub watch_buffer: usize,
    /// Read connections kept open between reads.
    pub idle_readers: usize,
    /// How long a connection waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// Size, in bytes, the WAL file is truncated to after a checkpoint.
    pub journal_size_limit: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: 1024,
            watch_buffer: 1024,
            idle_readers: 4,
            busy_timeout: Duration::from_secs(5),
            journal_size_limit: 64 << 20,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    requests: mpsc::UnboundedSender<Request>,
    reads: Arc<ReadPool>,
    shared: Arc<Shared>,
    events: broadcast::Sender<Arc<Batch>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options.
    pub async fn open(path: &Path) -> Result<Arc<SqliteStore>> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    pub async fn open_with(path: &Path, opts: SqliteOptions) -> Result<Arc<SqliteStore>> {
        let path = path.to_path_buf();
        let (conn, state) = {
            let (path, opts) = (path.clone(), opts.clone());
            tokio::task::spawn_blocking(move || schema::open_writer(&path, &opts))
                .await
                .map_err(|_| Error::Closed)??
        };
        let shared = Arc::new(Shared::at(&state));
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(opts.watch_buffer.max(1));
        let writer = Writer {
            conn,
            requests: requests_rx,
            shared: Arc::clone(&shared),
            events: events.clone(),
            current: state.current,
            compacted: state.compacted,
            max_batch: opts.max_batch.max(1),
        };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run())?;
        let reads = Arc::new(ReadPool::new(path.clone(), opts, false));
        Ok(Arc::new(SqliteStore {
            path,
            requests,
            reads,
            shared,
            events,
        }))
    }

    /// Opens a database that another process (a running server) may be writing, for reads
    /// only: no writer thread starts, every connection is SQLITE_OPEN_READ_ONLY, writes fail
    /// with [`Error::Closed`], and `current_revision` is the one at open (a list without a
    /// revision still reads the newest state). For `skiff snapshot save`.
    pub async fn open_read_only(path: &Path) -> Result<Arc<SqliteStore>> {
        let opts = SqliteOptions::default();
        let path = path.to_path_buf();
        let state = {
            let (path, opts) = (path.clone(), opts.clone());
            tokio::task::spawn_blocking(move || schema::read_state(&path, &opts))
                .await
                .map_err(|_| Error::Closed)??
        };
        let shared = Arc::new(Shared::at(&state));
        // No writer: the receiver is dropped, so a write is answered with `Closed`.
        let (requests, _) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1);
        let reads = Arc::new(ReadPool::new(path.clone(), opts, true));
        Ok(Arc::new(SqliteStore {
            path,
            requests,
            reads,
            shared,
            events,
        }))
    }

    /// Write transactions committed since open (compaction chunks not included). Concurrent
    /// writes share transactions, so this grows slower than the number of writes.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Compacts to `current - keep` every `interval`, keeping that many revisions of history
    /// for watchers that reconnect. Stops once the store is dropped.
    pub fn spawn_compactor(
        self: &Arc<Self>,
        interval: Duration,
        keep: i64,
    ) -> tokio::task::JoinHandle<()> {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = crate::compaction_ticker(interval).await;
            loop {
                ticker.tick().await;
                let Some(store) = store.upgrade() else { return };
                let target = store.shared.current.load(Ordering::SeqCst) - keep;
                if target <= store.shared.compacted.load(Ordering::SeqCst) {
                    continue;
                }
                if let Err(e) = store.compact(target).await {
                    tracing::warn!(error = %e, revision = target, "periodic compaction failed");
                }
            }
        })
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Write { op, reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.current.load(Ordering::SeqCst))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.shared.compacted.load(Ordering::SeqCst))
    }

    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let key = key.to_owned();
        self.reads
            .run(move |conn, snap| read::get(conn, snap, &key))
            .await
    }

    async fn list(&self, prefix: &str, opts: ListOptions<'_>) -> Result<ListResult> {
        let query = ListQuery::new(prefix, &opts);
        self.reads
            .run(move |conn, snap| read::list(conn, snap, &query))
            .await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let prefix = prefix.to_owned();
        self.reads
            .run(move |conn, _| read::count(conn, &prefix))
            .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe first: whatever commits while history is read waits in the receiver.
        let live = self.events.subscribe();
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if after < compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted,
            });
        }
        let stream = Watcher::new(Arc::clone(&self.reads), live, prefix, after).into_stream();
        Ok(self.shared.metrics.count_watch(stream))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Compact { revision, reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}
