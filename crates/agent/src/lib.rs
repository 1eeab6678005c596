//! The node agent (the kubelet's role): runs the pods bound to this node as real containers
//! through a CRI runtime, and keeps the node's API objects (Node, Lease) fresh.
//!
//! **API Boundary**: [`run`] with an [`AgentConfig`] and a `kube::Client`. It reaches the
//! cluster only through the API, and the machine only through the CRI socket, the CNI conf
//! dir and (with no runtime endpoint given) the containerd child it supervises.

pub mod cgroups;
pub mod cluster_dns;
pub mod cni;
pub mod containerd;
pub mod cri;
pub mod events;
pub mod eviction;
pub mod image_gc;
pub mod local_path;
pub mod machine;
pub mod node;
pub mod pod_dns;
pub mod pod_routes;
pub mod pods;
pub mod pull;
pub mod resources;
pub mod routes;
pub mod server;
pub mod volumes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use sim::clock;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "missing {binaries}: install the Debian packages with `apt-get install {packages}` (or pass --container-runtime-endpoint to use a running CRI runtime)"
    )]
    MissingBinaries { binaries: String, packages: String },
    #[error("container runtime: {0}")]
    Cri(String),
    #[error("{0}: {1}")]
    Api(String, #[source] kube::Error),
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn status(call: &str, s: tonic::Status) -> Error {
        Error::Cri(format!("{call}: {}", s.message()))
    }
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub node_name: String,
    pub data_dir: PathBuf,
    /// A running CRI runtime's socket; None = start our own containerd.
    pub runtime_endpoint: Option<PathBuf>,
    /// The pause image our containerd runs sandboxes with.
    pub sandbox_image: String,
    /// The Linux bridge of the pod network.
    pub bridge: String,
    /// The cluster and service CIDRs: routed `unreachable` on this machine.
    pub unreachable_cidrs: Vec<String>,
    /// Mirrors, credentials and TLS per registry (`--registry-config`).
    pub registries: pull::registries::Registries,
    /// Hard eviction thresholds (`--eviction-hard`).
    pub eviction_hard: Vec<eviction::thresholds::Threshold>,
    /// When unused images are removed (the image filesystem is filled in by `start`).
    pub image_gc: image_gc::Settings,
    /// The pod network; the service proxy masquerades service traffic from outside it.
    pub cluster_cidr: String,
    /// The agent server's port (the kubelet's 10250); 0 picks a free one.
    pub kubelet_port: u16,
    /// The cluster CA (PEM): the agent server accepts only the apiserver's client
    /// certificate chained to it. None: no agent server (no logs, exec, top).
    pub cluster_ca_pem: Option<String>,
    /// The cluster DNS service's address (`--cluster-dns`); with it the node serves DNS on
    /// its bridge and pods resolve through it, without it pods use the host's resolvers.
    pub cluster_dns: Option<std::net::IpAddr>,
    /// `--cluster-domain`.
    pub cluster_domain: String,
    /// The InternalIP to report (`--node-ip`); None: the machine's first IPv4 address.
    /// Other nodes route this node's podCIDR to it.
    pub node_ip: Option<std::net::Ipv4Addr>,
    /// The resolvers pods with dnsPolicy Default get and other names are forwarded to
    /// (`--resolv-conf`).
    pub resolv_conf: PathBuf,
    /// The built-in ingress controller's ports on this node (`--ingress-http-port`,
    /// `--ingress-https-port`); 0 disables one.
    pub ingress_http_port: u16,
    pub ingress_https_port: u16,
}

impl AgentConfig {
    pub fn new(node_name: String, data_dir: PathBuf) -> AgentConfig {
        AgentConfig {
            node_name,
            data_dir,
            runtime_endpoint: None,
            sandbox_image: DEFAULT_SANDBOX_IMAGE.into(),
            bridge: "skiff0".into(),
            unreachable_cidrs: vec!["10.42.0.0/16".into(), "10.43.0.0/16".into()],
            registries: Default::default(),
            eviction_hard: eviction::thresholds::parse(eviction::thresholds::DEFAULT_HARD)
                .unwrap_or_default(),
            image_gc: image_gc::Settings::default(),
            cluster_cidr: "10.42.0.0/16".into(),
            kubelet_port: DEFAULT_KUBELET_PORT,
            cluster_ca_pem: None,
            cluster_dns: None,
            cluster_domain: "cluster.local".into(),
            node_ip: None,
            resolv_conf: dns::resolv::HOST.into(),
            ingress_http_port: 80,
            ingress_https_port: 443,
        }
    }
}

/// The kubelet's port.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// The pause image `scripts/build-test-images.sh` pushes to the shared local registry.
pub const DEFAULT_SANDBOX_IMAGE: &str = "127.0.0.1:5055/skiff/pause:1";

