//! Snapshots across backends: saved while writers run, restored into the other backend,
//! every key and value compared with the source as of the snapshot's revision.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use store::etcd::{EtcdOptions, EtcdStore, COMPACT_KEY};
use store::snapshot::{self, SnapshotError, BOOTSTRAP_KEY};
use store::{KeyValue, ListOptions, Revision, SqliteStore, Store};
use testkit::etcd::EtcdCluster;

async fn etcd() -> (EtcdCluster, Arc<EtcdStore>) {
    let cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(1))
        .await
        .unwrap();
    let endpoints = cluster.endpoints().split(',').map(String::from).collect();
    let store = EtcdStore::connect(&EtcdOptions::new(endpoints))
        .await
        .unwrap();
    (cluster, Arc::new(store))
}

/// Keys of several resources, binary values included, plus skiff's bookkeeping keys.
async fn fill(store: &dyn Store, n: usize) {
    for i in 0..n {
        let key = format!(
            "/registry/{}/ns{}/obj-{i:05}",
            ["configmaps", "secrets", "pods"][i % 3],
            i % 7
        );
        let value = if i.is_multiple_of(5) {
            Bytes::from(vec![0u8, 255, (i % 251) as u8, b'k', b'8', b's'])
        } else {
            Bytes::from(format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 300)))
        };
        store.create(&key, value).await.unwrap();
    }
    store
        .create(BOOTSTRAP_KEY, Bytes::from_static(b"sealed secrets"))
        .await
        .unwrap();
    // Stands for the compaction bookkeeping key, which a snapshot leaves out.
    let _ = store.create(COMPACT_KEY, Bytes::from_static(b"7")).await;
}

/// Updates, creates and deletes until `stop`.
fn churn(
    store: Arc<dyn Store>,
    stop: Arc<AtomicBool>,
    writer: usize,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut writes = 0;
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let key = format!("/registry/configmaps/churn/w{writer}-{i}");
            store
                .create(&key, Bytes::from(format!("v{i}")))
                .await
                .unwrap();
            let kv = store.get(&key).await.unwrap().0.unwrap();
            store
                .update(&key, Bytes::from(format!("v{i}-2")), kv.mod_revision)
                .await
                .unwrap();
            if i.is_multiple_of(3) {
                store.delete(&key, None).await.unwrap();
            }
            writes += 3;
        }
        writes
    })
}

async fn all_at(store: &dyn Store, revision: Option<Revision>) -> Vec<KeyValue> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(
                "",
                ListOptions {
                    start_after: after.as_deref(),
                    // Small enough for 24 values of 400 KiB in one etcd response.
                    limit: Some(8),
                    revision,
                },
            )
            .await
            .unwrap();
        out.extend(page.kvs.iter().cloned());
        if !page.more {
            return out;
        }
        after = page.kvs.last().map(|kv| kv.key.clone());
    }
}

fn pairs(kvs: &[KeyValue]) -> Vec<(String, Bytes)> {
    kvs.iter()
        .filter(|kv| kv.key != COMPACT_KEY)
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect()
}

