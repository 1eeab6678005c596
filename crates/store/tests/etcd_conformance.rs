//! The conformance suite run against a real etcd (Debian's `etcd-server`, one member per
//! test on loopback), plus etcd-specific checks: what `etcdctl` sees, compaction shared by
//! several clients, a member lost under load in a 3-member cluster, and etcd fully down.

mod suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::etcd::{EtcdOptions, EtcdStore, COMPACT_KEY};
use store::{Error, Store};
use suite::{b, take_events, DynStore};
use testkit::etcd::EtcdCluster;

async fn connect(cluster: &EtcdCluster) -> Arc<EtcdStore> {
    let endpoints = cluster.endpoints().split(',').map(String::from).collect();
    Arc::new(
        EtcdStore::connect(&EtcdOptions::new(endpoints))
            .await
            .unwrap(),
    )
}

async fn fresh() -> (EtcdCluster, Arc<EtcdStore>) {
    let cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(1))
        .await
        .unwrap();
    let store = connect(&cluster).await;
    (cluster, store)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (_etcd, store) = fresh().await;
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
async fn metrics() {
    let (_etcd, store) = fresh().await;
    suite::metrics(store.clone()).await;
    assert_eq!(
        store::Observe::sizes(store.as_ref())
            .await
            .unwrap()
            .wal_bytes,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates() {
    let (_etcd, store) = fresh().await;
    suite::concurrent_creates(store as DynStore, 200).await;
}

/// Keys are upstream's layout: etcdctl shows the objects under `/registry/` as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_sees_the_keys() {
    let (etcd, store) = fresh().await;
    store
        .create("/registry/configmaps/default/a", b("{\"x\":1}"))
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let out = etcd.etcdctl(&["get", "--prefix", "/registry/"]);
        (etcd, out)
    })
    .await
    .unwrap()
    .1;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/registry/configmaps/default/a\n{\"x\":1}\n"
    );
}

/// Two clients (two API servers) share one compaction record: the second sees the first's
/// compaction, and compacting to an older revision does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_is_shared_between_clients() {
    let (etcd, a) = fresh().await;
    let other = connect(&etcd).await;
    let mut kv = a.create("/c/k", b("0")).await.unwrap();
    for i in 1..10 {
        kv = a
            .update("/c/k", b(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    a.compact(kv.mod_revision - 2).await.unwrap();
    assert_eq!(
        other.compacted_revision().await.unwrap(),
        kv.mod_revision - 2
    );
    other.compact(kv.mod_revision - 5).await.unwrap();
    assert_eq!(a.compacted_revision().await.unwrap(), kv.mod_revision - 2);
    match other.watch("/c/", kv.mod_revision - 4).await {
        Err(Error::Compacted { compacted, .. }) => assert_eq!(compacted, kv.mod_revision - 2),
        Err(e) => panic!("want Compacted, got {e:?}"),
        Ok(_) => panic!("want Compacted, got a stream"),
    }
    // The record is a plain key outside /registry/.
    let (record, _) = a.get(COMPACT_KEY).await.unwrap();
    assert_eq!(record.unwrap().value, b(&(kv.mod_revision - 2).to_string()));
}

/// The periodic compactors of two servers compact about once per interval between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compactors_coordinate() {
    let (etcd, a) = fresh().await;
    let other = connect(&etcd).await;
    for i in 0..30 {
        a.create(&format!("/p/{i}"), b("x")).await.unwrap();
    }
    let _ha = a.spawn_compactor(Duration::from_millis(300), 5);
    let _hb = other.spawn_compactor(Duration::from_millis(300), 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    let current = a.current_revision().await.unwrap();
    while a.compacted_revision().await.unwrap() < current - 5 {
        assert!(Instant::now() < deadline, "no compaction within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.count("/p/").await.unwrap(), 30);
}

/// A 3-member cluster loses one member under a write load: writes go on, every
/// acknowledged write is there, and the member rejoins and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn member_loss_under_load() {
    let mut etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(3))
        .await
        .unwrap();
    let store = connect(&etcd).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut failed = 0;
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match store.create(&format!("/load/{w}-{i:05}"), b("x")).await {
                        Ok(kv) => acked.push(kv),
                        // A write cut off with its member may or may not have committed.
                        Err(_) => {
                            failed += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    i += 1;
                }
                (acked, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    etcd.kill(0);
    let killed = Instant::now();
    let killed_at = store.current_revision().await.unwrap();
    // An election may be needed first (member 0 may have led); on a busy machine it can
    // take a few seconds.
    loop {
        let now = store.current_revision().await.unwrap();
        if now > killed_at + 50 {
            eprintln!("writes went on {:?} after the kill", killed.elapsed());
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "writes stalled with one member down: {killed_at} -> {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let etcd = tokio::task::spawn_blocking(move || {
        etcd.restart(0);
        etcd
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut failed) = (Vec::new(), 0);
    for w in writers {
        let (mine, f) = w.await.unwrap();
        acked.extend(mine);
        failed += f;
    }
    assert!(failed < 40, "{failed} writes failed");
    // Every acknowledged write is on the rejoined member too.
    let rejoined = Arc::new(
        EtcdStore::connect(&EtcdOptions::new(vec![etcd.endpoint(0)]))
            .await
            .unwrap(),
    );
    let rev = store.current_revision().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rejoined.current_revision().await.unwrap() < rev {
        assert!(Instant::now() < deadline, "member 0 did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for kv in &acked {
        assert_eq!(rejoined.get(&kv.key).await.unwrap().0.as_ref(), Some(kv));
    }
    // Writes that failed ambiguously may be there too, but nothing else.
    let count = rejoined.count("/load/").await.unwrap();
    let acked = acked.len() as i64;
    assert!(
        (acked..=acked + failed).contains(&count),
        "{count} keys for {acked} acknowledged and {failed} failed writes"
    );
}

/// etcd fully down: calls fail within the deadline with Unavailable/Timeout instead of
/// hanging, a watch ends with an error, and everything works again once etcd is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_down_fails_fast_and_recovers() {
    let (mut etcd, _) = fresh().await;
    let endpoints = vec![etcd.endpoint(0)];
    let mut opts = EtcdOptions::new(endpoints);
    opts.request_timeout = Duration::from_secs(2);
    let store = Arc::new(EtcdStore::connect(&opts).await.unwrap());
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/d/", start).await.unwrap();
    store.create("/d/a", b("1")).await.unwrap();
    take_events(&mut watch, 1).await;

    etcd.kill(0);
    let t = Instant::now();
    match store.create("/d/b", b("2")).await {
        Err(Error::Unavailable(_) | Error::Timeout(_)) => {}
        other => panic!("want Unavailable or Timeout, got {other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );
    use futures::StreamExt;
    let ended = tokio::time::timeout(Duration::from_secs(30), watch.next()).await;
    assert!(
        matches!(ended, Ok(Some(Err(_))) | Ok(None)),
        "watch did not end: {ended:?}"
    );

    let etcd = tokio::task::spawn_blocking(move || {
        etcd.restart(0);
        etcd
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let kv = loop {
        match store.create("/d/c", b("3")).await {
            Ok(kv) => break kv,
            Err(e) => assert!(Instant::now() < deadline, "not back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(store.get("/d/a").await.unwrap().0.unwrap().value, b("1"));
    assert!(kv.mod_revision > start);
    drop(etcd);
}
