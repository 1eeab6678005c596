//! `/metrics` end to end: `kubectl get --raw /metrics` shows the store's metrics with
//! plausible values that move with writes and compaction, and only the admin and the
//! `system:monitoring` group may read it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Server};

/// Sample lines (`name{labels} value`) by series, comments dropped.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn scrape(s: &Server) -> HashMap<String, f64> {
    samples(&s.kubectl().ok(&["get", "--raw", "/metrics"]))
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no series {series} in {m:#?}"))
}

#[test]
fn store_metrics_move_with_writes_and_compaction() {
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &[
            "--etcd-compaction-interval",
            "1s",
            "--compaction-keep-revisions",
            "5",
        ],
    );
    let before = scrape(&s);
    assert!(
        get(
            &before,
            r#"apiserver_storage_size_bytes{storage_cluster_id="sqlite"}"#
        ) > 0.0
    );
    assert!(get(&before, "skiff_store_wal_size_bytes") >= 0.0);
    // The bootstrap objects were written, and the watch cache follows the store.
    assert!(get(&before, "skiff_store_commit_duration_seconds_count") > 0.0);
    assert!(
        get(&before, "skiff_store_writes_per_commit_sum")
            >= get(&before, "skiff_store_writes_per_commit_count")
    );
    assert!(get(&before, "skiff_store_watches") >= 1.0);
    assert!(
        get(
            &before,
            r#"apiserver_storage_objects{resource="namespaces"}"#
        ) >= 4.0
    );
    // The controllers watch; namespaces are among what they watch.
    let watching: f64 = before
        .iter()
        .filter(|(k, _)| k.starts_with("apiserver_longrunning_requests{"))
        .map(|(_, v)| v)
        .sum();
    assert!(watching >= 1.0, "no watches counted: {before:#?}");

    let cms = r#"apiserver_storage_objects{resource="configmaps"}"#;
    let k = s.kubectl();
    for i in 0..20 {
        k.ok(&[
            "create",
            "configmap",
            &format!("m{i}"),
            "--from-literal=a=b",
        ]);
    }
    let after = scrape(&s);
    assert_eq!(get(&after, cms), get(&before, cms) + 20.0);
    let commits = "skiff_store_commit_duration_seconds_count";
    assert!(
        get(&after, commits) >= get(&before, commits) + 20.0,
        "one commit per sequential create at least"
    );
    assert!(
        get(&after, "skiff_store_writes_per_commit_sum")
            >= get(&before, "skiff_store_writes_per_commit_sum") + 20.0
    );

    // The compactor runs every second and keeps 5 revisions: the writes above give it work.
    let compactions = "skiff_store_compactions_total";
    let first = eventually(
        "a compaction",
        Duration::from_secs(20),
        || scrape(&s),
        |m| m.get(compactions).copied().unwrap_or(0.0) >= 1.0,
    );
    assert!(get(&first, "skiff_store_compaction_duration_seconds_count") >= 1.0);
    for i in 20..30 {
        k.ok(&[
            "create",
            "configmap",
            &format!("m{i}"),
            "--from-literal=a=b",
        ]);
    }
    eventually(
        "another compaction",
        Duration::from_secs(20),
        || scrape(&s),
        |m| m.get(compactions).copied().unwrap_or(0.0) > get(&first, compactions),
    );
    assert_eq!(
        get(&scrape(&s), "skiff_store_compaction_failures_total"),
        0.0
    );
}

#[test]
fn metrics_need_the_monitoring_role() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    let denied = k.fails(&["get", "--raw", "/metrics", "--as=alice"]);
    assert!(
        denied.contains("forbidden") || denied.contains("Forbidden"),
        "{denied}"
    );
    let allowed = k.ok(&[
        "get",
        "--raw",
        "/metrics",
        "--as=prometheus",
        "--as-group=system:monitoring",
    ]);
    assert!(
        allowed.contains("skiff_store_commit_duration_seconds"),
        "{allowed}"
    );
}

/// On etcd the size is the member's database with etcd's cluster id, there is no WAL
/// series, and a compaction this server claims is counted.
#[test]
fn etcd_store_metrics() {
    let etcd = testkit::etcd::EtcdCluster::start(1);
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &[
            "--datastore-endpoint",
            &etcd.endpoints(),
            "--etcd-compaction-interval",
            "1s",
            "--compaction-keep-revisions",
            "5",
        ],
    );
    let m = scrape(&s);
    let (series, size) = m
        .iter()
        .find(|(k, _)| k.starts_with("apiserver_storage_size_bytes{"))
        .unwrap_or_else(|| panic!("no size series: {m:#?}"));
    assert!(*size > 0.0, "{series} {size}");
    assert!(
        !series.contains(r#"storage_cluster_id="sqlite""#),
        "{series}"
    );
    assert!(!series.contains(r#"storage_cluster_id="""#), "{series}");
    assert!(!m.contains_key("skiff_store_wal_size_bytes"));
    assert!(get(&m, "skiff_store_commit_duration_seconds_count") > 0.0);
    assert!(get(&m, "skiff_store_watches") >= 1.0);
    let k = s.kubectl();
    for i in 0..10 {
        k.ok(&["create", "configmap", &format!("e{i}")]);
    }
    eventually(
        "a compaction on etcd",
        Duration::from_secs(20),
        || scrape(&s),
        |m| {
            m.get("skiff_store_compactions_total")
                .copied()
                .unwrap_or(0.0)
                >= 1.0
        },
    );
}
