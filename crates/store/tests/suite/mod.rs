//! Backend-independent conformance checks for [`Store`].
//!
//! Each check takes a fresh, empty store; a backend's test file calls every check with its
//! own constructor (see `tests/conformance.rs`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use store::{Error, Event, EventKind, KeyValue, ListOptions, Revision, Store, WatchStream};

pub type DynStore = Arc<dyn Store>;

pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Reads `n` events, failing the test if they do not arrive within a few seconds.
pub async fn take_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("timed out after {} of {n} events", events.len()));
        match item {
            Some(Ok(e)) => events.push(e),
            Some(Err(e)) => panic!("watch error after {} events: {e}", events.len()),
            None => panic!("watch ended after {} of {n} events", events.len()),
        }
    }
    events
}

/// Asserts that no further event arrives shortly.
pub async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

pub async fn create_get(s: DynStore) {
    let before = s.current_revision().await.unwrap();
    assert!(before >= 1, "revisions start at 1");
    let kv = s.create("/registry/pods/default/a", b("1")).await.unwrap();
    assert_eq!(kv.key, "/registry/pods/default/a");
    assert_eq!(kv.value, b("1"));
    assert!(kv.mod_revision > before);
    assert_eq!(kv.create_revision, kv.mod_revision);

    let (got, rev) = s.get("/registry/pods/default/a").await.unwrap();
    assert_eq!(got, Some(kv.clone()));
    assert!(rev >= kv.mod_revision);

    match s.create("/registry/pods/default/a", b("2")).await {
        Err(Error::AlreadyExists(key)) => assert_eq!(key, "/registry/pods/default/a"),
        other => panic!("want AlreadyExists, got {other:?}"),
    }
    // A failed write does not consume a revision.
    assert_eq!(s.current_revision().await.unwrap(), kv.mod_revision);

    let (missing, _) = s.get("/registry/pods/default/nope").await.unwrap();
    assert_eq!(missing, None);
}

pub async fn update_cas(s: DynStore) {
    let v1 = s.create("/k/a", b("1")).await.unwrap();
    let v2 = s.update("/k/a", b("2"), v1.mod_revision).await.unwrap();
    assert!(v2.mod_revision > v1.mod_revision);
    assert_eq!(v2.create_revision, v1.create_revision);
    assert_eq!(v2.value, b("2"));

    match s.update("/k/a", b("3"), v1.mod_revision).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, "/k/a");
            assert_eq!(expected, v1.mod_revision);
            assert_eq!(*current, v2);
        }
        other => panic!("want Conflict, got {other:?}"),
    }
    assert!(
        matches!(s.update("/k/none", b("x"), 1).await, Err(Error::NotFound(k)) if k == "/k/none")
    );
    assert_eq!(s.get("/k/a").await.unwrap().0, Some(v2));
}

pub async fn delete_semantics(s: DynStore) {
    let v1 = s.create("/k/a", b("1")).await.unwrap();
    let v2 = s.update("/k/a", b("2"), v1.mod_revision).await.unwrap();

    match s.delete("/k/a", Some(v1.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => assert_eq!(*current, v2),
        other => panic!("want Conflict, got {other:?}"),
    }
    let gone = s.delete("/k/a", Some(v2.mod_revision)).await.unwrap();
    assert_eq!(gone.value, b("2"), "delete returns the deleted value");
    assert_eq!(gone.create_revision, v1.create_revision);
    assert!(
        gone.mod_revision > v2.mod_revision,
        "mod_revision is the delete's revision"
    );
    assert_eq!(s.current_revision().await.unwrap(), gone.mod_revision);
    assert_eq!(s.get("/k/a").await.unwrap().0, None);
    assert!(matches!(
        s.delete("/k/a", None).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.update("/k/a", b("x"), gone.mod_revision).await,
        Err(Error::NotFound(_))
    ));

    // Recreated keys start a new life.
    let again = s.create("/k/a", b("3")).await.unwrap();
    assert_eq!(again.create_revision, again.mod_revision);
    assert!(again.mod_revision > gone.mod_revision);
    let unconditional = s.delete("/k/a", None).await.unwrap();
    assert_eq!(unconditional.value, b("3"));
}

pub async fn list_order_and_prefix(s: DynStore) {
    for name in ["c", "a", "b"] {
        s.create(&format!("/registry/pods/default/{name}"), b(name))
            .await
            .unwrap();
    }
    s.create("/registry/pods/kube-system/z", b("z"))
        .await
        .unwrap();
    s.create("/registry/podsx/default/a", b("x")).await.unwrap();
    s.create("/registry/pod", b("x")).await.unwrap();
    s.create("/registry/services/default/a", b("x"))
        .await
        .unwrap();
    let deleted = s.create("/registry/pods/default/d", b("d")).await.unwrap();
    s.delete(&deleted.key, None).await.unwrap();

    let list = s
        .list("/registry/pods/", ListOptions::default())
        .await
        .unwrap();
    let keys: Vec<_> = list.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "/registry/pods/default/a",
            "/registry/pods/default/b",
            "/registry/pods/default/c",
            "/registry/pods/kube-system/z"
        ]
    );
    assert!(!list.more);
    assert_eq!(list.revision, s.current_revision().await.unwrap());
    assert_eq!(s.count("/registry/pods/").await.unwrap(), 4);
    assert_eq!(s.count("/registry/pods/default/").await.unwrap(), 3);
    assert_eq!(s.count("/registry/podsx/").await.unwrap(), 1);
    assert_eq!(s.count("/registry/").await.unwrap(), 7);
    assert_eq!(s.count("").await.unwrap(), 7);
    assert_eq!(s.count("/nothing/").await.unwrap(), 0);
    assert_eq!(
        s.list("", ListOptions::default()).await.unwrap().kvs.len(),
        7
    );
}

