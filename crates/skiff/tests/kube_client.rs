//! The kube crate (the client library our own components use) against `skiff server`:
//! typed CRUD, optimistic concurrency, watcher + reflector, and a watch that survives a
//! server restart.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Config, ResourceExt};
use serde_json::json;
use testkit::Server;

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

async fn client(s: &Server) -> Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("read admin kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig to config");
    Client::try_from(cfg).expect("client")
}

fn rv<K: kube::Resource>(o: &K) -> u64 {
    o.meta()
        .resource_version
        .as_deref()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|_| {
            panic!(
                "resourceVersion {:?} is not a number",
                o.meta().resource_version
            )
        })
}

fn api_status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn configmap(name: &str, labels: serde_json::Value, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": data,
    }))
    .expect("configmap")
}

fn data(cm: &ConfigMap) -> BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_configmap() {
    let s = server();
    let api: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    let pp = PostParams::default();

    let created = api
        .create(
            &pp,
            &configmap("crud", json!({"suite": "crud"}), json!({"a": "1"})),
        )
        .await
        .expect("create");
    assert_eq!(created.name_any(), "crud");
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(created.uid().is_some_and(|u| u.len() == 36), "{created:?}");
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1 = rv(&created);

    let got = api.get("crud").await.expect("get");
    assert_eq!(data(&got), map(&[("a", "1")]));
    assert_eq!(rv(&got), rv1);
    assert_eq!(got.uid(), created.uid());

    let list = api
        .list(&ListParams::default().labels("suite=crud"))
        .await
        .expect("list");
    assert_eq!(
        list.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(),
        ["crud"]
    );
    assert!(
        list.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v >= rv1),
        "list resourceVersion {:?} < object's {rv1}",
        list.metadata.resource_version
    );

    let mut m = got.clone();
    m.data = Some(map(&[("a", "1"), ("b", "2")]));
    let replaced = api.replace("crud", &pp, &m).await.expect("replace");
    assert_eq!(data(&replaced), map(&[("a", "1"), ("b", "2")]));
    let rv2 = rv(&replaced);
    assert!(rv2 > rv1, "{rv2} > {rv1}");

    let merged = api
        .patch(
            "crud",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"c": "3", "a": null}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(data(&merged), map(&[("b", "2"), ("c", "3")]));
    assert!(rv(&merged) > rv2);

    let strategic = api
        .patch(
            "crud",
            &PatchParams::default(),
            &Patch::Strategic(
                json!({"metadata": {"labels": {"extra": "yes"}}, "data": {"d": "4"}}),
            ),
        )
        .await
        .expect("strategic patch");
    assert_eq!(
        strategic.labels(),
        &map(&[("extra", "yes"), ("suite", "crud")])
    );
    assert_eq!(data(&strategic), map(&[("b", "2"), ("c", "3"), ("d", "4")]));

    api.delete("crud", &DeleteParams::default())
        .await
        .expect("delete");
    let st = api_status(api.get("crud").await.expect_err("gone"));
    assert_eq!(st.code, 404);
    assert_eq!(st.reason, "NotFound");
    assert_eq!(st.message, r#"configmaps "crud" not found"#);
    assert!(api.get_opt("crud").await.expect("get_opt").is_none());
    let st = api_status(
        api.delete("crud", &DeleteParams::default())
            .await
            .expect_err("second delete"),
    );
    assert_eq!(st.code, 404);
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"suite": "crud"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    }))
    .expect("deployment")
}

