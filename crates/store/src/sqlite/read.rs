//! Reads: a small pool of read-only connections used from `spawn_blocking`, and the queries.
//!
//! Every read runs in one SQLite read transaction, so the data and the `meta` counters it
//! checks against (current and compacted revision) come from the same snapshot.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row};

use super::schema::{meta_value, open_read_only, open_reader, META_COMPACT, META_REVISION};
use super::SqliteOptions;
use crate::keys::{prefix_end, scan_start};
use crate::{Error, Event, EventKind, KeyValue, ListOptions, ListResult, Result, Revision};

pub(super) struct ReadPool {
    path: PathBuf,
    opts: SqliteOptions,
    /// Connections opened with SQLITE_OPEN_READ_ONLY (a database another process writes).
    read_only: bool,
    idle: Mutex<Vec<Connection>>,
}

/// The revision counters as seen by one read transaction.
pub(super) struct Snapshot {
    pub current: Revision,
    pub compacted: Revision,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf, opts: SqliteOptions, read_only: bool) -> Self {
        ReadPool {
            path,
            opts,
            read_only,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` in a read transaction on a pooled connection, off the async runtime.
    pub(super) async fn run<R, F>(self: &Arc<Self>, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &Snapshot) -> Result<R> + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.take()?;
            let result = in_snapshot(&mut conn, f);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|_| Error::Closed)?
    }

    fn take(&self) -> Result<Connection> {
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match conn {
            Some(conn) => Ok(conn),
            None if self.read_only => open_read_only(&self.path, &self.opts),
            None => open_reader(&self.path, &self.opts),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.opts.idle_readers {
            idle.push(conn);
        }
    }
}

fn in_snapshot<R>(
    conn: &mut Connection,
    f: impl FnOnce(&Connection, &Snapshot) -> Result<R>,
) -> Result<R> {
    // Dropping the transaction rolls back, which for a read only ends the snapshot.
    let tx = conn.transaction()?;
    let snapshot = Snapshot {
        current: meta_value(&tx, META_REVISION)?.unwrap_or(1),
        compacted: meta_value(&tx, META_COMPACT)?.unwrap_or(0),
    };
    f(&tx, &snapshot)
}

/// The newest row of `key` if the key is live (its newest row is not a tombstone).
pub(super) fn latest_live(conn: &Connection, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    let row = conn
        .prepare_cached(
            "SELECT id, value, create_revision, deleted FROM kv
             WHERE key = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([key.as_bytes()], |r| {
            let deleted: bool = r.get(3)?;
            if deleted {
                return Ok(None);
            }
            Ok(Some(KeyValue {
                key: key.to_owned(),
                mod_revision: r.get(0)?,
                value: Bytes::from(r.get::<_, Vec<u8>>(1)?),
                create_revision: r.get(2)?,
            }))
        })
        .optional()?;
    Ok(row.flatten())
}

pub(super) fn get(
    conn: &Connection,
    snap: &Snapshot,
    key: &str,
) -> Result<(Option<KeyValue>, Revision)> {
    Ok((latest_live(conn, key)?, snap.current))
}

pub(super) struct ListQuery {
    prefix: String,
    start_after: Option<String>,
    limit: Option<usize>,
    revision: Option<Revision>,
}

impl ListQuery {
    pub(super) fn new(prefix: &str, opts: &ListOptions<'_>) -> Self {
        ListQuery {
            prefix: prefix.to_owned(),
            start_after: opts.start_after.map(str::to_owned),
            limit: opts.limit,
            revision: opts.revision,
        }
    }
}

pub(super) fn list(conn: &Connection, snap: &Snapshot, q: &ListQuery) -> Result<ListResult> {
    let revision = match q.revision {
        Some(rev) if rev > snap.current => {
            return Err(Error::FutureRevision {
                requested: rev,
                current: snap.current,
            })
        }
        Some(rev) if rev < snap.compacted => {
            return Err(Error::Compacted {
                requested: rev,
                compacted: snap.compacted,
            })
        }
        Some(rev) => rev,
        None => snap.current,
    };
    // One more row than asked for tells whether more keys follow.
    let fetch = q
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX - 1) + 1);
    // The correlated MAX picks each key's newest row as of `revision`; walking the (key, id)
    // index in key order lets LIMIT stop the scan early, which keeps pages cheap.
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.key, r.value, r.create_revision FROM kv AS r
         WHERE r.key >= ?1 AND r.key < ?2 AND r.id <= ?3 AND r.deleted = 0
           AND r.id = (SELECT MAX(k.id) FROM kv AS k WHERE k.key = r.key AND k.id <= ?3)
         ORDER BY r.key LIMIT ?4",
    )?;
    let start = scan_start(&q.prefix, q.start_after.as_deref());
    let end = prefix_end(&q.prefix);
    let mut kvs = stmt
        .query_map(rusqlite::params![start, end, revision, fetch], kv_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = q.limit.is_some_and(|l| kvs.len() > l);
    if let Some(limit) = q.limit {
        kvs.truncate(limit);
    }
    Ok(ListResult {
        kvs,
        revision,
        more,
    })
}

pub(super) fn count(conn: &Connection, prefix: &str) -> Result<i64> {
    let n = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM kv AS r
             WHERE r.key >= ?1 AND r.key < ?2 AND r.deleted = 0
               AND r.id = (SELECT MAX(k.id) FROM kv AS k WHERE k.key = r.key)",
        )?
        .query_row(
            rusqlite::params![prefix.as_bytes(), prefix_end(prefix)],
            |r| r.get(0),
        )?;
    Ok(n)
}

/// A page of history for a watcher.
pub(super) struct HistoryPage {
    pub events: Vec<Event>,
    /// Every revision up to here has been looked at (events for other keys are skipped).
    pub last: Revision,
    /// The page reached the snapshot's current revision.
    pub complete: bool,
}

/// Events under `prefix` with revision in `(after, current]`, at most `page` of them.
pub(super) fn history(
    conn: &Connection,
    snap: &Snapshot,
    prefix: &str,
    after: Revision,
    page: usize,
) -> Result<HistoryPage> {
    if after < snap.compacted {
        return Err(Error::Compacted {
            requested: after,
            compacted: snap.compacted,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT r.id, r.key, r.value, r.create_revision, r.prev_revision, r.deleted,
                p.value, p.create_revision
         FROM kv AS r LEFT JOIN kv AS p ON p.id = r.prev_revision
         WHERE r.id > ?1 AND r.id <= ?2 AND r.key >= ?3 AND r.key < ?4
         ORDER BY r.id LIMIT ?5",
    )?;
    let limit = i64::try_from(page).unwrap_or(i64::MAX);
    let events = stmt
        .query_map(
            rusqlite::params![
                after,
                snap.current,
                prefix.as_bytes(),
                prefix_end(prefix),
                limit
            ],
            event_from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if events.len() < page {
        Ok(HistoryPage {
            events,
            last: after.max(snap.current),
            complete: true,
        })
    } else {
        let last = events.last().map_or(after, |e| e.kv.mod_revision);
        Ok(HistoryPage {
            events,
            last,
            complete: false,
        })
    }
}

fn key_from(bytes: Vec<u8>) -> String {
    // Keys are only ever written from `&str`, so the lossy path never runs on our own data.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn kv_from_row(r: &Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        mod_revision: r.get(0)?,
        key: key_from(r.get(1)?),
        value: Bytes::from(r.get::<_, Vec<u8>>(2)?),
        create_revision: r.get(3)?,
    })
}

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<Event> {
    let kv = kv_from_row(r)?;
    let prev_revision: Revision = r.get(4)?;
    let deleted: bool = r.get(5)?;
    if deleted {
        // A tombstone carries the value it deleted, which is exactly the previous version.
        let prev = KeyValue {
            mod_revision: prev_revision,
            ..kv.clone()
        };
        return Ok(Event {
            kind: EventKind::Delete,
            kv,
            prev: Some(prev),
        });
    }
    let prev_value: Option<Vec<u8>> = r.get(6)?;
    let prev_create: Option<Revision> = r.get(7)?;
    let prev = match (prev_value, prev_create) {
        (Some(value), Some(create_revision)) => Some(KeyValue {
            key: kv.key.clone(),
            value: Bytes::from(value),
            create_revision,
            mod_revision: prev_revision,
        }),
        _ => None,
    };
    Ok(Event {
        kind: EventKind::Put,
        kv,
        prev,
    })
}
