//! The single writer thread and its group commit.
//!
//! rusqlite is synchronous and SQLite allows one writer at a time, so every write goes to one
//! thread over a channel. The thread takes whatever requests are queued, applies them in
//! one transaction (each still doing its own compare-and-swap check against the rows written
//! before it, in the same transaction), commits once — one fsync for the whole group — and
//! then publishes the events and answers every request. Under load the batch grows while
//! the previous fsync is in flight, so throughput follows the disk's fsync rate.
//!
//! Compaction runs on the same thread in chunks, each its own transaction, with write batches
//! interleaved between chunks so a large compaction does not stall writers.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::read::latest_live;
use super::schema::{set_meta, META_COMPACT, META_REVISION};
use crate::{Error, Event, EventKind, KeyValue, Result, Revision};

/// Rows examined per compaction transaction.
const COMPACT_CHUNK: i64 = 10_000;

pub(super) enum Request {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<KeyValue>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<()>>,
    },
}

pub(super) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

/// Counters the writer publishes for lock-free reads by the store handle.
#[derive(Default)]
pub(super) struct Shared {
    pub current: AtomicI64,
    pub compacted: AtomicI64,
    pub commits: AtomicU64,
    pub metrics: crate::StoreMetrics,
}

impl Shared {
    /// Counters starting from the database's state at open.
    pub fn at(state: &super::schema::State) -> Shared {
        let shared = Shared::default();
        shared.current.store(state.current, Ordering::SeqCst);
        shared.compacted.store(state.compacted, Ordering::SeqCst);
        shared
    }
}

/// The events of one committed transaction, in revision order.
pub(super) struct Batch {
    pub events: Vec<Event>,
    /// The store's revision after the transaction.
    pub revision: Revision,
}

pub(super) struct Writer {
    pub conn: Connection,
    pub requests: mpsc::UnboundedReceiver<Request>,
    pub shared: Arc<Shared>,
    pub events: broadcast::Sender<Arc<Batch>>,
    pub current: Revision,
    pub compacted: Revision,
    pub max_batch: usize,
}

struct Pending {
    op: WriteOp,
    reply: oneshot::Sender<Result<KeyValue>>,
}

struct Compaction {
    target: Revision,
    /// Rows with id <= swept have been examined.
    swept: Revision,
    replies: Vec<oneshot::Sender<Result<()>>>,
    started: Instant,
}