pub async fn pagination(s: DynStore) {
    let mut want = Vec::new();
    for i in 0..10 {
        let key = format!("/p/{i:02}");
        s.create(&key, b(&i.to_string())).await.unwrap();
        want.push(key);
    }
    s.create("/q/other", b("x")).await.unwrap();

    let first = s
        .list(
            "/p/",
            ListOptions {
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(first.more);
    let at = first.revision;
    let mut seen: Vec<String> = first.kvs.iter().map(|kv| kv.key.clone()).collect();

    // Writes between pages must not show up in pages read at the first page's revision.
    s.create("/p/05a", b("new")).await.unwrap();
    s.delete("/p/07", None).await.unwrap();
    let (kv8, _) = s.get("/p/08").await.unwrap();
    s.update("/p/08", b("changed"), kv8.unwrap().mod_revision)
        .await
        .unwrap();

    let mut pages = 1;
    let mut more = first.more;
    while more {
        let last = seen.last().cloned();
        let opts = ListOptions {
            start_after: last.as_deref(),
            limit: Some(3),
            revision: Some(at),
        };
        let page = s.list("/p/", opts).await.unwrap();
        assert_eq!(page.revision, at);
        assert!(page.kvs.len() <= 3);
        for kv in &page.kvs {
            if kv.key == "/p/08" {
                assert_eq!(
                    kv.value,
                    b("8"),
                    "page shows the value as of the first page"
                );
            }
        }
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        more = page.more;
        pages += 1;
    }
    assert_eq!(seen, want);
    assert_eq!(pages, 4);

    // A limit that exactly fits the rest reports no more.
    let opts = ListOptions {
        start_after: Some("/p/06"),
        limit: Some(3),
        revision: Some(at),
    };
    let tail = s.list("/p/", opts).await.unwrap();
    assert_eq!(tail.kvs.len(), 3);
    assert!(!tail.more);

    // The current state reflects the writes.
    let now = s.list("/p/", ListOptions::default()).await.unwrap();
    let keys: Vec<_> = now.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert!(keys.contains(&"/p/05a") && !keys.contains(&"/p/07"));
    assert_eq!(s.count("/p/").await.unwrap(), 10);
}

pub async fn list_at_past_revision(s: DynStore) {
    let a1 = s.create("/h/a", b("a1")).await.unwrap();
    let b1 = s.create("/h/b", b("b1")).await.unwrap();
    let r1 = s.current_revision().await.unwrap();
    s.update("/h/a", b("a2"), a1.mod_revision).await.unwrap();
    s.delete("/h/b", None).await.unwrap();
    s.create("/h/c", b("c1")).await.unwrap();

    let past = s
        .list(
            "/h/",
            ListOptions {
                revision: Some(r1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(past.revision, r1);
    assert_eq!(past.kvs, vec![a1.clone(), b1.clone()]);

    let before_b = s.list(
        "/h/",
        ListOptions {
            revision: Some(b1.mod_revision - 1),
            ..Default::default()
        },
    );
    assert_eq!(before_b.await.unwrap().kvs, vec![a1]);

    let now = s.list("/h/", ListOptions::default()).await.unwrap();
    let values: Vec<_> = now.kvs.iter().map(|kv| kv.value.clone()).collect();
    assert_eq!(values, vec![b("a2"), b("c1")]);

    let current = s.current_revision().await.unwrap();
    match s
        .list(
            "/h/",
            ListOptions {
                revision: Some(current + 1),
                ..Default::default()
            },
        )
        .await
    {
        Err(Error::FutureRevision {
            requested,
            current: c,
        }) => {
            assert_eq!((requested, c), (current + 1, current))
        }
        other => panic!("want FutureRevision, got {other:?}"),
    }
}

pub async fn revisions_increase(s: DynStore) {
    let mut last = s.current_revision().await.unwrap();
    let mut a = s.create("/r/a", b("0")).await.unwrap();
    let mut kv = a.clone();
    for i in 0..20 {
        assert!(kv.mod_revision > last);
        last = kv.mod_revision;
        kv = match i % 3 {
            0 => {
                a = s
                    .update("/r/a", b(&i.to_string()), a.mod_revision)
                    .await
                    .unwrap();
                a.clone()
            }
            1 => s.create(&format!("/r/{i}"), b("x")).await.unwrap(),
            _ => s.delete(&format!("/r/{}", i - 1), None).await.unwrap(),
        };
    }
    assert!(kv.mod_revision > last);
    assert_eq!(s.current_revision().await.unwrap(), kv.mod_revision);
}

/// History replay followed by live events while writers keep going: every write under the
/// prefix arrives exactly once, in revision order.
pub async fn watch_replay_then_live(s: DynStore) {
    let mut expected: BTreeMap<Revision, String> = BTreeMap::new();
    for i in 0..20 {
        let kv = s.create(&format!("/w/pre-{i:02}"), b("x")).await.unwrap();
        s.create(&format!("/other/pre-{i:02}"), b("x"))
            .await
            .unwrap();
        if i >= 5 {
            expected.insert(kv.mod_revision, kv.key);
        }
    }
    let after = expected.keys().next().copied().unwrap() - 1;

    let writers: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..50 {
                    let kv = s
                        .create(&format!("/w/live-{t}-{i:02}"), b("x"))
                        .await
                        .unwrap();
                    s.create(&format!("/other/live-{t}-{i:02}"), b("x"))
                        .await
                        .unwrap();
                    mine.push((kv.mod_revision, kv.key));
                }
                mine
            })
        })
        .collect();
    // Start watching while the writers run, so history and live events overlap.
    tokio::task::yield_now().await;
    let mut stream = s.watch("/w/", after).await.unwrap();
    for w in writers {
        expected.extend(w.await.unwrap());
    }

    let events = take_events(&mut stream, expected.len()).await;
    let got: Vec<(Revision, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.kind, EventKind::Put);
            (e.kv.mod_revision, e.kv.key.clone())
        })
        .collect();
    let want: Vec<(Revision, String)> = expected.into_iter().collect();
    assert_eq!(got, want);
    assert_quiet(&mut stream).await;
}

