//! Backups of any [`Store`]: every key read at one revision, written to a file in our own
//! format ([`format`]), and restored into an empty store of either backend.
//!
//! **Save** reads the whole key space in pages, every page at the revision the first page
//! was read at, so the snapshot is consistent while writers keep going. If compaction
//! passes that revision before the last page (a snapshot slower than the compaction
//! window), the save starts over at a newer revision. It writes `FILE.tmp`, fsyncs it,
//! renames it to `FILE` and fsyncs the directory: a crash leaves the old file or the new
//! one, never half of one.
//!
//! **Restore** first reads the file through once to check it (checksum, key count), then
//! creates the keys in the file's (key) order, a window of them in flight at a time. The
//! values are copied byte for byte, so objects keep uid, spec and status, and values
//! encrypted at rest stay encrypted. Revisions are the target's: keys get new create/mod
//! revisions; the SQLite CLI path raises the new database's counter above the snapshot's
//! revision first so resourceVersions never go backwards (`sqlite::raise_revision`), while
//! etcd's API cannot set revisions, so on etcd they start over.
//!
//! `/skiff/compact-revision` (one store's compaction bookkeeping) is left out; everything
//! else, `/skiff/bootstrap` included, is kept.

pub mod format;

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;

use crate::etcd::COMPACT_KEY;
use crate::{Error, ListOptions, Store};
pub use format::{Header, Record};

/// Keys read per page while saving.
pub const DEFAULT_PAGE: usize = 1000;
/// Creates in flight while restoring.
pub const DEFAULT_WINDOW: usize = 256;
/// Saves started over after compaction overtook them.
const SAVE_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format: {0}")]
    Format(String),
    #[error("snapshot is truncated ({0})")]
    Truncated(String),
    #[error("snapshot checksum does not match: the file is corrupt")]
    Checksum,
    #[error("the target store is not empty: {0}")]
    NotEmpty(String),
    #[error(transparent)]
    Store(#[from] Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// What a save or restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: Header,
    /// Bytes in the snapshot file.
    pub bytes: u64,
}

/// Saves a consistent snapshot of `store` to `path`. `source` names the backend in the
/// header ("sqlite", "etcd").
pub async fn save(
    store: &dyn Store,
    source: &str,
    path: &Path,
    page: usize,
) -> Result<Summary, SnapshotError> {
    let tmp = tmp_path(path);
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match save_once(store, source, &tmp, page.max(1)).await {
            Err(SnapshotError::Store(Error::Compacted { requested, .. }))
                if attempt < SAVE_ATTEMPTS =>
            {
                tracing::warn!(
                    revision = requested,
                    "compaction overtook the snapshot; starting over"
                );
            }
            other => break other,
        }
    };
    let header = match result {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path)?;
    sync_dir(path)?;
    let bytes = std::fs::metadata(path)?.len();
    Ok(Summary { header, bytes })
}

async fn save_once(
    store: &dyn Store,
    source: &str,
    tmp: &Path,
    page: usize,
) -> Result<Header, SnapshotError> {
    let opts = ListOptions {
        limit: Some(page),
        ..Default::default()
    };
    let first = store.list("", opts).await?;
    let mut header = Header {
        version: format::VERSION,
        source: source.to_owned(),
        revision: first.revision,
        key_count: 0,
        created_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    let placeholder = header.encode()?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
    out.write_all(&placeholder)?;
    let mut enc = format::Encoder::new(out);
    let mut batch = first;
    loop {
        for kv in &batch.kvs {
            if kv.key != COMPACT_KEY {
                enc.record(&kv.key, &kv.value, kv.create_revision, kv.mod_revision)?;
            }
        }
        let Some(last) = batch.kvs.last().filter(|_| batch.more) else {
            break;
        };
        let last = last.key.clone();
        let opts = ListOptions {
            start_after: Some(&last),
            limit: Some(page),
            revision: Some(header.revision),
        };
        batch = store.list("", opts).await?;
    }
    header.key_count = enc.count();
    let final_header = header.encode()?;
    let out = enc.finish(&final_header)?;
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&final_header)?;
    file.sync_all()?;
    Ok(header)
}

/// Checks a snapshot file through to its checksum.
pub fn verify(path: &Path) -> Result<Header, SnapshotError> {
    format::verify(BufReader::with_capacity(1 << 20, File::open(path)?))
}

/// Whether `store` already holds a cluster: objects under `/registry/` or skiff's sealed
/// cluster secrets.
pub async fn ensure_empty(store: &dyn Store) -> Result<(), SnapshotError> {
    let objects = store.count("/registry/").await?;
    if objects > 0 {
        return Err(SnapshotError::NotEmpty(format!(
            "it holds {objects} keys under /registry/"
        )));
    }
    if store.get(BOOTSTRAP_KEY).await?.0.is_some() {
        return Err(SnapshotError::NotEmpty(format!(
            "it holds {BOOTSTRAP_KEY} (another cluster's secrets)"
        )));
    }
    Ok(())
}

/// Where skiff servers on a shared datastore keep the cluster's sealed secrets.
pub const BOOTSTRAP_KEY: &str = "/skiff/bootstrap";

/// Restores the snapshot at `path` into `target`, which must be empty ([`ensure_empty`]).
/// `window` creates are in flight at a time.
pub async fn restore(
    path: &Path,
    target: &dyn Store,
    window: usize,
) -> Result<Summary, SnapshotError> {
    let header = verify(path)?;
    ensure_empty(target).await?;
    let mut decoder = format::Decoder::new(BufReader::with_capacity(1 << 20, File::open(path)?))?;
    // The file was checked a moment ago; a decode error now means it changed under us.
    let records = futures::stream::iter(std::iter::from_fn(move || {
        decoder.next_record().transpose()
    }));
    records
        .try_filter(|r| futures::future::ready(r.key != COMPACT_KEY))
        .map_ok(|r| async move {
            target
                .create(&r.key, Bytes::from(r.value))
                .await
                .map_err(SnapshotError::from)
        })
        .try_buffered(window.max(1))
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await?;
    let bytes = std::fs::metadata(path)?.len();
    Ok(Summary { header, bytes })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Makes the rename durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
