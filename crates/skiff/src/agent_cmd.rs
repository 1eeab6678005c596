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
    /// The resolvers pods with dnsPolicy Default use and the cluster DNS forwards other
    /// names to.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
}

#[derive(clap::Args)]
pub struct AgentArgs {
    /// The server's URL, e.g. https://10.0.0.1:6443.
    #[arg(long)]
    server: Option<String>,
    /// Shared secret agents use to join.
    #[arg(long)]
    token: Option<String>,
    /// Credentials to use (e.g. the server's admin.kubeconfig); --server overrides its URL.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
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
    config.unreachable_cidrs = vec![cluster_cidr.to_string(), service_cidr.to_string()];
    config.cluster_cidr = cluster_cidr.to_string();
    config.cluster_dns = cluster_dns.or_else(|| cluster_dns_ip(service_cidr));
    config.cluster_domain = cluster_domain.to_string();
    config.resolv_conf = flags.resolv_conf.clone();
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
    let Some(kubeconfig) = &args.kubeconfig else {
        anyhow::bail!(
            "joining with --token is not supported by this build yet; pass --kubeconfig with the server's admin.kubeconfig"
        );
    };
    let _ = &args.token;
    let node_name = match args.node_name.clone() {
        Some(n) => n,
        None => hostname()?,
    };
    let config = config(
        node_name,
        &args.data_dir,
        &args.node,
        &args.cluster_cidr,
        &args.service_cidr,
        args.cluster_dns,
        &args.cluster_domain,
    )?;
    let client = crate::sim_cmd::client(kubeconfig, args.server.as_deref()).await?;
    let mut running = agent::start(client, config).await?;
    println!("node agent running");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = running.wait() => anyhow::bail!("the agent's loops ended"),
    }
    running.shutdown().await;
    Ok(())
}
