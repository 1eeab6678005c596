//! Cluster DNS (CoreDNS's `kubernetes` plugin's role): answers for Services, their
//! endpoints and pods under the cluster domain from watches of Services and
//! EndpointSlices, and forwards every other name to the host's resolvers.
//!
//! **API Boundary**: [`run`] with a `kube::Client` and [`Config`]; it listens on the given
//! address (UDP and TCP) and stops with [`Dns::shutdown`]. [`index`] and [`answer`] are
//! pure; [`resolv`] parses resolv.conf files.

pub mod answer;
pub mod forward;
pub mod index;
pub mod resolv;
pub mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cluster domain {0:?}: {1}")]
    Domain(String, hickory_proto::ProtoError),
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The cluster domain, e.g. `cluster.local`.
    pub domain: String,
    /// Where to listen (UDP and TCP); the address need not exist yet.
    pub listen: SocketAddr,
    /// Where other names go (the host's nameservers, port 53).
    pub upstreams: Vec<SocketAddr>,
    /// UDP receive loops (one per core is plenty).
    pub workers: usize,
}

/// Changes arriving within this window are indexed together.
const COALESCE: Duration = Duration::from_millis(20);

type Objects<K> = Arc<Mutex<BTreeMap<String, K>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running DNS server.
pub struct Dns {
    pub addr: SocketAddr,
    snapshot: server::Snapshot,
    tasks: tokio::task::JoinSet<()>,
}

impl Dns {
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }

    /// How many services the answers know (0 before the first sync).
    pub fn services(&self) -> usize {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |s| s.0.len())
    }
}

/// Binds the sockets, then starts the watches, the indexer and the servers.
pub fn run(client: kube::Client, config: Config) -> Result<Dns, Error> {
    let zone =
        answer::Zone::new(&config.domain).map_err(|e| Error::Domain(config.domain.clone(), e))?;
    let listen_err = |source| Error::Listen {
        addr: config.listen,
        source,
    };
    let udp = server::bind_udp(config.listen).map_err(listen_err)?;
    let tcp = server::bind_tcp(config.listen).map_err(listen_err)?;
    let addr = udp.local_addr().map_err(listen_err)?;
    let udp = Arc::new(tokio::net::UdpSocket::from_std(udp).map_err(listen_err)?);
    let tcp = tokio::net::TcpListener::from_std(tcp).map_err(listen_err)?;

    let snapshot: server::Snapshot = Arc::default();
    let handler = Arc::new(server::Handler {
        snapshot: snapshot.clone(),
        forwarder: forward::Forwarder::new(config.upstreams.clone()),
        domain: zone.domain.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config.workers.max(1) {
        tasks.spawn(server::serve_udp(udp.clone(), handler.clone()));
    }
    tasks.spawn(server::serve_tcp(tcp, handler));

    let services: Objects<Service> = Arc::default();
    let slices: Objects<EndpointSlice> = Arc::default();
    // Bumped on every change; `true` parts say which watches have listed once.
    let (changed, mut changes) = watch::channel((0u64, false, false));
    tasks.spawn(mirror(
        Api::<Service>::all(client.clone()),
        services.clone(),
        changed.clone(),
        |s| &mut s.1,
    ));
    tasks.spawn(mirror(
        Api::<EndpointSlice>::all(client),
        slices.clone(),
        changed,
        |s| &mut s.2,
    ));
    let snap = snapshot.clone();
    tasks.spawn(async move {
        let mut serial: u32 = unix_seconds();
        while changes.changed().await.is_ok() {
            tokio::time::sleep(COALESCE).await;
            let (_, svcs_listed, slices_listed) = *changes.borrow_and_update();
            if !(svcs_listed && slices_listed) {
                continue;
            }
            let index = {
                let svcs: Vec<Service> = lock(&services).values().cloned().collect();
                let eps: Vec<EndpointSlice> = lock(&slices).values().cloned().collect();
                index::build(&svcs, &eps)
            };
            // The SOA serial moves with the data, as CoreDNS's does.
            serial = unix_seconds().max(serial.wrapping_add(1));
            let zone = answer::Zone {
                domain: zone.domain.clone(),
                serial,
            };
            *snap.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new((index, zone)));
        }
    });
    Ok(Dns {
        addr,
        snapshot,
        tasks,
    })
}

fn unix_seconds() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
}

type State = (u64, bool, bool);

/// Keeps `objects` equal to the API's, bumping `changed` on every change.
async fn mirror<K>(
    api: Api<K>,
    objects: Objects<K>,
    changed: watch::Sender<State>,
    listed: fn(&mut State) -> &mut bool,
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
    let bump = |done: bool| {
        changed.send_modify(|s| {
            s.0 += 1;
            if done {
                *listed(s) = true;
            }
        })
    };
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relist: BTreeMap<String, K> = BTreeMap::new();
    while let Some(e) = events.next().await {
        match e {
            Ok(watcher::Event::Apply(o)) => {
                lock(&objects).insert(key(&o), o);
                bump(false);
            }
            Ok(watcher::Event::Delete(o)) => {
                lock(&objects).remove(&key(&o));
                bump(false);
            }
            Ok(watcher::Event::Init) => relist.clear(),
            Ok(watcher::Event::InitApply(o)) => {
                relist.insert(key(&o), o);
            }
            Ok(watcher::Event::InitDone) => {
                *lock(&objects) = std::mem::take(&mut relist);
                bump(true);
            }
            Err(e) => {
                tracing::warn!(error = %e, "dns watch");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