fn container_names(d: &Deployment) -> Vec<String> {
    d.spec
        .template
        .spec
        .as_ref()
        .map(|p| p.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_deployment() {
    let s = server();
    let api: Api<Deployment> = Api::namespaced(client(&s).await, "default");
    let pp = PostParams::default();

    let created = api.create(&pp, &deployment("web")).await.expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let spec = &created.spec;
    assert_eq!(spec.revision_history_limit, Some(10), "defaulted");
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("RollingUpdate")
    );

    let list = api
        .list(&ListParams::default().labels("suite=crud"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);

    let mut d = api.get("web").await.expect("get");
    d.spec.replicas = Some(3);
    let replaced = api.replace("web", &pp, &d).await.expect("replace");
    assert_eq!(replaced.spec.replicas, Some(3));
    assert_eq!(replaced.metadata.generation, Some(2));

    // A status change through the main resource is ignored (status has its own subresource).
    // The deployment controller writes status meanwhile: on a conflict, read and try again.
    let mut latest = replaced.clone();
    let after = loop {
        let mut d = latest.clone();
        d.status = Some(serde_json::from_value(json!({"replicas": 42})).expect("status"));
        match api.replace("web", &pp, &d).await {
            Ok(a) => break a,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                latest = api.get("web").await.expect("get");
            }
            Err(e) => panic!("replace with status: {e}"),
        }
    };
    assert_ne!(after.status.as_ref().and_then(|s| s.replicas), Some(42));
    assert_eq!(
        after.metadata.generation,
        Some(2),
        "no spec change, no new generation"
    );

    let strategic = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "busybox:1.36"}
            ]}}}})),
        )
        .await
        .expect("strategic patch");
    // Upstream puts patch items the live list lacks before the server-only ones.
    assert_eq!(container_names(&strategic), ["sidecar", "app"]);

    let merged = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "only", "image": "busybox:1.36"}
            ]}}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(container_names(&merged), ["only"]);
    assert_eq!(merged.metadata.generation, Some(4));

    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("deployment gone", Duration::from_secs(10), || async {
        api.get_opt("web").await.expect("get_opt").is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimistic_concurrency() {
    let s = server();
    let api: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    let pp = PostParams::default();
    api.create(&pp, &configmap("occ", json!({}), json!({"v": "a"})))
        .await
        .expect("create");

    let st = api_status(
        api.create(&pp, &configmap("occ", json!({}), json!({"v": "dup"})))
            .await
            .expect_err("create twice"),
    );
    assert_eq!(st.code, 409);
    assert_eq!(st.reason, "AlreadyExists");
    assert_eq!(st.message, r#"configmaps "occ" already exists"#);

    let stale = api.get("occ").await.expect("get");
    let mut b = stale.clone();
    b.data = Some(map(&[("v", "b")]));
    api.replace("occ", &pp, &b).await.expect("first replace");

    let mut c = stale.clone();
    c.data = Some(map(&[("v", "c")]));
    let st = api_status(
        api.replace("occ", &pp, &c)
            .await
            .expect_err("replace with a stale resourceVersion"),
    );
    assert_eq!(st.code, 409);
    assert_eq!(st.reason, "Conflict");
    assert_eq!(
        st.message,
        r#"Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again"#
    );
    assert_eq!(
        data(&api.get("occ").await.expect("get")),
        map(&[("v", "b")])
    );

    // A patch carrying a stale resourceVersion is refused the same way.
    let st = api_status(
        api.patch(
            "occ",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": stale.metadata.resource_version},
                "data": {"v": "p"}
            })),
        )
        .await
        .expect_err("patch with stale resourceVersion"),
    );
    assert_eq!(st.code, 409);
    assert_eq!(st.reason, "Conflict");

    // Without a resourceVersion the update is unconditional (ConfigMaps allow it).
    let mut d = stale.clone();
    d.metadata.resource_version = None;
    d.data = Some(map(&[("v", "d")]));
    api.replace("occ", &pp, &d)
        .await
        .expect("unconditional replace");
    assert_eq!(
        data(&api.get("occ").await.expect("get")),
        map(&[("v", "d")])
    );

    // Patches without a resourceVersion racing each other all land: the server re-reads
    // and re-applies on a conflict instead of refusing.
    let patches = (0..16).map(|i| {
        let api = api.clone();
        async move {
            api.patch(
                "occ",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {format!("k{i}"): "x"}})),
            )
            .await
        }
    });
    for r in futures::future::join_all(patches).await {
        r.expect("racing patch without resourceVersion");
    }
    let keys = data(&api.get("occ").await.expect("get"));
    assert_eq!(keys.len(), 17, "{keys:?}");
}

