//! `/metrics` in Prometheus text format: the store's own metrics (database and WAL size,
//! commit latency, writes per commit, compactions, open store watches) and the apiserver's
//! (objects per resource from the watch cache, watch connections being served).
//!
//! Upstream's names where upstream has the metric (`apiserver_storage_size_bytes`,
//! `apiserver_storage_objects`, `apiserver_longrunning_requests`), `skiff_store_*`
//! otherwise. Reading it needs `get` on the non-resource URL `/metrics` (the
//! `system:monitoring` role), which authorization checks before this runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use store::{Observe, StorageSizes, StoreMetrics};

use crate::body::{self, Body};
use crate::Api;

type Labels = Vec<(String, String)>;

/// The metrics one apiserver keeps beside its store's.
pub(crate) struct ApiMetrics {
    store: Arc<dyn Observe>,
    longrunning: Family<Labels, Gauge>,
}

impl ApiMetrics {
    pub(crate) fn new(store: Arc<dyn Observe>) -> ApiMetrics {
        ApiMetrics {
            store,
            longrunning: Family::default(),
        }
    }

    /// Counts a watch of `info`'s resource in `apiserver_longrunning_requests` while the
    /// returned guard lives.
    pub(crate) fn watch_started(
        &self,
        info: &registry::ResourceInfo,
        namespaced: bool,
    ) -> LongRunning {
        let labels = vec![
            ("verb".to_string(), "WATCH".to_string()),
            ("group".to_string(), info.group.to_string()),
            ("version".to_string(), info.version.to_string()),
            ("resource".to_string(), info.plural.to_string()),
            (
                "scope".to_string(),
                if namespaced { "namespace" } else { "cluster" }.to_string(),
            ),
        ];
        self.longrunning.get_or_create(&labels).inc();
        LongRunning {
            family: self.longrunning.clone(),
            labels,
        }
    }
}

/// One request counted in `apiserver_longrunning_requests` until dropped.
pub(crate) struct LongRunning {
    family: Family<Labels, Gauge>,
    labels: Labels,
}

impl Drop for LongRunning {
    fn drop(&mut self) {
        self.family.get_or_create(&self.labels).dec();
    }
}

/// The response for `/metrics`, or `None` for any other path.
pub(crate) async fn respond(api: &Api, path: &str) -> Option<Response<Body>> {
    if path != "/metrics" {
        return None;
    }
    let sizes = match api.metrics.store.sizes().await {
        Ok(s) => Some(s),
        Err(e) => {
            // The rest is still worth having; the size series are missing until it works.
            tracing::warn!(error = %e, "reading the store's size for /metrics");
            None
        }
    };
    let scrape = Scrape {
        store: api.metrics.store.metrics(),
        sizes,
        objects: object_counts(api),
        longrunning: &api.metrics.longrunning,
    };
    Some(body::bytes_response(
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        render(&scrape).into_bytes(),
    ))
}

/// Live objects per resource (`pods`, `deployments.apps`), from the watch cache.
fn object_counts(api: &Api) -> BTreeMap<String, i64> {
    let custom = api.custom.snapshot();
    let infos = registry::catalog::all()
        .iter()
        .chain(custom.resources.iter().map(|s| s.info));
    let mut out = BTreeMap::new();
    for info in infos {
        let name = if info.group.is_empty() {
            info.plural.to_string()
        } else {
            format!("{}.{}", info.plural, info.group)
        };
        if out.contains_key(&name) {
            // Another version of the same resource: the same stored objects.
            continue;
        }
        let count = api
            .cache
            .count(&format!("/registry/{}/", info.storage_prefix));
        out.insert(name, count as i64);
    }
    out
}

/// Everything one scrape shows.
struct Scrape<'a> {
    store: &'a StoreMetrics,
    sizes: Option<StorageSizes>,
    objects: BTreeMap<String, i64>,
    longrunning: &'a Family<Labels, Gauge>,
}