pub async fn watch_event_contents(s: DynStore) {
    let start = s.current_revision().await.unwrap();
    let mut live = s.watch("/e/", start).await.unwrap();
    let v1 = s.create("/e/a", b("1")).await.unwrap();
    let v2 = s.update("/e/a", b("2"), v1.mod_revision).await.unwrap();
    let gone = s.delete("/e/a", None).await.unwrap();

    let want = vec![
        Event {
            kind: EventKind::Put,
            kv: v1.clone(),
            prev: None,
        },
        Event {
            kind: EventKind::Put,
            kv: v2.clone(),
            prev: Some(v1),
        },
        Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                value: b("2"),
                mod_revision: gone.mod_revision,
                ..v2.clone()
            },
            prev: Some(v2),
        },
    ];
    assert_eq!(take_events(&mut live, 3).await, want, "live events");
    // The same events replayed from history.
    let mut replay = s.watch("/e/", start).await.unwrap();
    assert_eq!(take_events(&mut replay, 3).await, want, "replayed events");
    // Watching from the middle starts right after `after`.
    let mut tail = s.watch("/e/", want[1].kv.mod_revision).await.unwrap();
    assert_eq!(take_events(&mut tail, 1).await, want[2..]);
    assert_quiet(&mut tail).await;
}

pub async fn compaction(s: DynStore) {
    let a1 = s.create("/c/a", b("1")).await.unwrap();
    let a2 = s.update("/c/a", b("2"), a1.mod_revision).await.unwrap();
    let b1 = s.create("/c/b", b("1")).await.unwrap();
    s.delete("/c/b", None).await.unwrap();
    let c1 = s.create("/c/c", b("1")).await.unwrap();
    let mid = s.current_revision().await.unwrap();
    let a3 = s.update("/c/a", b("3"), a2.mod_revision).await.unwrap();

    s.compact(mid).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), mid);
    // Compacting again, or to an older revision, is a no-op.
    s.compact(mid).await.unwrap();
    s.compact(b1.mod_revision).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), mid);

    match s.watch("/c/", mid - 1).await {
        Err(Error::Compacted { compacted, .. }) => assert_eq!(compacted, mid),
        Err(e) => panic!("want Compacted, got {e:?}"),
        Ok(_) => panic!("want Compacted, got a stream"),
    }
    let old = ListOptions {
        revision: Some(mid - 1),
        ..Default::default()
    };
    assert!(matches!(
        s.list("/c/", old).await,
        Err(Error::Compacted { .. })
    ));

    // The state at the compacted revision is still readable, and so is everything after it.
    let at_mid = s
        .list(
            "/c/",
            ListOptions {
                revision: Some(mid),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(at_mid.kvs, vec![a2.clone(), c1.clone()]);
    let now = s.list("/c/", ListOptions::default()).await.unwrap();
    assert_eq!(now.kvs, vec![a3.clone(), c1]);
    let mut stream = s.watch("/c/", mid).await.unwrap();
    let events = take_events(&mut stream, 1).await;
    assert_eq!(events[0].kv, a3);
    assert_eq!(events[0].prev, Some(a2));

    let future = s.current_revision().await.unwrap() + 1;
    assert!(matches!(
        s.compact(future).await,
        Err(Error::FutureRevision { .. })
    ));
}

/// Many concurrent creates all succeed with distinct revisions.
pub async fn concurrent_creates(s: DynStore, n: usize) -> Vec<KeyValue> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.create(&format!("/g/{i:04}"), b(&i.to_string())).await })
        })
        .collect();
    let mut kvs = Vec::with_capacity(n);
    for t in tasks {
        kvs.push(t.await.unwrap().unwrap());
    }
    let mut revisions: Vec<_> = kvs.iter().map(|kv| kv.mod_revision).collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), n, "every write got its own revision");
    assert_eq!(s.count("/g/").await.unwrap(), n as i64);
    kvs
}