/// Status patches without a resourceVersion racing each other all land, as on the main
/// resource (the scheduler writes a pod's PodScheduled condition and its nominated node
/// this way, at the same time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_status_patches_all_land() {
    let s = server();
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client(&s).await, "default");
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "racer"},
        "spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": "nowhere"},
    }))
    .expect("pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create");
    let patches = (0..16).map(|i| {
        let api = api.clone();
        async move {
            let condition = json!({"type": format!("example.com/c{i}"), "status": "True"});
            api.patch_status(
                "racer",
                &PatchParams::default(),
                &Patch::Strategic(json!({"status": {"conditions": [condition]}})),
            )
            .await
        }
    });
    for r in futures::future::join_all(patches).await {
        r.expect("racing status patch without resourceVersion");
    }
    let got = api.get_status("racer").await.expect("get");
    let types: BTreeSet<String> = got
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.type_)
        .filter(|t| t.starts_with("example.com/"))
        .collect();
    assert_eq!(types.len(), 16, "{types:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_fills_store_and_sees_updates() {
    let s = server();
    let api: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    let pp = PostParams::default();
    for i in 0..5 {
        api.create(
            &pp,
            &configmap(
                &format!("r-{i}"),
                json!({"suite": "refl"}),
                json!({"v": "0"}),
            ),
        )
        .await
        .expect("create");
    }
    // An object the selector excludes never shows up.
    api.create(&pp, &configmap("other", json!({"suite": "no"}), json!({})))
        .await
        .expect("create");

    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector::reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().labels("suite=refl")),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));

    tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready())
        .await
        .expect("store ready in time")
        .expect("writer alive");
    let names = |r: &reflector::Store<ConfigMap>| -> BTreeSet<String> {
        r.state().iter().map(|c| c.name_any()).collect()
    };
    assert_eq!(
        names(&reader),
        (0..5).map(|i| format!("r-{i}")).collect::<BTreeSet<_>>()
    );

    for i in 5..7 {
        api.create(
            &pp,
            &configmap(
                &format!("r-{i}"),
                json!({"suite": "refl"}),
                json!({"v": "0"}),
            ),
        )
        .await
        .expect("create");
    }
    eventually("7 objects in the store", Duration::from_secs(10), || {
        let n = reader.len();
        async move { n == 7 }
    })
    .await;

    api.patch(
        "r-2",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "1"}})),
    )
    .await
    .expect("patch");
    let key = ObjectRef::<ConfigMap>::new("r-2").within("default");
    eventually("the update in the store", Duration::from_secs(10), || {
        let v = reader.get(&key).map(|c| data(&c));
        async move { v == Some(map(&[("v", "1")])) }
    })
    .await;

    api.delete("r-0", &DeleteParams::default())
        .await
        .expect("delete");
    // Relabelling out of the selector looks like a delete to the watcher.
    api.patch(
        "r-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"suite": "gone"}}})),
    )
    .await
    .expect("relabel");
    eventually("deletes in the store", Duration::from_secs(10), || {
        let n = names(&reader);
        async move { n == (2..7).map(|i| format!("r-{i}")).collect::<BTreeSet<_>>() }
    })
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_restart() {
    let mut s = server();
    let api: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    let pp = PostParams::default();

    let seen: Arc<Mutex<Vec<ConfigMap>>> = Arc::default();
    let sink = seen.clone();
    let stream = watcher(
        api.clone(),
        watcher::Config::default().labels("suite=resume"),
    )
    .default_backoff()
    .applied_objects();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            if let Ok(obj) = ev {
                sink.lock().expect("lock").push(obj);
            }
        }
    });
    let seen_names = |seen: &Arc<Mutex<Vec<ConfigMap>>>| -> BTreeSet<String> {
        seen.lock()
            .expect("lock")
            .iter()
            .map(|c| c.name_any())
            .collect()
    };

    let mut before = Vec::new();
    for i in 0..3 {
        let c = api
            .create(
                &pp,
                &configmap(&format!("w-{i}"), json!({"suite": "resume"}), json!({})),
            )
            .await
            .expect("create");
        before.push(rv(&c));
    }
    eventually("first objects watched", Duration::from_secs(10), || {
        let n = seen_names(&seen);
        async move { (0..3).all(|i| n.contains(&format!("w-{i}"))) }
    })
    .await;
    let max_before = seen
        .lock()
        .expect("lock")
        .iter()
        .map(rv)
        .chain(before.iter().copied())
        .max()
        .unwrap_or(0);

    tokio::task::block_in_place(|| s.restart());

    // The writes go through a fresh client; the watcher keeps its own, as a controller would.
    let api2: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    let mut after = Vec::new();
    for i in 3..6 {
        let c = api2
            .create(
                &pp,
                &configmap(&format!("w-{i}"), json!({"suite": "resume"}), json!({})),
            )
            .await
            .expect("create after restart");
        after.push(rv(&c));
    }
    api2.patch(
        "w-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"after": "restart"}})),
    )
    .await
    .expect("patch after restart");
    assert!(
        after.iter().all(|r| *r > max_before),
        "resourceVersions after restart {after:?} must exceed {max_before}"
    );

    eventually(
        "objects created after the restart",
        Duration::from_secs(60),
        || {
            let n = seen_names(&seen);
            async move { (3..6).all(|i| n.contains(&format!("w-{i}"))) }
        },
    )
    .await;
    eventually(
        "the update after the restart",
        Duration::from_secs(30),
        || {
            let ok = seen.lock().expect("lock").iter().any(|c| {
                c.name_any() == "w-0" && data(c).get("after").map(String::as_str) == Some("restart")
            });
            async move { ok }
        },
    )
    .await;
    for c in seen.lock().expect("lock").iter() {
        let n: u32 = c.name_any()[2..].parse().expect("index");
        if n >= 3 {
            assert!(
                rv(c) > max_before,
                "{} has rv {} <= {max_before}",
                c.name_any(),
                rv(c)
            );
        }
    }
    task.abort();
}
