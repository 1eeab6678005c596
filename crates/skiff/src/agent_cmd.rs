//! `skiff agent`: the node agent against a running server; and the agent flags `skiff
//! server` shares, since a server runs an agent of its own unless told not to.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// How this machine's agent runs its pods (flags of both `skiff agent` and `skiff server`).
#[derive(clap::Args, Clone)]
pub struct NodeFlags {
    /// A running CRI runtime's socket (e.g. /run/containerd/containerd.sock); without it
    /// the agent starts and supervises its own containerd under the data dir.
    #[arg(long)]
    pub container_runtime_endpoint: Option<PathBuf>,
    /// The sandbox (pause) image of our containerd.
    #[arg(long, default_value = agent::DEFAULT_SANDBOX_IMAGE)]
    pub pause_image: String,
    /// The Linux bridge pods attach to.
    #[arg(long, default_value = "skiff0")]
    pub cni_bridge: String,
    /// Registry mirrors, credentials and TLS settings (YAML, as k3s's registries.yaml).
    #[arg(long)]
    pub registry_config: Option<PathBuf>,
    /// Hard eviction thresholds, e.g. memory.available<100Mi,nodefs.available<10%.
    #[arg(long, default_value = agent::eviction::thresholds::DEFAULT_HARD)]
    pub eviction_hard: String,
    /// Percent of the image filesystem in use that starts image garbage collection (100
    /// disables it).
    #[arg(long, default_value_t = 85)]
    pub image_gc_high_threshold: u8,
    /// Percent of use image garbage collection frees down to.
    #[arg(long, default_value_t = 80)]
    pub image_gc_low_threshold: u8,
    /// Unused images younger than this are kept.
    #[arg(long, default_value = "2m", value_parser = crate::go_duration)]
    pub image_minimum_gc_age: std::time::Duration,
    /// How often image use is checked.
    #[arg(long, default_value = "5m", value_parser = crate::go_duration, hide = true)]
    pub image_gc_period: std::time::Duration,
    /// The agent server's port (logs, exec, port-forward, stats for the apiserver); 0
    /// picks a free one, published on the Node.
    #[arg(long, default_value_t = agent::DEFAULT_KUBELET_PORT)]
    pub kubelet_port: u16,
    /// The resolvers pods with dnsPolicy Default use and the cluster DNS forwards other
    /// names to.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// The address this node reports as its InternalIP (default: the machine's first
    /// IPv4 address outside the pod bridge and the cluster's ranges); other nodes route
    /// this node's pod range to it, so it must be on a subnet they share.
    #[arg(long)]
    pub node_ip: Option<std::net::Ipv4Addr>,
    /// The built-in ingress controller's plain HTTP (and h2c) port on this node; 0
    /// disables it.
    #[arg(long, default_value_t = 80)]
    pub ingress_http_port: u16,
    /// The built-in ingress controller's TLS port on this node; 0 disables it.
    #[arg(long, default_value_t = 443)]
    pub ingress_https_port: u16,
}

/// A flag given again overrides the earlier value (wrappers and tests add to a base
/// command line).
#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct AgentArgs {
    /// The server's URL, e.g. https://10.0.0.1:6443.
    #[arg(long)]
    server: Option<String>,
    /// The server's join token (its <data dir>/token, `K10<CA hash>::<secret>`): the agent
    /// obtains its own client certificate with it and keeps it in <data dir>/kubelet.kubeconfig.
    #[arg(long)]
    token: Option<String>,
    /// Credentials to use instead of joining (e.g. the server's admin.kubeconfig); --server
    /// overrides its URL.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Renew the joined node's client certificate every this long instead of at a random
    /// 70–90% of its validity (for tests: real certificates live for a year).
    #[arg(long, hide = true, value_parser = crate::go_duration)]
    rotate_client_certificate_after: Option<std::time::Duration>,
    #[arg(long, default_value = "/var/lib/skiff/agent")]
    data_dir: PathBuf,
    /// Defaults to the machine's hostname.
    #[arg(long)]
    node_name: Option<String>,
    /// The cluster's pod range (the server's --cluster-cidr); routed unreachable here.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// The cluster's service range (the server's --service-cidr); routed unreachable here.
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    /// The cluster DNS service's address pods resolve through (default: the 10th address
    /// of --service-cidr, where the server puts kube-dns).
    #[arg(long)]
    cluster_dns: Option<std::net::IpAddr>,
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    #[command(flatten)]
    node: NodeFlags,
}

/// The kube-dns service's address in a service CIDR: its 10th, as upstream's convention.
pub fn cluster_dns_ip(service_cidr: &str) -> Option<std::net::IpAddr> {
    let (ip, bits) = service_cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    Some(std::net::Ipv4Addr::from((u32::from(ip) & mask) + 10).into())
}

