//! Crash safety: kill -9 during a stream of writes loses no acknowledged write, and after
//! the restart resourceVersions keep increasing and watches see the new writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, ListParams, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::WatchEvent;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Config, ResourceExt};
use serde_json::json;
use testkit::etcd::EtcdCluster;
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

fn rv_of(s: Option<&str>) -> u64 {
    s.unwrap_or_default()
        .parse()
        .unwrap_or_else(|_| panic!("resourceVersion {s:?} is not a number"))
}

fn rv<K: kube::Resource>(o: &K) -> u64 {
    rv_of(o.meta().resource_version.as_deref())
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"suite": "crash"}},
        "data": {"name": name},
    }))
    .expect("configmap")
}

#[derive(Clone, Debug)]
struct Acked {
    rv: u64,
    uid: String,
}

/// Reads watch events until `name` is ADDED; returns its resourceVersion.
async fn wait_added<S>(stream: &mut S, name: &str) -> Result<u64, String>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    let fut = async {
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(WatchEvent::Added(cm)) if cm.name_any() == name => return Ok(rv(&cm)),
                Ok(WatchEvent::Error(st)) => return Err(format!("watch error {st:?}")),
                Ok(_) => {}
                Err(e) => return Err(format!("watch stream error {e}")),
            }
        }
        Err("watch ended".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| Err(format!("no ADDED event for {name} within 15s")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_kill9() {
    kill9_under_writes(server()).await;
}

/// The same on a real etcd: the server's acknowledgement means etcd committed the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_kill9_on_etcd() {
    let etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(1))
        .await
        .unwrap();
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--datastore-endpoint", &etcd.endpoints()],
    );
    kill9_under_writes(s).await;
    drop(etcd);
}

