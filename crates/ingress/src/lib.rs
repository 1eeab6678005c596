//! The built-in ingress controller, run by every node agent: an HTTP/1.1 and HTTP/2
//! reverse proxy on the node's ports (80 and 443 by default) for the Ingresses of the
//! `skiff` IngressClass and the HTTPRoutes attached to Gateways of skiff's GatewayClasses
//! ([`gateway`]). It watches Ingresses, IngressClasses, Gateway API objects, Services,
//! EndpointSlices and Secrets, compiles them into a routing table and a certificate set
//! within 20 ms of a change, and swaps both in whole; requests go straight to ready pods
//! over pooled connections.
//!
//! **API Boundary**: [`run`] with a `kube::Client` and [`Config`]; [`Ingress::shutdown`]
//! closes the listeners and drops open connections.

pub mod backends;
pub mod class;
pub mod forward;
pub mod gateway;
pub mod routes;
pub mod tls;
pub mod upstream;

mod idle;
mod listen;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress as IngressObject, IngressClass};
use kube::Api;
use proxy::{lock, mirror_selected, Objects, Progress};
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub struct Config {
    pub node_name: String,
    /// Plain HTTP (and h2c) port; 0 disables it.
    pub http_port: u16,
    /// TLS port; 0 disables it.
    pub https_port: u16,
}

/// Changes arriving within this window are compiled together.
const COALESCE: Duration = Duration::from_millis(20);

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>, value: T) {
    *l.write().unwrap_or_else(|p| p.into_inner()) = value;
}

/// A running ingress controller.
pub struct Ingress {
    tasks: tokio::task::JoinSet<()>,
    stop: tokio::sync::watch::Sender<bool>,
    /// The runtime of the data path ([`data_path_runtime`]) and its accept loops.
    data_path: Option<tokio::runtime::Runtime>,
    listeners: Vec<tokio::task::JoinHandle<()>>,
    /// The addresses actually listened on (None: disabled or the port was taken).
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
}

impl Ingress {
    /// Stops the watches and listeners and ends open connections.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // The accept loops return at once on the signal, closing the listening sockets
        // (and aborting their connections), so the ports are free when this returns.
        for l in self.listeners.drain(..) {
            let _ = l.await;
        }
        self.tasks.shutdown().await;
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context forbids; what is left on it
        // (connections being aborted) ends on its own threads.
        if let Some(rt) = self.data_path.take() {
            rt.shutdown_background();
        }
    }
}

/// The data path's own runtime: the listeners, their client connections and the backend
/// connections those drive. On the agent's shared runtime every request's wake-up also woke
/// its other, idle workers to look for work: futex wake-ups and context switches that cost
/// more CPU than the proxying itself on a small machine (BENCHMARKS.md, ingress). Here a
/// few workers serve nothing else: one per four CPUs, at least one.
fn data_path_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads((cpus / 4).max(1))
        .thread_name("skiff-ingress")
        .enable_all()
        .build()
}

