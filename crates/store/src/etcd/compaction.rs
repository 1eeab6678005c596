//! Compaction shared by every API server on one etcd.
//!
//! etcd does not say how far it has been compacted, so the revision is recorded in
//! [`COMPACT_KEY`], written in the same guarded step that claims the compaction. Like
//! upstream's apiservers, each server's compactor looks at that key once per interval and
//! compacts only if nobody else did since its last look, so a cluster compacts about once
//! per interval however many servers it has.

use std::sync::{Arc, Weak};
use std::time::Duration;

use etcd_client::{CompactionOptions, Compare, CompareOp, TxnOp};

use super::EtcdStore;
use crate::{Error, Result, Revision, Store};

/// The revision up to which etcd was compacted, as decimal text.
pub const COMPACT_KEY: &str = "/skiff/compact-revision";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Recorded {
    /// Compacted revision (0: never compacted).
    pub revision: Revision,
    /// The key's own mod_revision, the guard of the next claim (0: absent).
    pub key_revision: Revision,
}

pub(super) async fn read(store: &EtcdStore) -> Result<Recorded> {
    let resp = store.range(COMPACT_KEY.into(), None).await?;
    let Some(kv) = resp.kvs().first() else {
        return Ok(Recorded {
            revision: 0,
            key_revision: 0,
        });
    };
    let revision = std::str::from_utf8(kv.value())
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::Corrupt(format!("{COMPACT_KEY} does not hold a revision")))?;
    Ok(Recorded {
        revision,
        key_revision: kv.mod_revision(),
    })
}

/// Records `revision` if the key is still as `seen`, then compacts etcd to it. `false` if
/// another server claimed a compaction first.
async fn claim_and_compact(store: &EtcdStore, seen: Recorded, revision: Revision) -> Result<bool> {
    let txn = etcd_client::Txn::new()
        .when([Compare::mod_revision(
            COMPACT_KEY,
            CompareOp::Equal,
            seen.key_revision,
        )])
        .and_then([TxnOp::put(COMPACT_KEY, revision.to_string(), None)]);
    let claimed = store
        .kv_call(|mut kv| {
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await?;
    if !claimed.succeeded() {
        return Ok(false);
    }
    let opts = CompactionOptions::new().with_physical();
    let started = std::time::Instant::now();
    let compacted = store
        .kv_call(|mut kv| {
            let opts = opts.clone();
            async move { kv.compact(revision, Some(opts)).await }
        })
        .await;
    store.metrics.compaction(started, compacted.is_ok());
    match compacted {
        Ok(_) | Err(Error::Compacted { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

pub(super) async fn compact(store: &EtcdStore, revision: Revision) -> Result<()> {
    let current = store.current_revision().await?;
    if revision > current {
        return Err(Error::FutureRevision {
            requested: revision,
            current,
        });
    }
    loop {
        let seen = read(store).await?;
        if revision <= seen.revision {
            return Ok(());
        }
        if claim_and_compact(store, seen, revision).await? {
            return Ok(());
        }
        // Someone else compacted meanwhile; look again (their revision may be enough).
    }
}

impl EtcdStore {
    /// Compacts to `current - keep` every `interval` unless another server did since the
    /// last tick. Stops once the store is dropped.
    pub fn spawn_compactor(
        self: &Arc<Self>,
        interval: Duration,
        keep: i64,
    ) -> tokio::task::JoinHandle<()> {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = crate::compaction_ticker(interval).await;
            let mut last_seen: Option<Recorded> = None;
            loop {
                ticker.tick().await;
                match tick(&store, last_seen, keep).await {
                    Some(Ok(seen)) => last_seen = Some(seen),
                    Some(Err(e)) => tracing::warn!(error = %e, "etcd compaction failed"),
                    None => return,
                }
            }
        })
    }
}

/// One compactor tick; what the key said afterwards, or `None` once the store is gone.
async fn tick(
    store: &Weak<EtcdStore>,
    last_seen: Option<Recorded>,
    keep: i64,
) -> Option<Result<Recorded>> {
    let store = store.upgrade()?;
    let step = async {
        let seen = read(&store).await?;
        if last_seen.is_some_and(|last| last != seen) {
            // Another server compacted during our interval; wait a full interval from here.
            return Ok(seen);
        }
        let target = store.current_revision().await? - keep;
        if target > seen.revision && claim_and_compact(&store, seen, target).await? {
            tracing::info!(revision = target, "compacted etcd");
        }
        read(&store).await
    };
    Some(step.await)
}