/// Compare-and-swap holds inside a group commit: of many racing writers exactly one wins.
pub async fn concurrent_same_key(s: DynStore) {
    let creates: Vec<_> = (0..20)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.create("/x/same", b(&i.to_string())).await })
        })
        .collect();
    let mut won = Vec::new();
    for t in creates {
        match t.await.unwrap() {
            Ok(kv) => won.push(kv),
            Err(Error::AlreadyExists(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one create wins");
    let base = won.remove(0);

    let updates: Vec<_> = (0..20)
        .map(|i| {
            let s = Arc::clone(&s);
            let expected = base.mod_revision;
            tokio::spawn(async move { s.update("/x/same", b(&format!("u{i}")), expected).await })
        })
        .collect();
    let mut winners = Vec::new();
    for t in updates {
        match t.await.unwrap() {
            Ok(kv) => winners.push(kv),
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update wins");
    assert_eq!(s.get("/x/same").await.unwrap().0, Some(winners.remove(0)));
}

/// What a backend reports for `/metrics`: commits, a compaction, open watches and its size.
pub async fn metrics<S: Store + store::Observe>(store: Arc<S>) {
    let m = store.metrics().clone();
    let commits = m.commit_duration.count();
    let mut kv = store.create("/registry/m/a", b("0")).await.unwrap();
    for i in 1..10 {
        kv = store
            .update("/registry/m/a", b(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    assert!(m.commit_duration.count() >= commits + 10);
    assert!(m.writes_per_commit.sum() >= 10.0);

    let watches = m.watches.get();
    let w = store.watch("/registry/m/", kv.mod_revision).await.unwrap();
    assert_eq!(m.watches.get(), watches + 1);
    drop(w);
    assert_eq!(m.watches.get(), watches);

    let compactions = m.compactions.get();
    store.compact(kv.mod_revision).await.unwrap();
    assert_eq!(m.compactions.get(), compactions + 1);
    assert_eq!(m.compaction_duration.count(), compactions + 1);

    let sizes = store.sizes().await.unwrap();
    assert!(sizes.db_bytes > 0, "{sizes:?}");
    assert!(!sizes.cluster_id.is_empty(), "{sizes:?}");
}