/// Starts the watches, the table builder and the listeners. A port that cannot be bound
/// is logged and reported as a Warning event on the Node; the rest runs on.
pub fn run(client: kube::Client, config: Config) -> Ingress {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut ingress = Ingress {
        tasks: tokio::task::JoinSet::new(),
        stop,
        data_path: None,
        listeners: Vec::new(),
        http_addr: None,
        https_addr: None,
    };
    if config.http_port == 0 && config.https_port == 0 {
        return ingress;
    }
    let rt = match data_path_runtime() {
        Ok(rt) => ingress.data_path.insert(rt).handle().clone(),
        Err(e) => {
            tracing::error!(error = %e, "ingress: cannot start its runtime; not serving");
            return ingress;
        }
    };
    let shared = Arc::new(forward::Shared::default());
    let resolver = match tls::SniResolver::new() {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "ingress: no default certificate; not serving");
            return ingress;
        }
    };
    let mut failures = Vec::new();
    if config.http_port != 0 {
        match listen::bind(config.http_port) {
            Ok(l) => {
                ingress.http_addr = l.local_addr().ok();
                ingress.listeners.push(rt.spawn(listen::serve(
                    l,
                    None,
                    shared.clone(),
                    stopped.clone(),
                )));
            }
            Err(e) => failures.push(format!("port {}: {e}", config.http_port)),
        }
    }
    if config.https_port != 0 {
        let bound = listen::bind(config.https_port).and_then(|l| {
            let tls = tls::server_config(resolver.clone()).map_err(std::io::Error::other)?;
            Ok((l, tokio_rustls::TlsAcceptor::from(Arc::new(tls))))
        });
        match bound {
            Ok((l, acceptor)) => {
                ingress.https_addr = l.local_addr().ok();
                ingress.listeners.push(rt.spawn(listen::serve(
                    l,
                    Some(acceptor),
                    shared.clone(),
                    stopped.clone(),
                )));
            }
            Err(e) => failures.push(format!("port {}: {e}", config.https_port)),
        }
    }
    for f in &failures {
        tracing::error!("ingress controller cannot listen on {f}; Ingresses are not served there");
    }
    if !failures.is_empty() {
        ingress.tasks.spawn(listen::report_unavailable(
            client.clone(),
            config.node_name.clone(),
            failures.join("; "),
        ));
    }
    if ingress.http_addr.is_none() && ingress.https_addr.is_none() {
        return ingress;
    }
    rt.spawn(sweep_idle(shared.upstreams.clone(), stopped.clone()));
    let state = State::default();
    let changed = Arc::new(Notify::new());
    let tasks = &mut ingress.tasks;
    let all = kube::runtime::watcher::Config::default;
    tasks.spawn(watch(
        &client,
        all(),
        &state.ingresses,
        &state.listed,
        &changed,
    ));
    tasks.spawn(watch(
        &client,
        all(),
        &state.classes,
        &state.listed,
        &changed,
    ));
    tasks.spawn(watch(
        &client,
        all(),
        &state.services,
        &state.listed,
        &changed,
    ));
    tasks.spawn(watch(
        &client,
        all(),
        &state.slices,
        &state.listed,
        &changed,
    ));
    // The Gateway API kinds are custom resources that may be missing (an administrator
    // removed the CRDs): their watches retry on their own and do not hold back `listed`.
    let optional = Mutex::new(Vec::new());
    tasks.spawn(watch(
        &client,
        all(),
        &state.gateway_classes,
        &optional,
        &changed,
    ));
    tasks.spawn(watch(&client, all(), &state.gateways, &optional, &changed));
    tasks.spawn(watch(
        &client,
        all(),
        &state.http_routes,
        &optional,
        &changed,
    ));
    tasks.spawn(watch(&client, all(), &state.grants, &optional, &changed));
    // For listeners that admit routes by namespace labels.
    tasks.spawn(watch(
        &client,
        all(),
        &state.namespaces,
        &optional,
        &changed,
    ));
    // Only TLS Secrets: every node would otherwise hold every Secret of the cluster.
    let tls_only = all().fields("type=kubernetes.io/tls");
    tasks.spawn(watch(
        &client,
        tls_only,
        &state.secrets,
        &state.listed,
        &changed,
    ));
    ingress.tasks.spawn(sync(state, changed, shared, resolver));
    ingress
}