impl Writer {
    pub(super) fn run(mut self) {
        let mut compaction: Option<Compaction> = None;
        loop {
            let mut writes = Vec::new();
            let mut closed = false;
            if compaction.is_none() {
                match self.requests.blocking_recv() {
                    Some(req) => self.accept(req, &mut writes, &mut compaction),
                    None => return,
                }
            }
            while writes.len() < self.max_batch {
                match self.requests.try_recv() {
                    Ok(req) => self.accept(req, &mut writes, &mut compaction),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if !writes.is_empty() {
                self.commit_writes(writes);
            }
            if let Some(c) = compaction.as_mut() {
                if self.compact_step(c) {
                    compaction = None;
                }
            }
            if closed {
                // An unfinished compaction resumes with the next one: sweeps start from the
                // oldest row each time.
                return;
            }
        }
    }

    fn accept(
        &mut self,
        req: Request,
        writes: &mut Vec<Pending>,
        compaction: &mut Option<Compaction>,
    ) {
        match req {
            Request::Write { op, reply } => writes.push(Pending { op, reply }),
            Request::Compact { revision, reply } => {
                self.start_compaction(revision, reply, compaction)
            }
        }
    }

    fn commit_writes(&mut self, writes: Vec<Pending>) {
        let started = Instant::now();
        match apply_batch(&mut self.conn, self.current, &writes) {
            Ok((outcomes, revision)) => {
                self.shared.metrics.commit(started.elapsed(), writes.len());
                self.current = revision;
                self.shared.current.store(revision, Ordering::SeqCst);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                let events: Vec<Event> = outcomes.iter().filter_map(|(_, e)| e.clone()).collect();
                if !events.is_empty() {
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(Arc::new(Batch { events, revision }));
                }
                for (pending, (result, _)) in writes.into_iter().zip(outcomes) {
                    let _ = pending.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = writes.len(), "store write batch failed");
                self.shared.metrics.commit_failures.inc();
                let failed = failure(&e);
                for pending in writes {
                    let _ = pending.reply.send(Err(failed()));
                }
            }
        }
    }

    fn start_compaction(
        &mut self,
        revision: Revision,
        reply: oneshot::Sender<Result<()>>,
        compaction: &mut Option<Compaction>,
    ) {
        if revision > self.current {
            let _ = reply.send(Err(Error::FutureRevision {
                requested: revision,
                current: self.current,
            }));
            return;
        }
        if revision <= self.compacted {
            match compaction {
                Some(c) => c.replies.push(reply),
                None => {
                    let _ = reply.send(Ok(()));
                }
            }
            return;
        }
        // Readers must refuse revisions below the target before any row goes away.
        if let Err(e) = set_meta(&self.conn, META_COMPACT, revision) {
            let _ = reply.send(Err(Error::Commit(e.to_string())));
            return;
        }
        self.compacted = revision;
        self.shared.compacted.store(revision, Ordering::SeqCst);
        match compaction {
            Some(c) => {
                // A higher target supersedes rows the earlier sweep kept: sweep again.
                c.target = revision;
                c.swept = 0;
                c.replies.push(reply);
            }
            None => {
                *compaction = Some(Compaction {
                    target: revision,
                    swept: 0,
                    replies: vec![reply],
                    started: Instant::now(),
                })
            }
        }
    }

    /// One chunk of compaction; true when the compaction is finished.
    fn compact_step(&mut self, c: &mut Compaction) -> bool {
        match sweep_chunk(&mut self.conn, c.swept, c.target) {
            Ok(Some(swept)) => {
                c.swept = swept;
                false
            }
            Ok(None) => {
                self.checkpoint();
                self.shared.metrics.compaction(c.started, true);
                tracing::debug!(revision = c.target, "store compacted");
                for reply in c.replies.drain(..) {
                    let _ = reply.send(Ok(()));
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "store compaction failed");
                self.shared.metrics.compaction(c.started, false);
                let message = e.to_string();
                for reply in c.replies.drain(..) {
                    let _ = reply.send(Err(Error::Commit(message.clone())));
                }
                true
            }
        }
    }

    /// Copies the WAL into the database and truncates it, so the WAL stays small after
    /// compaction freed pages.
    fn checkpoint(&self) {
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            });
        match result {
            Ok((busy, log, done)) if busy != 0 => {
                tracing::debug!(log, done, "wal checkpoint blocked by readers")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "wal checkpoint failed"),
        }
    }
}

/// The error every request of a failed transaction gets: a full disk is told apart, since
/// it is the operator's to fix and passes once space is freed.
fn failure(e: &rusqlite::Error) -> impl Fn() -> Error {
    let full = e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull);
    let message = e.to_string();
    move || {
        if full {
            Error::NoSpace(message.clone())
        } else {
            Error::Commit(message.clone())
        }
    }
}

type Outcome = (Result<KeyValue>, Option<Event>);

fn apply_batch(
    conn: &mut Connection,
    start: Revision,
    writes: &[Pending],
) -> rusqlite::Result<(Vec<Outcome>, Revision)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut revision = start;
    let mut outcomes = Vec::with_capacity(writes.len());
    for pending in writes {
        outcomes.push(apply(&tx, &pending.op, &mut revision)?);
    }
    if revision != start {
        set_meta(&tx, META_REVISION, revision)?;
    }
    tx.commit()?;
    Ok((outcomes, revision))
}

