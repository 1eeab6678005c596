//! The service proxy (kube-proxy's role) on every node: it watches Services and
//! EndpointSlices and keeps one nftables table (`nft -f`, one atomic transaction per
//! change) that sends service traffic to ready endpoints.
//!
//! **API Boundary**: [`run`] with a `kube::Client` and [`Config`]; it reaches the machine
//! only through the `nft` tool and removes its table when [`Proxy::shutdown`] is called.

pub mod model;
pub mod nft;
pub mod render;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;
use kube::{Api, Resource};
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("nft: {0}")]
    Nft(String),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub node_name: String,
    /// The nftables table (ip family) this proxy owns.
    pub table: String,
    pub cluster_cidr: String,
}

/// Changes arriving within this window are applied together.
const COALESCE: Duration = Duration::from_millis(50);

/// API objects by `namespace/name`, kept by [`mirror`].
pub type Objects<K> = Arc<Mutex<BTreeMap<String, K>>>;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running proxy.
pub struct Proxy {
    table: String,
    tasks: tokio::task::JoinSet<()>,
}

impl Proxy {
    /// Stops syncing and removes the table.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        if let Err(e) = nft::apply(&render::delete_script(&self.table)).await {
            tracing::warn!(error = %e, "removing the proxy's nftables table");
        }
    }
}

/// Bridged pod-to-pod packets must pass the ip hooks (br_netfilter), or a reply from a
/// service's endpoint on the same bridge skips the reverse NAT; and the node forwards.
fn ensure_sysctls() {
    let bridge = std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if !bridge.exists() {
        let _ = std::process::Command::new("modprobe")
            .arg("br_netfilter")
            .status();
    }
    for (path, value) in [
        (bridge, "1"),
        (std::path::Path::new("/proc/sys/net/ipv4/ip_forward"), "1"),
    ] {
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current.trim() != value {
            if let Err(e) = std::fs::write(path, value) {
                tracing::warn!(path = %path.display(), error = %e, "setting a sysctl the service proxy needs");
            }
        }
    }
}

/// The table of the proxy for `node` (several nodes may share a machine in tests).
pub fn table_name(node: &str) -> String {
    let clean: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("skiff-proxy-{clean}")
}

/// Starts the watches and the sync loop.
pub fn run(client: kube::Client, config: Config) -> Proxy {
    ensure_sysctls();
    let services: Objects<Service> = Arc::default();
    let slices: Objects<EndpointSlice> = Arc::default();
    let changed = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(mirror(
        Api::<Service>::all(client.clone()),
        services.clone(),
        changed.clone(),
    ));
    tasks.spawn(mirror(
        Api::<EndpointSlice>::all(client),
        slices.clone(),
        changed.clone(),
    ));
    let table = config.table.clone();
    tasks.spawn(async move {
        let mut applied = String::new();
        loop {
            changed.notified().await;
            tokio::time::sleep(COALESCE).await;
            let ports = {
                let svcs: Vec<Service> = lock(&services).values().cloned().collect();
                let eps: Vec<EndpointSlice> = lock(&slices).values().cloned().collect();
                model::build(&svcs, &eps, &config.node_name)
            };
            let script = render::script(
                &render::Settings {
                    table: &config.table,
                    cluster_cidr: &config.cluster_cidr,
                },
                &ports,
            );
            if script == applied {
                continue;
            }
            let started = std::time::Instant::now();
            match nft::apply(&script).await {
                Ok(()) => {
                    tracing::debug!(
                        ports = ports.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "service rules applied"
                    );
                    applied = script;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "applying service rules; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    changed.notify_one();
                }
            }
        }
    });
    Proxy { table, tasks }
}

/// Keeps `objects` equal to the API's, poking `changed` on every change.
pub async fn mirror<K>(api: Api<K>, objects: Objects<K>, changed: Arc<Notify>)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    mirror_tracked(api, objects, changed, Arc::default()).await
}

/// [`mirror`], setting `listed` once the first full list is in `objects` (until then an
/// empty map means "not known yet", not "none").
pub async fn mirror_tracked<K>(
    api: Api<K>,
    objects: Objects<K>,
    changed: Arc<Notify>,
    listed: Arc<std::sync::atomic::AtomicBool>,
) where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    mirror_selected(api, watcher::Config::default(), objects, changed, listed).await
}

/// [`mirror_tracked`] of the objects `config` selects (labels, fields).
pub async fn mirror_selected<K>(
    api: Api<K>,
    config: watcher::Config,
    objects: Objects<K>,
    changed: Arc<Notify>,
    listed: Arc<std::sync::atomic::AtomicBool>,
) where
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
    let mut events = watcher(api, config).boxed();
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
                listed.store(true, std::sync::atomic::Ordering::Release);
                changed.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, kind = K::kind(&Default::default()).as_ref(), "watch");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