/// The machine's hostname, lowercased as a node name must be.
pub fn hostname() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("reading the hostname; pass --node-name")?
        .trim()
        .to_lowercase())
}

/// The agent's settings from the shared flags.
pub fn config(
    node_name: String,
    data_dir: &Path,
    flags: &NodeFlags,
    cluster_cidr: &str,
    service_cidr: &str,
    cluster_dns: Option<std::net::IpAddr>,
    cluster_domain: &str,
) -> anyhow::Result<agent::AgentConfig> {
    let mut config = agent::AgentConfig::new(node_name, data_dir.to_path_buf());
    config.runtime_endpoint = flags.container_runtime_endpoint.clone();
    config.sandbox_image = flags.pause_image.clone();
    config.bridge = flags.cni_bridge.clone();
    config.kubelet_port = flags.kubelet_port;
    config.unreachable_cidrs = vec![cluster_cidr.to_string(), service_cidr.to_string()];
    config.cluster_cidr = cluster_cidr.to_string();
    config.cluster_dns = cluster_dns.or_else(|| cluster_dns_ip(service_cidr));
    config.cluster_domain = cluster_domain.to_string();
    config.resolv_conf = flags.resolv_conf.clone();
    config.node_ip = flags.node_ip;
    config.ingress_http_port = flags.ingress_http_port;
    config.ingress_https_port = flags.ingress_https_port;
    config.eviction_hard = agent::eviction::thresholds::parse(&flags.eviction_hard)
        .map_err(|e| anyhow::anyhow!("--eviction-hard: {e}"))?;
    config.image_gc = agent::image_gc::Settings {
        high_percent: flags.image_gc_high_threshold,
        low_percent: flags.image_gc_low_threshold,
        minimum_age: flags.image_minimum_gc_age,
        period: flags.image_gc_period,
        image_fs: PathBuf::new(),
    };
    config.image_gc.validate().map_err(|e| anyhow::anyhow!(e))?;
    if let Some(path) = &flags.registry_config {
        config.registries = agent::pull::registries::Registries::load(path)?;
    }
    Ok(config)
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let node_name = match args.node_name.clone() {
        Some(n) => n,
        None => hostname()?,
    };
    // The flags are checked before the server is contacted.
    let mut config = config(
        node_name.clone(),
        &args.data_dir,
        &args.node,
        &args.cluster_cidr,
        &args.service_cidr,
        args.cluster_dns,
        &args.cluster_domain,
    )?;
    let client = match (&args.kubeconfig, &args.server) {
        (Some(kubeconfig), server) => crate::sim_cmd::client(kubeconfig, server.as_deref()).await?,
        (None, Some(server)) => {
            let node =
                crate::join::client(server, args.token.as_deref(), &node_name, &args.data_dir)
                    .await?;
            node.spawn_rotation(node_name.clone(), args.rotate_client_certificate_after);
            node.client
        }
        (None, None) => anyhow::bail!("pass --server with --token (or --kubeconfig)"),
    };
    // The agent server accepts only the apiserver's client certificate, chained to the
    // cluster CA: from the given kubeconfig, or the one the join wrote.
    let kubeconfig = match &args.kubeconfig {
        Some(k) => k.clone(),
        None => crate::join::kubeconfig_path(&args.data_dir),
    };
    config.cluster_ca_pem = kubeconfig_ca(&kubeconfig)?;
    let mut running = agent::start(client, config).await?;
    println!("node agent running");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = running.wait() => {
            // Still remove what the agent set up on the machine (routes, tables, listeners).
            running.shutdown().await;
            anyhow::bail!("the agent's loops ended");
        }
    }
    running.shutdown().await;
    Ok(())
}

/// The cluster CA of the kubeconfig's current cluster (inline or from a file): the agent
/// server trusts client certificates it signed.
fn kubeconfig_ca(path: &Path) -> anyhow::Result<Option<String>> {
    use base64::Engine;
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let context = kc.current_context.clone().unwrap_or_default();
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    let Some(cluster) = kc
        .clusters
        .iter()
        .find(|c| Some(&c.name) == cluster_name.as_ref())
        .and_then(|c| c.cluster.as_ref())
    else {
        return Ok(None);
    };
    if let Some(data) = &cluster.certificate_authority_data {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .context("certificate-authority-data is not base64")?;
        return Ok(Some(String::from_utf8_lossy(&pem).into_owned()));
    }
    match &cluster.certificate_authority {
        Some(file) => Ok(Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
        )),
        None => Ok(None),
    }
}