async fn kill9_under_writes(mut s: Server) {
    let acked: Arc<Mutex<BTreeMap<String, Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..4 {
        // One client each, so the writers use separate connections.
        let api: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let pp = PostParams::default();
            let mut errors = 0;
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("crash-{t}-{i:05}");
                match api.create(&pp, &configmap(&name)).await {
                    Ok(cm) => {
                        let a = Acked {
                            rv: rv(&cm),
                            uid: cm.uid().unwrap_or_default(),
                        };
                        acked.lock().expect("lock").insert(name, a);
                    }
                    Err(_) => {
                        // The server is gone; a few more tries prove nothing more.
                        errors += 1;
                        if errors > 3 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    tokio::task::block_in_place(|| s.kill9());
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("writers stop after the kill")
            .expect("writer task");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 20,
        "only {} creates succeeded in the second before the kill",
        acked.len()
    );
    let max_acked = acked.values().map(|a| a.rv).max().unwrap_or(0);

    tokio::task::block_in_place(|| s.restart());
    let api: Api<ConfigMap> = Api::namespaced(client(&s).await, "default");
    let list = api
        .list(&ListParams::default().labels("suite=crash"))
        .await
        .expect("list after restart");
    let stored: BTreeMap<String, (u64, String)> = list
        .items
        .iter()
        .map(|c| (c.name_any(), (rv(c), c.uid().unwrap_or_default())))
        .collect();
    let lost: Vec<&String> = acked.keys().filter(|n| !stored.contains_key(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates lost after kill -9: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
    for (name, a) in &acked {
        let (srv, suid) = &stored[name];
        assert_eq!(
            (*srv, suid),
            (a.rv, &a.uid),
            "{name} changed across the crash"
        );
    }
    // Unacknowledged creates may or may not have landed, but only whole ones.
    for c in &list.items {
        assert_eq!(
            c.data.as_ref().and_then(|d| d.get("name")),
            Some(&c.name_any()),
            "torn object {c:?}"
        );
    }
    let list_rv = rv_of(list.metadata.resource_version.as_deref());
    assert!(
        list_rv >= max_acked,
        "list rv {list_rv} < acknowledged rv {max_acked}"
    );

    // A watch from the fresh list's resourceVersion sees new writes, numbered after all old ones.
    let mut w = api
        .watch(
            &WatchParams::default().labels("suite=crash"),
            &list_rv.to_string(),
        )
        .await
        .expect("watch after restart")
        .boxed();
    let created = api
        .create(&PostParams::default(), &configmap("after-0"))
        .await
        .expect("create after restart");
    assert!(rv(&created) > max_acked, "{} <= {max_acked}", rv(&created));
    let seen = wait_added(&mut w, "after-0")
        .await
        .expect("watch after restart");
    assert_eq!(seen, rv(&created));

    // A watch from an old resourceVersion: either it replays history (then it must also
    // deliver new writes) or it says 410 Gone, as upstream does once history is compacted.
    let oldest = acked.values().map(|a| a.rv).min().unwrap_or(1);
    match api
        .watch(
            &WatchParams::default().labels("suite=crash"),
            &oldest.to_string(),
        )
        .await
    {
        Ok(stream) => {
            let mut old = stream.boxed();
            let created = api
                .create(&PostParams::default(), &configmap("after-1"))
                .await
                .expect("create");
            match wait_added(&mut old, "after-1").await {
                Ok(seen) => assert!(seen > max_acked),
                Err(e) => assert!(
                    e.contains("410") || e.contains("Expired") || e.contains("Gone"),
                    "{e}"
                ),
            }
            assert!(rv(&created) > max_acked);
        }
        Err(kube::Error::Api(st)) => assert_eq!(st.code, 410, "{st:?}"),
        Err(e) => panic!("watch from an old resourceVersion: {e}"),
    }

    // And kube's watcher (list, then watch) gets everything, old and new.
    let n = api
        .list(&ListParams::default().labels("suite=crash"))
        .await
        .expect("list")
        .items
        .len();
    let all: Vec<ConfigMap> = tokio::time::timeout(
        Duration::from_secs(15),
        watcher(
            api.clone(),
            watcher::Config::default().labels("suite=crash"),
        )
        .applied_objects()
        .take(n)
        .try_collect(),
    )
    .await
    .expect("watcher lists in time")
    .expect("watcher");
    let names: BTreeSet<String> = all.iter().map(|c| c.name_any()).collect();
    assert!(names.contains("after-0"));
    assert!(acked.keys().all(|n| names.contains(n)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_objects_and_allocations() {
    let mut s = server();
    let c = client(&s).await;
    let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
    let nss: Api<Namespace> = Api::all(c.clone());
    let svc = |name: &str| -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}
        }))
        .expect("service")
    };
    let pp = PostParams::default();
    let a = svcs.create(&pp, &svc("a")).await.expect("create a");
    let ip_a = a
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .expect("cluster IP");
    let kubernetes = svcs.get("kubernetes").await.expect("kubernetes service");
    let default_ns = nss.get("default").await.expect("default ns");

    tokio::task::block_in_place(|| s.restart());
    let c = client(&s).await;
    let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
    let nss: Api<Namespace> = Api::all(c);

    let a2 = svcs.get("a").await.expect("a after restart");
    assert_eq!(a2.uid(), a.uid());
    assert_eq!(a2.resource_version(), a.resource_version());
    let k2 = svcs
        .get("kubernetes")
        .await
        .expect("kubernetes after restart");
    assert_eq!(
        k2.uid(),
        kubernetes.uid(),
        "bootstrap must not recreate the service"
    );
    assert_eq!(
        k2.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()),
        Some("10.43.0.1")
    );
    assert_eq!(
        nss.get("default").await.expect("ns").uid(),
        default_ns.uid()
    );

    // The IP allocator remembers what it handed out before the crash.
    let mut ips = BTreeSet::from([ip_a.clone(), "10.43.0.1".to_owned()]);
    for i in 0..5 {
        let b = svcs
            .create(&pp, &svc(&format!("b{i}")))
            .await
            .expect("create");
        let ip = b
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.clone())
            .expect("ip");
        assert!(ip.starts_with("10.43."), "{ip}");
        assert!(ips.insert(ip.clone()), "cluster IP {ip} handed out twice");
        assert!(rv(&b) > rv(&a2));
    }
}