fn render(s: &Scrape<'_>) -> String {
    let mut reg = Registry::default();
    let m = s.store;
    if let Some(sizes) = &s.sizes {
        let size: Family<Labels, Gauge> = Family::default();
        size.get_or_create(&vec![(
            "storage_cluster_id".to_string(),
            sizes.cluster_id.clone(),
        )])
        .set(sizes.db_bytes);
        reg.register(
            "apiserver_storage_size_bytes",
            "Size of the storage database file physically allocated in bytes",
            size,
        );
        if let Some(wal) = sizes.wal_bytes {
            let g: Gauge = Gauge::default();
            g.set(wal);
            reg.register(
                "skiff_store_wal_size_bytes",
                "Size of the SQLite write-ahead log in bytes",
                g,
            );
        }
    }
    reg.register(
        "skiff_store_commit_duration_seconds",
        "Seconds per store write transaction (SQLite group commit with fsync, or etcd write)",
        m.commit_duration.clone(),
    );
    reg.register(
        "skiff_store_writes_per_commit",
        "Write requests committed together in one store transaction",
        m.writes_per_commit.clone(),
    );
    reg.register(
        "skiff_store_commit_failures",
        "Store write transactions that failed as a whole",
        m.commit_failures.clone(),
    );
    reg.register(
        "skiff_store_compactions",
        "Store compactions this server finished",
        m.compactions.clone(),
    );
    reg.register(
        "skiff_store_compaction_failures",
        "Store compactions that failed",
        m.compaction_failures.clone(),
    );
    reg.register(
        "skiff_store_compaction_duration_seconds",
        "Seconds per store compaction",
        m.compaction_duration.clone(),
    );
    reg.register(
        "skiff_store_watches",
        "Store watches open in this server",
        m.watches.clone(),
    );
    let objects: Family<Labels, Gauge> = Family::default();
    for (resource, n) in &s.objects {
        objects
            .get_or_create(&vec![("resource".to_string(), resource.clone())])
            .set(*n);
    }
    reg.register(
        "apiserver_storage_objects",
        "Number of stored objects per resource",
        objects,
    );
    reg.register(
        "apiserver_longrunning_requests",
        "Long-running requests (watches) being served, per resource",
        s.longrunning.clone(),
    );
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &reg) {
        tracing::warn!(error = %e, "encoding /metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    /// Every line but the histogram buckets, which only repeat the bounds.
    fn summary(s: &Scrape<'_>) -> String {
        render(s)
            .lines()
            .filter(|l| !l.contains("_bucket{"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn renders_store_and_api_metrics() {
        let store = StoreMetrics::default();
        store.commit(std::time::Duration::from_millis(3), 5);
        store.commit(std::time::Duration::from_millis(1), 1);
        store.compaction(std::time::Instant::now(), true);
        store.commit_failures.inc();
        let _watch = store.count_watch(Box::pin(futures::stream::empty()));
        let longrunning: Family<Labels, Gauge> = Family::default();
        longrunning
            .get_or_create(&vec![("verb".to_string(), "WATCH".to_string())])
            .set(2);
        let scrape = Scrape {
            store: &store,
            sizes: Some(StorageSizes {
                db_bytes: 4096,
                wal_bytes: Some(8192),
                cluster_id: "sqlite".into(),
            }),
            // One resource: a family's series come out in hash order.
            objects: [("pods".to_string(), 3)].into_iter().collect(),
            longrunning: &longrunning,
        };
        let text = summary(&scrape);
        // Durations vary; only their presence is fixed.
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("skiff_store_commit_duration_seconds_sum")
                    || l.starts_with("skiff_store_compaction_duration_seconds_sum")
                {
                    format!("{} <seconds>\n", l.split(' ').next().unwrap_or(""))
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        expect![[r##"
            # HELP apiserver_storage_size_bytes Size of the storage database file physically allocated in bytes.
            # TYPE apiserver_storage_size_bytes gauge
            apiserver_storage_size_bytes{storage_cluster_id="sqlite"} 4096
            # HELP skiff_store_wal_size_bytes Size of the SQLite write-ahead log in bytes.
            # TYPE skiff_store_wal_size_bytes gauge
            skiff_store_wal_size_bytes 8192
            # HELP skiff_store_commit_duration_seconds Seconds per store write transaction (SQLite group commit with fsync, or etcd write).
            # TYPE skiff_store_commit_duration_seconds histogram
            skiff_store_commit_duration_seconds_sum <seconds>
            skiff_store_commit_duration_seconds_count 2
            # HELP skiff_store_writes_per_commit Write requests committed together in one store transaction.
            # TYPE skiff_store_writes_per_commit histogram
            skiff_store_writes_per_commit_sum 6.0
            skiff_store_writes_per_commit_count 2
            # HELP skiff_store_commit_failures Store write transactions that failed as a whole.
            # TYPE skiff_store_commit_failures counter
            skiff_store_commit_failures_total 1
            # HELP skiff_store_compactions Store compactions this server finished.
            # TYPE skiff_store_compactions counter
            skiff_store_compactions_total 1
            # HELP skiff_store_compaction_failures Store compactions that failed.
            # TYPE skiff_store_compaction_failures counter
            skiff_store_compaction_failures_total 0
            # HELP skiff_store_compaction_duration_seconds Seconds per store compaction.
            # TYPE skiff_store_compaction_duration_seconds histogram
            skiff_store_compaction_duration_seconds_sum <seconds>
            skiff_store_compaction_duration_seconds_count 1
            # HELP skiff_store_watches Store watches open in this server.
            # TYPE skiff_store_watches gauge
            skiff_store_watches 1
            # HELP apiserver_storage_objects Number of stored objects per resource.
            # TYPE apiserver_storage_objects gauge
            apiserver_storage_objects{resource="pods"} 3
            # HELP apiserver_longrunning_requests Long-running requests (watches) being served, per resource.
            # TYPE apiserver_longrunning_requests gauge
            apiserver_longrunning_requests{verb="WATCH"} 2
            # EOF
        "##]].assert_eq(&text);
        assert!(render(&scrape).contains("skiff_store_writes_per_commit_bucket{le=\"8.0\"} 2"));
    }

    #[test]
    fn no_size_series_without_sizes() {
        let store = StoreMetrics::default();
        let longrunning: Family<Labels, Gauge> = Family::default();
        let text = render(&Scrape {
            store: &store,
            sizes: None,
            objects: BTreeMap::new(),
            longrunning: &longrunning,
        });
        assert!(!text.contains("apiserver_storage_size_bytes"));
        assert!(text.contains("skiff_store_watches 0"));
    }
}
