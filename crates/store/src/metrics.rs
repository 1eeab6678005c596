//! What a store backend measures about itself, for the apiserver's `/metrics`.
//!
//! The backends update one [`StoreMetrics`] (cheap atomic counters and histograms, shared
//! by clone); the apiserver registers them in its Prometheus registry and, per scrape, asks
//! [`Observe::sizes`] for the figures that are read rather than counted.
//!
//! **Architecture Invariant:** nothing here knows the exposition format or HTTP; the
//! apiserver names and renders the metrics.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::{Result, WatchStream};

/// Counters and histograms one store updates. Clones share the same values.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// Seconds per write transaction: a SQLite group commit including its fsync, or one etcd
    /// write request.
    pub commit_duration: Histogram,
    /// Write requests that shared one transaction (always 1 on etcd).
    pub writes_per_commit: Histogram,
    /// Write transactions that failed as a whole (disk full, I/O error, etcd unreachable).
    pub commit_failures: Counter,
    /// Compactions this process finished.
    pub compactions: Counter,
    /// Compactions that failed.
    pub compaction_failures: Counter,
    /// Seconds from a compaction's start to its end (SQLite: all chunks and the checkpoint).
    pub compaction_duration: Histogram,
    /// Store watches open now (the apiserver's watch cache holds one).
    pub watches: Gauge,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            // 0.25 ms .. 8 s: an fsync on a fast SSD up to a stalled disk.
            commit_duration: Histogram::new(exponential_buckets(0.000_25, 2.0, 16)),
            // 1 .. 1024, the SQLite writer's default largest batch.
            writes_per_commit: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_failures: Counter::default(),
            compactions: Counter::default(),
            compaction_failures: Counter::default(),
            // 1 ms .. ~65 s.
            compaction_duration: Histogram::new(exponential_buckets(0.001, 4.0, 9)),
            watches: Gauge::default(),
        }
    }
}

impl StoreMetrics {
    /// Records one successful write transaction of `writes` requests.
    pub fn commit(&self, took: Duration, writes: usize) {
        self.commit_duration.observe(took.as_secs_f64());
        self.writes_per_commit.observe(writes as f64);
    }

    /// Records the end of a compaction that began at `started`.
    pub fn compaction(&self, started: Instant, ok: bool) {
        if ok {
            self.compactions.inc();
            self.compaction_duration
                .observe(started.elapsed().as_secs_f64());
        } else {
            self.compaction_failures.inc();
        }
    }

    /// `stream`, counted in [`StoreMetrics::watches`] until it is dropped.
    pub fn count_watch(&self, stream: WatchStream) -> WatchStream {
        let open = OpenWatch::new(self.watches.clone());
        Box::pin(stream.map(move |ev| {
            let _ = &open;
            ev
        }))
    }
}

/// Holds one unit of the open-watches gauge.
struct OpenWatch(Gauge);

impl OpenWatch {
    fn new(gauge: Gauge) -> OpenWatch {
        gauge.inc();
        OpenWatch(gauge)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The store's size on disk, read when metrics are scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageSizes {
    /// Bytes of the database (SQLite's main file; etcd's backend db of the member asked).
    pub db_bytes: i64,
    /// Bytes of the write-ahead log (SQLite's `-wal` file; etcd does not report its WAL).
    pub wal_bytes: Option<i64>,
    /// Which storage this is: etcd's cluster id in hex, `sqlite` for the embedded store.
    pub cluster_id: String,
}

/// A store that reports metrics; both backends implement it.
#[async_trait]
pub trait Observe: Send + Sync + 'static {
    fn metrics(&self) -> &StoreMetrics;
    async fn sizes(&self) -> Result<StorageSizes>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watch_gauge_follows_stream_lifetime() {
        let m = StoreMetrics::default();
        let a = m.count_watch(Box::pin(futures::stream::empty()));
        let b = m.count_watch(Box::pin(futures::stream::empty()));
        assert_eq!(m.watches.get(), 2);
        drop(a);
        assert_eq!(m.watches.get(), 1);
        drop(b);
        assert_eq!(m.watches.get(), 0);
    }
}