/// Saves `source` while writers run; the file must equal the source at its revision.
async fn save_under_load(
    source: Arc<dyn Store>,
    reader: &dyn Store,
    name: &str,
    file: &std::path::Path,
) -> Vec<(String, Bytes)> {
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| churn(source.clone(), stop.clone(), w))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let summary = snapshot::save(reader, name, file, 100).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for w in writers {
        writes += w.await.unwrap();
    }
    let now = source.current_revision().await.unwrap();
    assert!(
        writes > 0 && now > summary.header.revision,
        "writers ran past the snapshot"
    );
    let expected = pairs(&all_at(source.as_ref(), Some(summary.header.revision)).await);
    assert_eq!(summary.header.key_count as usize, expected.len());
    assert_eq!(summary.header.source, name);
    assert!(!file.with_extension("snap.tmp").exists());
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_to_etcd_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").join("state.db");
    let sqlite = SqliteStore::open(&db).await.unwrap();
    fill(sqlite.as_ref(), 3000).await;
    // As `skiff snapshot save` does beside a running server: a read-only open of the file.
    let reader = SqliteStore::open_read_only(&db).await.unwrap();
    let file = dir.path().join("backup.snap");
    let expected = save_under_load(sqlite.clone(), reader.as_ref(), "sqlite", &file).await;
    assert!(
        reader.create("/x", Bytes::new()).await.is_err(),
        "read-only open writes"
    );

    let (_etcd, target) = etcd().await;
    let summary = snapshot::restore(&file, target.as_ref(), 64).await.unwrap();
    assert_eq!(summary.header.key_count as usize, expected.len());
    let restored = pairs(&all_at(target.as_ref(), None).await);
    assert_eq!(restored.len(), expected.len());
    assert!(
        restored == expected,
        "restored keys/values differ from the source"
    );
    assert!(target
        .get(COMPACT_KEY)
        .await
        .unwrap()
        .0
        .is_none_or(|kv| kv.value.as_ref() != b"7"));

    // A second restore into the same etcd is refused before anything is written.
    let err = snapshot::restore(&file, target.as_ref(), 64)
        .await
        .unwrap_err();
    assert!(matches!(err, SnapshotError::NotEmpty(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_to_sqlite_while_writing() {
    let (_etcd, source) = etcd().await;
    fill(source.as_ref(), 1500).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.snap");
    let expected = save_under_load(source.clone(), source.as_ref(), "etcd", &file).await;
    let header = snapshot::verify(&file).unwrap();

    let db = dir.path().join("restored").join("state.db");
    store::sqlite::raise_revision(&db, header.revision).unwrap();
    let target = SqliteStore::open(&db).await.unwrap();
    snapshot::restore(&file, target.as_ref(), 64).await.unwrap();
    let restored = all_at(target.as_ref(), None).await;
    assert!(
        pairs(&restored) == expected,
        "restored keys/values differ from the source"
    );
    // resourceVersions never go backwards across the move.
    let lowest = restored.iter().map(|kv| kv.mod_revision).min().unwrap();
    assert!(lowest > header.revision, "{lowest} <= {}", header.revision);

    // Bytes flipped on disk are caught before anything is restored.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, bytes).unwrap();
    let empty = SqliteStore::open(&dir.path().join("empty.db"))
        .await
        .unwrap();
    assert!(snapshot::restore(&bad, empty.as_ref(), 64).await.is_err());
    assert_eq!(empty.count("").await.unwrap(), 0);
}

/// Answers over gRPC's default 4 MiB limit: the apiserver's unpaged start-up list of a
/// restored cluster, and a snapshot's pages of big values.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn big_values_from_etcd() {
    let (_etcd, source) = etcd().await;
    for i in 0..24 {
        let value = Bytes::from(vec![b'a' + (i % 26) as u8; 400 << 10]);
        source
            .create(&format!("/registry/secrets/big/s{i:02}"), value)
            .await
            .unwrap();
    }
    let all = source
        .list("/registry/", ListOptions::default())
        .await
        .unwrap();
    assert_eq!(all.kvs.len(), 24);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.snap");
    let summary = snapshot::save(source.as_ref(), "etcd", &file, 1000)
        .await
        .unwrap();
    assert_eq!(summary.header.key_count, 24);
    let target = SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    snapshot::restore(&file, target.as_ref(), 8).await.unwrap();
    assert!(
        pairs(&all_at(target.as_ref(), None).await) == pairs(&all_at(source.as_ref(), None).await)
    );
}

/// `skiff snapshot save` of a stopped server's database (no WAL or shm file left).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_saved_while_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = SqliteStore::open(&db).await.unwrap();
    fill(store.as_ref(), 50).await;
    let expected = pairs(&all_at(store.as_ref(), None).await);
    drop(store);
    // The writer thread closes its connection once the handle is gone.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let reader = SqliteStore::open_read_only(&db).await.unwrap();
    let file = dir.path().join("s.snap");
    let summary = snapshot::save(reader.as_ref(), "sqlite", &file, 7)
        .await
        .unwrap();
    assert_eq!(summary.header.key_count as usize, expected.len());
    assert!(SqliteStore::open_read_only(&dir.path().join("missing.db"))
        .await
        .is_err());
}
