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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use tokio::sync::{watch, Notify};

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

/// What the last pass of the sync loop did; [`Proxy::syncs`] follows it (benchmarks read
/// it to time a change's way from the API to the kernel).
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// Passes so far (including those with nothing to apply).
    pub passes: u64,
    /// Transactions applied so far.
    pub applied: u64,
    /// The last transaction wrote the table whole (else only the difference).
    pub full: bool,
    /// The highest resourceVersion of a Service and of an EndpointSlice the mirrors had
    /// seen when the rules in the table were computed: every change up to these is in it.
    pub services_revision: u64,
    pub slices_revision: u64,
    pub service_ports: usize,
    /// Building the model and the script, then running `nft`, in the last pass.
    pub compute: Duration,
    pub apply: Duration,
    pub script_bytes: usize,
}

/// A running proxy.
pub struct Proxy {
    table: String,
    tasks: tokio::task::JoinSet<()>,
    syncs: watch::Receiver<SyncReport>,
}

impl Proxy {
    /// The report of each pass of the sync loop, as it ends.
    pub fn syncs(&self) -> watch::Receiver<SyncReport> {
        self.syncs.clone()
    }

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
    let services_progress = Arc::new(Progress::default());
    let slices_progress = Arc::new(Progress::default());
    let changed = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(mirror_tracked(
        Api::<Service>::all(client.clone()),
        services.clone(),
        changed.clone(),
        services_progress.clone(),
    ));
    tasks.spawn(mirror_tracked(
        Api::<EndpointSlice>::all(client),
        slices.clone(),
        changed.clone(),
        slices_progress.clone(),
    ));
    let table = config.table.clone();
    let (report_tx, syncs) = watch::channel(SyncReport::default());
    tasks.spawn(async move {
        // What the table holds; `None` until written whole, and after a failure (the
        // kernel's copy is then unknown).
        let mut applied: Option<render::Ruleset> = None;
        let mut report = SyncReport::default();
        loop {
            changed.notified().await;
            // Services without their endpoints would be written as rejecting: wait for
            // both lists (the second one's end pokes `changed` again).
            if !services_progress.listed.load(Ordering::Acquire)
                || !slices_progress.listed.load(Ordering::Acquire)
            {
                continue;
            }
            tokio::time::sleep(COALESCE).await;
            let started = Instant::now();
            // Read before the objects: every change up to these revisions is in the copy.
            let revisions = (
                services_progress.revision.load(Ordering::Acquire),
                slices_progress.revision.load(Ordering::Acquire),
            );
            let ports = {
                let svcs: Vec<Service> = lock(&services).values().cloned().collect();
                let eps: Vec<EndpointSlice> = lock(&slices).values().cloned().collect();
                model::build(&svcs, &eps, &config.node_name)
            };
            let settings = render::Settings {
                table: &config.table,
                cluster_cidr: &config.cluster_cidr,
            };
            let rules = render::ruleset(&settings, &ports);
            let update = applied
                .as_ref()
                .and_then(|old| render::update_script(&config.table, old, &rules));
            let full = update.is_none();
            let script = update.unwrap_or_else(|| render::script(&settings, &rules));
            let compute = started.elapsed();
            let started = Instant::now();
            if !script.is_empty() {
                if let Err(e) = nft::apply(&script).await {
                    tracing::warn!(error = %e, full, "applying service rules; retrying whole");
                    applied = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    changed.notify_one();
                    continue;
                }
                report.applied += 1;
                report.full = full;
                report.apply = started.elapsed();
                report.script_bytes = script.len();
                tracing::debug!(
                    ports = ports.len(),
                    full,
                    bytes = script.len(),
                    compute_ms = compute.as_millis() as u64,
                    apply_ms = report.apply.as_millis() as u64,
                    "service rules applied"
                );
            }
            applied = Some(rules);
            report.passes += 1;
            (report.services_revision, report.slices_revision) = revisions;
            report.service_ports = ports.len();
            report.compute = compute;
            report_tx.send_replace(report.clone());
        }
    });
    Proxy {
        table,
        tasks,
        syncs,
    }
}

/// Keeps `objects` equal to the API's, poking `changed` on every change.
pub async fn mirror<K>(api: Api<K>, objects: Objects<K>, changed: Arc<Notify>)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    mirror_tracked(api, objects, changed, Arc::default()).await
}

/// How far a [`mirror_tracked`] has come.
#[derive(Debug, Default)]
pub struct Progress {
    /// The highest resourceVersion seen, raised once the object is in the mirror.
    pub revision: AtomicU64,
    /// The first list is in the mirror (until then an empty map means "not known yet",
    /// not "none").
    pub listed: AtomicBool,
}

/// As [`mirror`], also keeping `progress`.
pub async fn mirror_tracked<K>(
    api: Api<K>,
    objects: Objects<K>,
    changed: Arc<Notify>,
    progress: Arc<Progress>,
) where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    mirror_selected(api, watcher::Config::default(), objects, changed, progress).await
}

/// [`mirror_tracked`] of the objects `config` selects (labels, fields).
pub async fn mirror_selected<K>(
    api: Api<K>,
    config: watcher::Config,
    objects: Objects<K>,
    changed: Arc<Notify>,
    progress: Arc<Progress>,
) where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let rv = |o: &K| -> u64 {
        o.meta()
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let key = |o: &K| {
        let m = o.meta();
        format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or(""),
            m.name.as_deref().unwrap_or("")
        )
    };
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut relist: BTreeMap<String, K> = BTreeMap::new();
    while let Some(e) = events.next().await {
        match e {
            Ok(watcher::Event::Apply(o)) => {
                let r = rv(&o);
                lock(&objects).insert(key(&o), o);
                progress.revision.fetch_max(r, Ordering::Release);
                changed.notify_one();
            }
            Ok(watcher::Event::Delete(o)) => {
                lock(&objects).remove(&key(&o));
                progress.revision.fetch_max(rv(&o), Ordering::Release);
                changed.notify_one();
            }
            Ok(watcher::Event::Init) => relist.clear(),
            Ok(watcher::Event::InitApply(o)) => {
                relist.insert(key(&o), o);
            }
            Ok(watcher::Event::InitDone) => {
                let r = relist.values().map(rv).max().unwrap_or(0);
                *lock(&objects) = std::mem::take(&mut relist);
                progress.revision.fetch_max(r, Ordering::Release);
                progress.listed.store(true, Ordering::Release);
                changed.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, kind = K::kind(&Default::default()).as_ref(), "watch");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
