//! Opening connections: pragmas, schema and the persisted revision counters.
//!
//! The `kv` table is a log like kine's: one row per revision, the row id *is* the revision. A
//! delete appends a tombstone row (`deleted = 1`) that still carries the last value, so a
//! delete event can be rebuilt from history without a join. `meta` holds the current and the
//! compacted revision; the current revision is persisted because the newest row may be a
//! tombstone that compaction removes, and revisions must never be reused.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::SqliteOptions;
use crate::{Result, Revision};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_id ON kv (key, id);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
-- etcd's revision of an empty store is 1, so the first write gets revision 2 and no object
-- ever has resourceVersion 0 (which clients read as \"any\").
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1), ('compact_revision', 0);
";

pub(super) const META_REVISION: &str = "revision";
pub(super) const META_COMPACT: &str = "compact_revision";

/// Revision counters as persisted.
pub(super) struct State {
    pub current: Revision,
    pub compacted: Revision,
}

/// Opens the writer connection, creating the file and schema if needed.
pub(super) fn open_writer(path: &Path, opts: &SqliteOptions) -> Result<(Connection, State)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(opts.busy_timeout)?;
    // journal_mode answers with the mode in effect; it persists in the file.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, path = %path.display(), "sqlite refused WAL journal mode");
    }
    // FULL fsyncs the WAL on every commit: an acknowledged write survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "journal_size_limit", opts.journal_size_limit)?;
    conn.execute_batch(SCHEMA)?;
    let state = load_state(&conn)?;
    Ok((conn, state))
}

/// Opens a connection for reads; the file must already have been created by the writer.
pub(super) fn open_reader(path: &Path, opts: &SqliteOptions) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(opts.busy_timeout)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Opens a connection that SQLite itself refuses to write through: another process (a
/// running server) owns the database, and WAL lets us read beside its writer.
pub(super) fn open_read_only(path: &Path, opts: &SqliteOptions) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(opts.busy_timeout)?;
    Ok(conn)
}

/// Reads the persisted counters through a read-only connection.
pub(super) fn read_state(path: &Path, opts: &SqliteOptions) -> Result<State> {
    load_state(&open_read_only(path, opts)?)
}

/// Raises the database's revision counter to at least `floor` (creating the file if
/// needed), so the next write gets a higher revision. Restoring a snapshot does this
/// before it writes, so resourceVersions clients saw before never come back smaller.
/// Must not run while a store has the file open.
pub fn raise_revision(path: &Path, floor: Revision) -> Result<()> {
    let (conn, state) = open_writer(path, &SqliteOptions::default())?;
    if floor > state.current {
        set_meta(&conn, META_REVISION, floor)?;
    }
    Ok(())
}

fn load_state(conn: &Connection) -> Result<State> {
    let meta = meta_value(conn, META_REVISION)?.unwrap_or(1);
    let max_id: Option<Revision> = conn.query_row("SELECT MAX(id) FROM kv", [], |r| r.get(0))?;
    let compacted = meta_value(conn, META_COMPACT)?.unwrap_or(0);
    Ok(State {
        current: meta.max(max_id.unwrap_or(0)).max(1),
        compacted,
    })
}

pub(super) fn meta_value(conn: &Connection, name: &str) -> Result<Option<i64>> {
    let value = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    Ok(value)
}

pub(super) fn set_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")?
        .execute(rusqlite::params![name, value])?;
    Ok(())
}
