//! `skiff sim`: simulated nodes against a running server.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct SimArgs {
    /// The server's URL, e.g. https://10.0.0.1:6443.
    #[arg(long)]
    server: Option<String>,
    /// Shared secret agents use to join.
    #[arg(long)]
    token: Option<String>,
    /// Credentials to use (e.g. the server's admin.kubeconfig); --server overrides its URL.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    #[arg(long, default_value = "sim-")]
    name_prefix: String,
    /// Spread the nodes round robin over this many zones (zone-a, zone-b, ...).
    #[arg(long, default_value_t = 3)]
    zones: usize,
    /// Pod ranges per node (one /node-cidr-mask-size each) are carved from this.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// Each node's capacity.
    #[arg(long, default_value = "8")]
    cpu: String,
    #[arg(long, default_value = "32Gi")]
    memory: String,
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// A label on every node, `key=value` (repeatable).
    #[arg(long = "label", value_parser = key_value)]
    labels: Vec<(String, String)>,
    /// A taint on every node, `key[=value]:Effect` (repeatable).
    #[arg(long = "taint", value_parser = taint)]
    taints: Vec<String>,
    /// An extended resource in every node's capacity, e.g. `nvidia.com/gpu=4` (repeatable).
    #[arg(long = "extended-resource", value_parser = key_value)]
    extended_resources: Vec<(String, String)>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?}: expected key=value"))
}

fn taint(s: &str) -> Result<String, String> {
    ::sim::taint(s)
        .map(|_| s.to_string())
        .ok_or_else(|| format!("{s:?}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute"))
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let Some(kubeconfig) = &args.kubeconfig else {
        anyhow::bail!(
            "joining with --token is not supported by this build yet; pass --kubeconfig with the server's admin.kubeconfig"
        );
    };
    let client = client(kubeconfig, args.server.as_deref()).await?;
    let config = ::sim::SimConfig {
        nodes: args.nodes,
        name_prefix: args.name_prefix,
        zones: args.zones,
        cluster_cidr: args.cluster_cidr,
        node_cidr_mask_size: args.node_cidr_mask_size,
        cpu: args.cpu,
        memory: args.memory,
        max_pods: args.max_pods,
        labels: args.labels,
        taints: args.taints,
        extended_resources: args.extended_resources,
        ..sim::SimConfig::default()
    };
    let running = ::sim::start(client, config).await?;
    println!("simulating {} nodes", running.node_names().len());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
        r = running.wait() => Ok(r?),
    }
}

/// A client from a kubeconfig, with `server` (a URL) overriding its cluster address.
pub async fn client(
    kubeconfig: &std::path::Path,
    server: Option<&str>,
) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let mut cfg =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    if let Some(server) = server {
        cfg.cluster_url = server
            .parse()
            .with_context(|| format!("--server {server}: not a URL"))?;
    }
    // Simulated nodes and real ones both play the kubelet.
    Ok(kube::Client::try_from(crate::named(cfg, "kubelet"))?)
}