/// Closes backend connections idle too long, including those to endpoints that are gone
/// (a connection is otherwise only looked at when a request wants it).
async fn sweep_idle(
    upstreams: Arc<upstream::Upstreams>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(idle::IDLE_LIMIT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => upstreams.sweep(),
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

#[derive(Default)]
struct State {
    ingresses: Objects<IngressObject>,
    classes: Objects<IngressClass>,
    services: Objects<Service>,
    slices: Objects<EndpointSlice>,
    secrets: Objects<Secret>,
    gateway_classes: Objects<gateway::GatewayClass>,
    gateways: Objects<gateway::Gateway>,
    http_routes: Objects<gateway::HttpRoute>,
    grants: Objects<gateway::types::ReferenceGrant>,
    namespaces: Objects<Namespace>,
    /// One flag per watch, set once it has listed.
    listed: Mutex<Vec<Arc<Progress>>>,
}

impl State {
    fn all_listed(&self) -> bool {
        lock(&self.listed)
            .iter()
            .all(|l| l.listed.load(Ordering::Acquire))
    }
}

/// A cluster-wide watch of the `K` that `config` selects into `objects`, with its own
/// listed flag.
fn watch<K>(
    client: &kube::Client,
    config: kube::runtime::watcher::Config,
    objects: &Objects<K>,
    listed: &Mutex<Vec<Arc<Progress>>>,
    changed: &Arc<Notify>,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let flag = Arc::new(Progress::default());
    lock(listed).push(flag.clone());
    mirror_selected(
        Api::<K>::all(client.clone()),
        config,
        objects.clone(),
        changed.clone(),
        flag,
    )
}

/// Recompiles the table and certificates after each burst of changes.
async fn sync(
    state: State,
    changed: Arc<Notify>,
    shared: Arc<forward::Shared>,
    resolver: Arc<tls::SniResolver>,
) {
    let mut parsed = tls::ParsedSecrets::default();
    loop {
        changed.notified().await;
        tokio::time::sleep(COALESCE).await;
        let started = std::time::Instant::now();
        // Snapshots, so no lock is held while compiling.
        let ingresses: Vec<IngressObject> = lock(&state.ingresses).values().cloned().collect();
        let classes: Vec<IngressClass> = lock(&state.classes).values().cloned().collect();
        let services: Vec<Service> = lock(&state.services).values().cloned().collect();
        let slices: Vec<EndpointSlice> = lock(&state.slices).values().cloned().collect();
        let secrets: Vec<(String, Secret)> = lock(&state.secrets)
            .iter()
            .filter(|(_, s)| s.type_.as_deref() == Some("kubernetes.io/tls"))
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();

        let class_refs: Vec<&IngressClass> = classes.iter().collect();
        let mut ours: Vec<&IngressObject> = ingresses
            .iter()
            .filter(|i| i.metadata.deletion_timestamp.is_none())
            .filter(|i| class::is_ours(i, &class_refs))
            .collect();
        ours.sort_by_key(|i| {
            (
                i.metadata.creation_timestamp.clone().map(|t| t.0),
                i.metadata.namespace.clone(),
                i.metadata.name.clone(),
            )
        });
        let gateway_classes: Vec<gateway::GatewayClass> =
            lock(&state.gateway_classes).values().cloned().collect();
        let gateways: Vec<gateway::Gateway> = lock(&state.gateways).values().cloned().collect();
        let http_routes: Vec<gateway::HttpRoute> =
            lock(&state.http_routes).values().cloned().collect();
        let secret_refs: HashMap<String, &Secret> =
            secrets.iter().map(|(k, s)| (k.clone(), s)).collect();
        let service_keys: std::collections::HashSet<String> = services
            .iter()
            .map(|s| gateway::attach::key(&s.metadata))
            .collect();
        let grants: Vec<gateway::types::ReferenceGrant> =
            lock(&state.grants).values().cloned().collect();
        let namespace_labels: HashMap<String, std::collections::BTreeMap<String, String>> =
            lock(&state.namespaces)
                .values()
                .map(|n| {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    (name, n.metadata.labels.clone().unwrap_or_default())
                })
                .collect();
        let attachments = gateway::attach(
            &gateway_classes.iter().collect::<Vec<_>>(),
            &gateways.iter().collect::<Vec<_>>(),
            &http_routes.iter().collect::<Vec<_>>(),
            &gateway::attach::Lookup {
                secret_exists: &|ns, name| secret_refs.contains_key(&format!("{ns}/{name}")),
                service_exists: &|ns, name| service_keys.contains(&format!("{ns}/{name}")),
                namespace_labels: &|ns| namespace_labels.get(ns).cloned(),
                grants: &grants.iter().collect::<Vec<_>>(),
            },
        );

        let mut backends = backends::Resolver::new(&services, &slices);
        let mut table = routes::Table::default();
        routes::add_ingresses(&mut table, &ours, &mut backends);
        gateway::compile::add_routes(&mut table, &attachments, &mut backends);
        table.order();
        table.listed = state.all_listed();
        let mut certs = tls::compile(&ours, &secret_refs, &mut parsed);
        gateway::compile::add_certs(&mut certs, &attachments, &secret_refs, &mut parsed);
        write(&shared.table, Arc::new(table));
        write(&resolver.certs, Arc::new(certs));
        tracing::debug!(
            ingresses = ours.len(),
            http_routes = attachments.routes.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "ingress table rebuilt"
        );
    }
}
