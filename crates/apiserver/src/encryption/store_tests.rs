//! `EncryptedStore` over a real SQLite store: what each `Store` method hands out and what
//! the backend holds.

use std::sync::Arc;

use bytes::Bytes;
use expect_test::expect;
use futures::StreamExt;
use store::{Store, WatchStream};

use super::config::parse;
use super::store::{transform_error, EncryptedStore};

const CONFIG: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aesgcm: {keys: [{name: k1, secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}
";

fn text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    match s.strip_prefix("k8s:enc:") {
        // The sealed bytes are random; their prefix is what matters.
        Some(_) => format!("{}<sealed>", &s[..s.find("k1:").map_or(0, |i| i + 3)]),
        None => s.into_owned(),
    }
}

async fn next_events(stream: &mut WatchStream, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("event");
        out.push(format!(
            "{:?} {} = {} (prev {})",
            ev.kind,
            ev.kv.key,
            text(&ev.kv.value),
            ev.prev.as_ref().map_or("-".into(), |p| text(&p.value))
        ));
    }
    out
}

#[tokio::test]
async fn every_method_sees_plain_values_and_the_backend_sealed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let raw: Arc<dyn Store> = store::SqliteStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let enc = EncryptedStore::new(raw.clone(), Arc::new(parse(CONFIG).unwrap()));
    let s1 = "/registry/secrets/ns/s1";
    let mut out = Vec::new();

    let created = enc
        .create(s1, Bytes::from_static(b"{\"v\":1}"))
        .await
        .unwrap();
    out.push(format!("create returns {}", text(&created.value)));
    let (stored, _) = raw.get(s1).await.unwrap();
    out.push(format!("backend holds {}", text(&stored.unwrap().value)));
    enc.create(
        "/registry/configmaps/ns/c1",
        Bytes::from_static(b"{\"c\":1}"),
    )
    .await
    .unwrap();
    let (stored, _) = raw.get("/registry/configmaps/ns/c1").await.unwrap();
    out.push(format!(
        "unconfigured resource: backend holds {}",
        text(&stored.unwrap().value)
    ));

    let updated = enc
        .update(s1, Bytes::from_static(b"{\"v\":2}"), created.mod_revision)
        .await
        .unwrap();
    out.push(format!("update returns {}", text(&updated.value)));
    match enc
        .update(s1, Bytes::from_static(b"{\"v\":3}"), created.mod_revision)
        .await
    {
        Err(store::Error::Conflict { current, .. }) => {
            out.push(format!("conflict carries {}", text(&current.value)))
        }
        other => out.push(format!("conflict expected, got {other:?}")),
    }
    let (got, _) = enc.get(s1).await.unwrap();
    out.push(format!("get returns {}", text(&got.unwrap().value)));

    // A value sealed with a key the config lacks, written behind the decorator's back.
    raw.create(
        "/registry/secrets/ns/foreign",
        Bytes::from_static(b"k8s:enc:aesgcm:v1:other:0123456789abcdefghijklmnop"),
    )
    .await
    .unwrap();
    let listed = enc.list("/registry/", Default::default()).await.unwrap();
    for kv in &listed.kvs {
        out.push(format!("list: {} = {}", kv.key, text(&kv.value)));
    }
    let err = enc.get("/registry/secrets/ns/foreign").await.unwrap_err();
    out.push(format!("get foreign: {}", transform_error(&err).unwrap()));

    let mut watch = enc.watch("/registry/secrets/", 0).await.unwrap();
    let deleted = enc.delete(s1, None).await.unwrap();
    out.push(format!("delete returns {}", text(&deleted.value)));
    // The foreign value's event is left out: create, update, delete.
    out.extend(next_events(&mut watch, 3).await);

    expect![[r#"
        create returns {"v":1}
        backend holds k8s:enc:aesgcm:v1:k1:<sealed>
        unconfigured resource: backend holds {"c":1}
        update returns {"v":2}
        conflict carries {"v":2}
        get returns {"v":2}
        list: /registry/configmaps/ns/c1 = {"c":1}
        list: /registry/secrets/ns/s1 = {"v":2}
        get foreign: unable to transform key "/registry/secrets/ns/foreign": no matching prefix found: the value was encrypted with aesgcm v1 key "other", which the encryption provider config does not list for this resource
        delete returns {"v":2}
        Put /registry/secrets/ns/s1 = {"v":1} (prev -)
        Put /registry/secrets/ns/s1 = {"v":2} (prev {"v":1})
        Delete /registry/secrets/ns/s1 = {"v":2} (prev {"v":2})"#]]
    .assert_eq(&out.join("\n"));
}