/// A started agent: the containerd it supervises (if any) and its loops.
pub struct Agent {
    containerd: Option<containerd::Supervisor>,
    proxy: Option<proxy::Proxy>,
    netpol: Option<netpol::Enforcer>,
    dns: Option<cluster_dns::ClusterDns>,
    pod_routes: Option<pod_routes::PodRoutes>,
    ingress: Option<ingress::Ingress>,
    tasks: tokio::task::JoinSet<()>,
}

impl Agent {
    /// Stops the loops, then our containerd. Pods' containers stay with their shims.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        if let Some(r) = self.pod_routes.take() {
            r.shutdown().await;
        }
        if let Some(i) = self.ingress.take() {
            i.shutdown().await;
        }
        if let Some(d) = self.dns.take() {
            d.shutdown().await;
        }
        if let Some(p) = self.proxy.take() {
            p.shutdown().await;
        }
        if let Some(n) = self.netpol.take() {
            n.shutdown().await;
        }
        if let Some(c) = self.containerd.take() {
            c.stop().await;
        }
    }

    /// Runs until a loop ends (they run forever unless something is badly wrong).
    pub async fn wait(&mut self) {
        let _ = self.tasks.join_next().await;
    }
}

/// Starts the runtime (ours or the given one), registers the node, writes the pod network
/// config once the node has its podCIDR, and starts the heartbeat and pod loops.
pub async fn start(client: kube::Client, config: AgentConfig) -> Result<Agent, Error> {
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    let layout = containerd::Layout::new(data_dir);
    let (supervisor, socket) = match &config.runtime_endpoint {
        Some(sock) => (None, sock.clone()),
        None => {
            let s = containerd::Supervisor::start(layout.clone(), &config.sandbox_image).await?;
            let sock = s.socket.clone();
            (Some(s), sock)
        }
    };
    let mut agent = Agent {
        containerd: supervisor,
        proxy: None,
        netpol: None,
        dns: None,
        pod_routes: None,
        ingress: None,
        tasks: tokio::task::JoinSet::new(),
    };
    match bring_up(client, &config, &layout, &socket, &mut agent).await {
        Ok(()) => Ok(agent),
        Err(e) => {
            agent.shutdown().await;
            Err(e)
        }
    }
}

