//! The conformance suite run against the SQLite backend, plus SQLite-specific checks
//! (reopen, group commit, lagging watchers, WAL size).

mod suite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use store::sqlite::{SqliteOptions, SqliteStore};
use store::{Error, ListOptions, Store};
use suite::{b, take_events, DynStore};

async fn fresh() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state/db.sqlite"))
        .await
        .unwrap();
    (dir, store)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (_dir, store) = fresh().await;
            suite::$name(store as DynStore).await;
        }
    )*};
}

conformance!(
    create_get,
    update_cas,
    delete_semantics,
    list_order_and_prefix,
    pagination,
    list_at_past_revision,
    revisions_increase,
    watch_replay_then_live,
    watch_event_contents,
    compaction,
    concurrent_same_key,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit() {
    let (_dir, store) = fresh().await;
    let before = store.commits();
    suite::concurrent_creates(Arc::clone(&store) as DynStore, 200).await;
    let commits = store.commits() - before;
    assert!(
        commits < 50,
        "200 concurrent creates took {commits} commits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    let acked = suite::concurrent_creates(Arc::clone(&store) as DynStore, 100).await;
    drop(store);

    let store = SqliteStore::open(&path).await.unwrap();
    for kv in acked {
        assert_eq!(store.get(&kv.key).await.unwrap().0, Some(kv));
    }
}

async fn reopen(store: Arc<SqliteStore>, path: &Path) -> Arc<SqliteStore> {
    drop(store);
    SqliteStore::open(path).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 1);
    let a = store.create("/a", b("a")).await.unwrap();
    assert_eq!(
        a.mod_revision, 2,
        "first write after the empty store's revision 1"
    );
    store.create("/b", b("b")).await.unwrap();

    // The newest row is a tombstone.
    let gone = store.delete("/b", None).await.unwrap();
    let store = reopen(store, &path).await;
    assert_eq!(store.current_revision().await.unwrap(), gone.mod_revision);
    let c = store.create("/c", b("c")).await.unwrap();
    assert!(c.mod_revision > gone.mod_revision);

    // Compaction removes that tombstone and makes a delete the newest write again.
    let gone = store.delete("/c", None).await.unwrap();
    store.compact(gone.mod_revision).await.unwrap();
    let store = reopen(store, &path).await;
    assert_eq!(store.current_revision().await.unwrap(), gone.mod_revision);
    assert_eq!(store.compacted_revision().await.unwrap(), gone.mod_revision);
    let d = store.create("/d", b("d")).await.unwrap();
    assert_eq!(d.mod_revision, gone.mod_revision + 1);
    assert!(matches!(
        store.watch("/", gone.mod_revision - 1).await,
        Err(Error::Compacted { .. })
    ));
    assert_eq!(store.get("/a").await.unwrap().0, Some(a));
}

fn row_count(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics() {
    let (dir, store) = fresh().await;
    suite::metrics(store.clone()).await;
    let sizes = store::Observe::sizes(store.as_ref()).await.unwrap();
    assert_eq!(sizes.cluster_id, "sqlite");
    let db = std::fs::metadata(dir.path().join("state/db.sqlite")).unwrap();
    assert_eq!(sizes.db_bytes, db.len() as i64);
    assert!(sizes.wal_bytes.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_removes_rows_and_truncates_wal() {
    let (dir, store) = fresh().await;
    let path = dir.path().join("state/db.sqlite");
    let mut kv = store.create("/k", b("0")).await.unwrap();
    for i in 1..100 {
        kv = store
            .update("/k", b(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    store.create("/t", b("t")).await.unwrap();
    store.delete("/t", None).await.unwrap();
    assert_eq!(row_count(&path), 102);

    store
        .compact(store.current_revision().await.unwrap())
        .await
        .unwrap();
    // Only the latest version of /k is left; the tombstone of /t is gone too.
    assert_eq!(row_count(&path), 1);
    assert_eq!(store.get("/k").await.unwrap().0, Some(kv));
    let wal = std::fs::metadata(dir.path().join("state/db.sqlite-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(wal < 64 * 1024, "wal is {wal} bytes after compaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watcher_catches_up_from_history() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions {
        watch_buffer: 2,
        ..Default::default()
    };
    let store = SqliteStore::open_with(&dir.path().join("db"), opts)
        .await
        .unwrap();
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch("/l/", start).await.unwrap();
    // Read one event so the watcher is in live mode before it falls behind.
    store.create("/l/first", b("x")).await.unwrap();
    take_events(&mut stream, 1).await;

    let mut want = Vec::new();
    for i in 0..50 {
        // Sequential awaits: one commit (one broadcast message) per write.
        want.push(
            store
                .create(&format!("/l/{i:02}"), b("x"))
                .await
                .unwrap()
                .mod_revision,
        );
    }
    let got: Vec<_> = take_events(&mut stream, 50)
        .await
        .iter()
        .map(|e| e.kv.mod_revision)
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watcher_past_compaction_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions {
        watch_buffer: 1,
        ..Default::default()
    };
    let store = SqliteStore::open_with(&dir.path().join("db"), opts)
        .await
        .unwrap();
    let mut stream = store
        .watch("/l/", store.current_revision().await.unwrap())
        .await
        .unwrap();
    store.create("/l/first", b("x")).await.unwrap();
    take_events(&mut stream, 1).await;
    let mut kv = store.create("/l/k", b("0")).await.unwrap();
    for i in 0..5 {
        kv = store
            .update("/l/k", b(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    store.compact(kv.mod_revision).await.unwrap();

    use futures::StreamExt;
    let mut items = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
        items.push(item);
    }
    // Whatever was still buffered may arrive, but the gap is reported, and the stream ends.
    assert!(
        matches!(items.last(), Some(Err(Error::Compacted { .. }))),
        "want a Compacted error at the end, got {items:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_compactor_keeps_a_window() {
    let (_dir, store) = fresh().await;
    let handle = store.spawn_compactor(Duration::from_millis(20), 5);
    for i in 0..20 {
        store.create(&format!("/p/{i}"), b("x")).await.unwrap();
    }
    let current = store.current_revision().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.compacted_revision().await.unwrap() != current - 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "compactor did not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let old = ListOptions {
        revision: Some(current - 6),
        ..Default::default()
    };
    assert!(matches!(
        store.list("/p/", old).await,
        Err(Error::Compacted { .. })
    ));
    assert_eq!(store.count("/p/").await.unwrap(), 20);
    // The task stops by itself once the store is gone.
    drop(store);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}