/// Applies one operation; business failures (exists, conflict, ...) are outcomes, only SQL
/// errors abort the batch.
fn apply(conn: &Connection, op: &WriteOp, revision: &mut Revision) -> rusqlite::Result<Outcome> {
    match op {
        WriteOp::Create { key, value } => {
            if latest_live(conn, key)?.is_some() {
                return Ok((Err(Error::AlreadyExists(key.clone())), None));
            }
            let id = *revision + 1;
            insert(
                conn,
                &Row {
                    id,
                    key,
                    value,
                    create_revision: id,
                    prev_revision: 0,
                    deleted: false,
                },
            )?;
            *revision = id;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: id,
                mod_revision: id,
            };
            Ok((
                Ok(kv.clone()),
                Some(Event {
                    kind: EventKind::Put,
                    kv,
                    prev: None,
                }),
            ))
        }
        WriteOp::Update {
            key,
            value,
            expected,
        } => {
            let Some(current) = latest_live(conn, key)? else {
                return Ok((Err(Error::NotFound(key.clone())), None));
            };
            if current.mod_revision != *expected {
                let conflict = Error::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: Box::new(current),
                };
                return Ok((Err(conflict), None));
            }
            let id = *revision + 1;
            let row = Row {
                id,
                key,
                value,
                create_revision: current.create_revision,
                prev_revision: current.mod_revision,
                deleted: false,
            };
            insert(conn, &row)?;
            *revision = id;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: current.create_revision,
                mod_revision: id,
            };
            Ok((
                Ok(kv.clone()),
                Some(Event {
                    kind: EventKind::Put,
                    kv,
                    prev: Some(current),
                }),
            ))
        }
        WriteOp::Delete { key, expected } => {
            let Some(current) = latest_live(conn, key)? else {
                return Ok((Err(Error::NotFound(key.clone())), None));
            };
            if let Some(expected) = *expected {
                if current.mod_revision != expected {
                    let conflict = Error::Conflict {
                        key: key.clone(),
                        expected,
                        current: Box::new(current),
                    };
                    return Ok((Err(conflict), None));
                }
            }
            let id = *revision + 1;
            // The tombstone keeps the last value so delete events can be rebuilt from history.
            let row = Row {
                id,
                key,
                value: &current.value,
                create_revision: current.create_revision,
                prev_revision: current.mod_revision,
                deleted: true,
            };
            insert(conn, &row)?;
            *revision = id;
            let kv = KeyValue {
                mod_revision: id,
                ..current.clone()
            };
            Ok((
                Ok(kv.clone()),
                Some(Event {
                    kind: EventKind::Delete,
                    kv,
                    prev: Some(current),
                }),
            ))
        }
    }
}

struct Row<'a> {
    id: Revision,
    key: &'a str,
    value: &'a Bytes,
    create_revision: Revision,
    prev_revision: Revision,
    deleted: bool,
}

fn insert(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO kv (id, key, value, create_revision, prev_revision, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(rusqlite::params![
        row.id,
        row.key.as_bytes(),
        row.value.as_ref(),
        row.create_revision,
        row.prev_revision,
        row.deleted
    ])?;
    Ok(())
}

/// Deletes, among the next chunk of rows after `swept`, those no read at revision >= `target`
/// can see: rows superseded by a newer row of the same key at or below `target`, and
/// tombstones at or below `target`. Returns the new `swept`, or `None` when done.
fn sweep_chunk(
    conn: &mut Connection,
    swept: Revision,
    target: Revision,
) -> rusqlite::Result<Option<Revision>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let chunk_end: Option<Revision> = tx
        .prepare_cached(
            "SELECT id FROM kv WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT 1 OFFSET ?3",
        )?
        .query_row(rusqlite::params![swept, target, COMPACT_CHUNK - 1], |r| {
            r.get(0)
        })
        .optional()?;
    let end = chunk_end.unwrap_or(target);
    tx.prepare_cached(
        "DELETE FROM kv WHERE id > ?1 AND id <= ?2 AND (
             deleted = 1 OR EXISTS (
                 SELECT 1 FROM kv AS newer
                 WHERE newer.key = kv.key AND newer.id > kv.id AND newer.id <= ?3))",
    )?
    .execute(rusqlite::params![swept, end, target])?;
    tx.commit()?;
    Ok((end < target).then_some(end))
}
