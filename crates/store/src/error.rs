use crate::{KeyValue, Revision};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {key} was modified (expected revision {expected}, found {})", current.mod_revision)]
    Conflict {
        key: String,
        expected: Revision,
        current: Box<KeyValue>,
    },
    #[error("revision {requested} has been compacted (oldest available: {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("revision {requested} is in the future (current: {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    #[error("store is closed")]
    Closed,
    /// A write transaction (or compaction step) failed as a whole; every request that shared
    /// it gets this error and none of them took effect.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The disk (SQLite) or the quota (etcd's space alarm) is full: writes fail, reads still
    /// work, and writes work again once space is freed. Nothing of the failed write was kept.
    #[error("store is out of space: {0}")]
    NoSpace(String),
    /// The backend cannot be reached or has no quorum; the same request may work later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer in time; the request may or may not have taken effect.
    #[error("store timeout: {0}")]
    Timeout(String),
    /// Data the store returned is not what this crate writes (e.g. a key that is not UTF-8).
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
    /// Any other error the backend reported.
    #[error("{0}")]
    Backend(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
