//! NetworkPolicy enforcement on every node (the role a CNI plugin's policy agent plays):
//! watches NetworkPolicies, Pods and Namespaces and keeps one nftables table of allowed
//! connections for this node's pods, replaced atomically within 50 ms of a change.
//!
//! **API Boundary**: [`run`] → [`Enforcer`]; [`Enforcer::shutdown`] removes the table.

pub mod model;
pub mod render;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::watcher;
use kube::{Api, Resource};
use tokio::sync::Notify;

type Objects<K> = Arc<Mutex<BTreeMap<String, K>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The table of the enforcer for `node`.
pub fn table_name(node: &str) -> String {
    proxy::table_name(node).replacen("skiff-proxy-", "skiff-netpol-", 1)
}

pub struct Enforcer {
    table: String,
    tasks: tokio::task::JoinSet<()>,
}

impl Enforcer {
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        if let Err(e) = proxy::nft::apply(&proxy::render::delete_script(&self.table)).await {
            tracing::warn!(error = %e, "removing the network policy table");
        }
    }
}

pub fn run(client: kube::Client, node: String) -> Enforcer {
    let policies: Objects<NetworkPolicy> = Arc::default();
    let pods: Objects<Pod> = Arc::default();
    let namespaces: Objects<Namespace> = Arc::default();
    let changed = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(mirror(
        Api::<NetworkPolicy>::all(client.clone()),
        policies.clone(),
        changed.clone(),
    ));
    tasks.spawn(mirror(
        Api::<Pod>::all(client.clone()),
        pods.clone(),
        changed.clone(),
    ));
    tasks.spawn(mirror(
        Api::<Namespace>::all(client),
        namespaces.clone(),
        changed.clone(),
    ));
    let table = table_name(&node);
    let t = table.clone();
    tasks.spawn(async move {
        let mut applied = String::new();
        loop {
            changed.notified().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let rules = {
                let pols: Vec<NetworkPolicy> = lock(&policies).values().cloned().collect();
                let ps: Vec<Pod> = lock(&pods).values().cloned().collect();
                let nss: Vec<Namespace> = lock(&namespaces).values().cloned().collect();
                model::build(&pols, &ps, &nss, &node)
            };
            let script = render::script(&t, &rules);
            if script == applied {
                continue;
            }
            match proxy::nft::apply(&script).await {
                Ok(()) => applied = script,
                Err(e) => {
                    tracing::warn!(error = %e, "applying network policy rules; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    changed.notify_one();
                }
            }
        }
    });
    Enforcer { table, tasks }
}

async fn mirror<K>(api: Api<K>, objects: Objects<K>, changed: Arc<Notify>)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let key = |o: &K| {
        let m = o.meta();
        format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or(""),
            m.name.as_deref().unwrap_or("")
        )
    };
    let mut events = watcher(api, watcher::Config::default()).boxed();
    let mut relist: BTreeMap<String, K> = BTreeMap::new();
    while let Some(e) = events.next().await {
        match e {
            Ok(watcher::Event::Apply(o)) => {
                lock(&objects).insert(key(&o), o);
                changed.notify_one();
            }
            Ok(watcher::Event::Delete(o)) => {
                lock(&objects).remove(&key(&o));
                changed.notify_one();
            }
            Ok(watcher::Event::Init) => relist.clear(),
            Ok(watcher::Event::InitApply(o)) => {
                relist.insert(key(&o), o);
            }
            Ok(watcher::Event::InitDone) => {
                *lock(&objects) = std::mem::take(&mut relist);
                changed.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "network policy watch");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