async fn bring_up(
    client: kube::Client,
    config: &AgentConfig,
    layout: &containerd::Layout,
    socket: &Path,
    agent: &mut Agent,
) -> Result<(), Error> {
    if agent.containerd.is_some() {
        config.registries.write_hosts(&layout.certs_d)?;
    }
    let cri = cri::Cri::connect(socket)?;
    let version = cri.wait_ready(Duration::from_secs(30)).await?;
    let runtime_version = format!("{}://{}", version.runtime_name, version.runtime_version);
    tracing::info!(runtime = %runtime_version, socket = %socket.display(), "container runtime ready");

    let name = config.node_name.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), sim::LEASE_NAMESPACE);
    let machine = machine::Machine::probe(
        &config.data_dir,
        &machine::AddressChoice {
            node_ip: config.node_ip,
            bridge: config.bridge.clone(),
            avoid: config.unreachable_cidrs.clone(),
        },
    );
    let started = clock::now();
    let kubelet_port = start_server(config, &cri, &machine, agent).await?;
    let node_uid = node::register(&nodes, &name).await?;
    node::ensure_lease(&leases, &name, &node_uid).await?;
    let pressure = eviction::SharedPressure::default();
    let status = {
        let (name, machine, runtime_version, pressure) = (
            name.clone(),
            machine.clone(),
            runtime_version.clone(),
            pressure.clone(),
        );
        move |ready: bool| {
            let pressure = *pressure.lock().unwrap_or_else(|p| p.into_inner());
            node::status(&node::StatusInput {
                name: &name,
                machine: &machine,
                runtime_version: &runtime_version,
                ready,
                pressure,
                kubelet_port,
                since: started,
                now: clock::now(),
            })
        }
    };
    node::post_status(&nodes, &name, status(false)).await?;

    let pod_cidr = node::wait_pod_cidr(&nodes, &name).await?;
    cni::write(
        &layout.cni_conf_dir,
        &cni::NetworkConfig {
            bridge: config.bridge.clone(),
            pod_cidr: pod_cidr.clone(),
            ipam_dir: config
                .data_dir
                .join("cni")
                .join("ipam")
                .display()
                .to_string(),
        },
    )?;
    routes::ensure_unreachable(&config.unreachable_cidrs).await?;
    agent.pod_routes = Some(pod_routes::start(
        client.clone(),
        pod_routes::Settings {
            node_name: name.clone(),
            cluster_cidr: config.cluster_cidr.clone(),
            no_gateway_in: config.unreachable_cidrs.clone(),
            bridge: config.bridge.clone(),
            own_pod_cidr: pod_cidr.clone(),
            state_file: config.data_dir.join("pod-routes"),
        },
    )?);
    tracing::info!(node = %name, %pod_cidr, "pod network configured");
    let host_dns = dns::resolv::ResolvConf::load(&config.resolv_conf);
    if config.cluster_dns.is_some() {
        // Pods run without it (their lookups fail), as they would with CoreDNS down.
        let started = cluster_dns::start(
            client.clone(),
            &name,
            &config.cluster_domain,
            &pod_cidr,
            &host_dns,
        );
        match started.await {
            Ok(d) => agent.dns = Some(d),
            Err(e) => tracing::error!(error = %e, "cluster DNS not started on this node"),
        }
    }
    node::post_status(&nodes, &name, status(true)).await?;
    // The pressure conditions are posted as soon as they change, not at the next beat.
    let pressure_changed = {
        let (nodes, name, status) = (nodes.clone(), name.clone(), status.clone());
        move || {
            let (nodes, name, body) = (nodes.clone(), name.clone(), status(true));
            tokio::spawn(async move {
                if let Err(e) = node::post_status(&nodes, &name, body).await {
                    tracing::warn!(error = %e, "node status");
                }
            });
        }
    };
    agent.tasks.spawn(node::heartbeat(
        nodes,
        leases,
        name.clone(),
        node_uid,
        move || status(true),
    ));

    agent
        .tasks
        .spawn(local_path::run(client.clone(), name.clone()));
    let events = events::Recorder {
        client: client.clone(),
        node: name.clone(),
    };
    let ctx = Arc::new(pods::Context {
        events,
        client: client.clone(),
        cri,
        node_name: name,
        host_ip: machine.internal_ip.to_string(),
        pod_logs: config.data_dir.join("pods"),
        pulls: pull::Pulls {
            client: client.clone(),
            certs_d: agent.containerd.as_ref().map(|_| layout.certs_d.clone()),
            registries: config.registries.clone(),
        },
        own_runtime: agent.containerd.is_some(),
        dns: pod_dns::Settings {
            cluster_dns: config.cluster_dns.into_iter().collect(),
            domain: config.cluster_domain.clone(),
            host: host_dns,
        },
        starts: tokio::sync::Semaphore::new(pods::parallel_starts()),
    });
    let image_fs = if agent.containerd.is_some() {
        layout.root.clone()
    } else {
        config.data_dir.clone()
    };
    agent.tasks.spawn(image_gc::run(
        ctx.cri.clone(),
        image_gc::Settings {
            image_fs,
            ..config.image_gc.clone()
        },
        config.sandbox_image.clone(),
    ));
    agent.tasks.spawn(eviction::run(
        ctx.clone(),
        eviction::Settings {
            thresholds: config.eviction_hard.clone(),
            nodefs: config.data_dir.clone(),
            imagefs: layout.root.clone(),
        },
        pressure,
        pressure_changed,
    ));
    agent.tasks.spawn(pods::run(ctx));
    agent.netpol = Some(netpol::run(client.clone(), config.node_name.clone()));
    agent.ingress = Some(ingress::run(
        client.clone(),
        ingress::Config {
            node_name: config.node_name.clone(),
            http_port: config.ingress_http_port,
            https_port: config.ingress_https_port,
        },
    ));
    agent.proxy = Some(proxy::run(
        client,
        proxy::Config {
            table: proxy::table_name(&config.node_name),
            node_name: config.node_name.clone(),
            cluster_cidr: config.cluster_cidr.clone(),
        },
    ));
    Ok(())
}

/// The agent server (logs, exec, attach, port-forward, stats) on the kubelet's port; the
/// port bound, or 0 when no cluster CA was given (no caller could be authenticated).
async fn start_server(
    config: &AgentConfig,
    cri: &cri::Cri,
    machine: &machine::Machine,
    agent: &mut Agent,
) -> Result<u16, Error> {
    let Some(ca_pem) = config.cluster_ca_pem.clone() else {
        tracing::warn!("no cluster CA given: the agent server (logs, exec, top) is off");
        return Ok(0);
    };
    let settings = server::Settings {
        bind: std::net::IpAddr::from([0, 0, 0, 0]),
        port: config.kubelet_port,
        tls_dir: config.data_dir.join("tls"),
        ca_pem,
        names: vec![
            config.node_name.clone(),
            machine.internal_ip.to_string(),
            "127.0.0.1".into(),
            "localhost".into(),
        ],
    };
    let ctx = Arc::new(server::Context::new(
        cri.clone(),
        config.data_dir.join("pods"),
        config.node_name.clone(),
    ));
    let (port, task) = server::start(settings, ctx).await?;
    tracing::info!(port, "agent server listening");
    agent.tasks.spawn(async move {
        let _ = task.await;
    });
    Ok(port)
}
