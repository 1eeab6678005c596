//! The `skiff` binary: command-line parsing and wiring, nothing else.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod agent_cmd;
mod bench;
mod bench_crd;
mod bench_datastore;
mod bench_density;
mod bench_dns;
mod bench_ingress;
mod bench_ingress_nginx;
mod bench_node;
mod bench_node_cpu;
mod bench_open_loop;
mod bench_proxy;
mod bench_scheduler;
mod bench_snapshot;
mod bench_store;
mod datastore_flags;
mod identities;
mod join;
mod kubeconfig_cmd;
mod node_credentials;
mod sim_cmd;
mod snapshot_cmd;
mod token_cmd;

// jemalloc: with many threads, glibc's malloc kept a quarter more memory resident and ran
// the density benchmark a third slower (BENCHMARKS.md, density).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "skiff",
    version,
    about = "A Kubernetes-compatible container orchestrator in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server on the embedded store).
    Server(Box<ServerArgs>),
    /// Print the version.
    Version,
    /// Measure this build (prints a Markdown report).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Simulated nodes: register them and play their kubelets' part, running nothing.
    Sim(sim_cmd::SimArgs),
    /// Run the node agent: this machine's pods as real containers through containerd.
    Agent(agent_cmd::AgentArgs),
    /// Kubeconfigs for users, with client certificates from the cluster CA.
    #[command(subcommand)]
    Kubeconfig(kubeconfig_cmd::KubeconfigCommand),
    /// Bootstrap tokens (as `kubeadm token`).
    Token(token_cmd::TokenArgs),
    /// Back up the datastore to a file, or restore one into a fresh store.
    #[command(subcommand)]
    Snapshot(snapshot_cmd::SnapshotCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// API server latency, throughput, memory and watch fan-out.
    Api(bench::ApiArgs),
    /// Creates and watch delivery through the API on SQLite, one etcd member and three, side by side; lease failover.
    Datastore(bench_datastore::DatastoreArgs),
    /// Custom resources against ConfigMaps: stored-collection memory, create cost with schema and CEL, server-side apply.
    Crd(bench_crd::CrdArgs),
    /// Durable creates into the embedded store, against the disk's raw commit rate.
    Store(bench_store::StoreArgs),
    /// Simulated pods brought to Running: time, control-plane memory and CPU.
    Density(bench_density::DensityArgs),
    /// Pod start-up latency and agent cost with real containers (needs root and containerd).
    Node(bench_node::NodeArgs),
    /// Scheduling throughput and latency in upstream scheduler_perf's shapes.
    Scheduler(bench_scheduler::SchedulerArgs),
    /// Cluster DNS queries/s and latency for in-cluster names.
    Dns(bench_dns::DnsArgs),
    /// Service proxy: EndpointSlice change to nftables rules applied, and sync cost (root).
    Proxy(bench_proxy::ProxyArgs),
    /// Ingress requests/s and latency against direct requests to the pod (needs root,
    /// containerd and wrk).
    Ingress(bench_ingress::IngressArgs),
    /// `skiff snapshot` save and restore time for many small objects, SQLite and etcd.
    Snapshot(bench_snapshot::SnapshotArgs),
}

/// A flag given again overrides the earlier value (wrappers and tests add to a base
/// command line).
#[derive(clap::Args)]
#[command(args_override_self = true)]
struct ServerArgs {
    /// Where the database, certificates and admin kubeconfig live.
    #[arg(long, default_value = "/var/lib/skiff")]
    data_dir: PathBuf,
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    #[arg(long, default_value_t = 6443)]
    https_listen_port: u16,
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// The size of each node's pod range carved from the cluster CIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    /// How long a node's kubelet may stay silent before the node is marked Unknown.
    #[arg(long, default_value = "50s", value_parser = go_duration)]
    node_monitor_grace_period: std::time::Duration,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = go_duration)]
    node_monitor_period: std::time::Duration,
    /// How often the store's history is compacted (upstream's default; 0 turns it off).
    #[arg(long, default_value = "5m", value_parser = go_duration)]
    etcd_compaction_interval: std::time::Duration,
    /// Revisions of history each compaction keeps for watchers that reconnect (tests lower it).
    #[arg(long, default_value_t = 10_000, hide = true)]
    compaction_keep_revisions: i64,
    /// The silence allowed to a node that has never reported readiness.
    #[arg(long, default_value = "1m", value_parser = go_duration)]
    node_startup_grace_period: std::time::Duration,
    /// Leader election of the controllers and the scheduler among the servers of a cluster
    /// (upstream's defaults): how long a lease is valid without renewal,
    #[arg(long, default_value = "15s", value_parser = go_duration)]
    leader_elect_lease_duration: std::time::Duration,
    /// how long a leader keeps trying to renew before it stops its work,
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    leader_elect_renew_deadline: std::time::Duration,
    /// and how often leaders renew and candidates try.
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    leader_elect_retry_period: std::time::Duration,
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    #[arg(long)]
    node_name: Option<String>,
    /// Run without the node agent on this machine (control plane only).
    #[arg(long)]
    disable_agent: bool,
    #[command(flatten)]
    node: agent_cmd::NodeFlags,
    /// The node join token agents present (`skiff agent --token`); without it, the one kept
    /// in <data dir>/token, or a new one written there.
    #[arg(long)]
    token: Option<String>,
    /// Most endpoints in one EndpointSlice.
    #[arg(long, default_value_t = controllers::endpointslice::MAX_ENDPOINTS_PER_SLICE)]
    max_endpoints_per_slice: usize,
    /// Terminated pods kept before the oldest are deleted (0: keep all).
    #[arg(long, default_value_t = controllers::podgc::TERMINATED_POD_GC_THRESHOLD)]
    terminated_pod_gc_threshold: usize,
    /// Where the local-path provisioner puts volumes' directories on their nodes.
    #[arg(long, default_value = controllers::local_path::DEFAULT_STORAGE_PATH)]
    local_storage_path: String,
    /// The audit policy (`audit.k8s.io/v1` `Policy`); without it nothing is audited.
    #[arg(long)]
    audit_policy_file: Option<PathBuf>,
    /// Where audit events go, one JSON line each (`-`: stdout); needs --audit-policy-file.
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// Days to keep rotated audit logs (0: whatever their age).
    #[arg(long, default_value_t = 0)]
    audit_log_maxage: u32,
    /// Rotated audit logs to keep (0: all).
    #[arg(long, default_value_t = 0)]
    audit_log_maxbackup: u32,
    /// Megabytes before the audit log rotates (0: never).
    #[arg(long, default_value_t = 0)]
    audit_log_maxsize: u32,
    /// Static bearer tokens: a CSV of token,user,uid,"group1,group2".
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Encryption at rest: an `apiserver.config.k8s.io/v1` `EncryptionConfiguration` file.
    #[arg(long)]
    encryption_provider_config: Option<PathBuf>,
    #[command(flatten)]
    datastore: datastore_flags::DatastoreFlags,
    #[command(flatten)]
    snapshots: snapshot_cmd::ScheduleFlags,
    /// Most read-only requests served at once, not counting long-running ones (0: no limit).
    #[arg(long, default_value_t = 400)]
    max_requests_inflight: usize,
    /// Most mutating requests served at once (0: no limit).
    #[arg(long, default_value_t = 200)]
    max_mutating_requests_inflight: usize,
    /// The oldest TLS version served: VersionTLS12 or VersionTLS13.
    #[arg(long, default_value = "VersionTLS12")]
    tls_min_version: String,
    /// TLS 1.2 cipher suites allowed, by IANA name, comma separated (empty: rustls's
    /// defaults). TLS 1.3 suites are not configurable.
    #[arg(long, value_delimiter = ',')]
    tls_cipher_suites: Vec<String>,
    /// A serving certificate (PEM, with its chain) to present instead of the one made from
    /// the cluster CA; needs --tls-private-key-file.
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    #[arg(long)]
    tls_private_key_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: the first line of clap's message, without the usage block.
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("skiff: error: {first} (see 'skiff --help')");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Version => {
            println!(
                "skiff version v{} (Kubernetes v1.37 API)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Command::Server(args) => run_server(*args),
        Command::Bench(BenchCommand::Api(args)) => block_on(bench::api(args)),
        Command::Bench(BenchCommand::Crd(args)) => block_on(bench_crd::crd(args)),
        Command::Bench(BenchCommand::Store(args)) => block_on(bench_store::store(args)),
        Command::Bench(BenchCommand::Datastore(args)) => block_on(bench_datastore::datastore(args)),
        Command::Bench(BenchCommand::Density(args)) => block_on(bench_density::density(args)),
        Command::Bench(BenchCommand::Node(args)) => block_on(bench_node::node(args)),
        Command::Bench(BenchCommand::Scheduler(args)) => block_on(bench_scheduler::scheduler(args)),
        Command::Bench(BenchCommand::Dns(args)) => block_on(bench_dns::dns(args)),
        Command::Bench(BenchCommand::Proxy(args)) => block_on(bench_proxy::proxy(args)),
        Command::Bench(BenchCommand::Ingress(args)) => block_on(bench_ingress::ingress(args)),
        Command::Sim(args) => block_on(sim_cmd::run(args)),
        Command::Agent(args) => block_on(agent_cmd::run(args)),
        Command::Kubeconfig(cmd) => kubeconfig_cmd::run(cmd),
        Command::Token(args) => block_on(token_cmd::run(args)),
        Command::Snapshot(cmd) => block_on(snapshot_cmd::run(cmd)),
        Command::Bench(BenchCommand::Snapshot(args)) => block_on(bench_snapshot::snapshot(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skiff: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// A client acting as the admin kubeconfig's user (`skiff token` run on the server).
/// `component` is the name the apiserver records its writes under (managedFields take the
/// user agent's first word).
async fn kube_client(
    kubeconfig: &std::path::Path,
    component: &str,
) -> anyhow::Result<kube::Client> {
    let kc =
        kube::config::Kubeconfig::read_from(kubeconfig).context("reading the admin kubeconfig")?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(kube::Client::try_from(named(cfg, component))?)
}

/// `cfg` sending `User-Agent: {component}/v1.37.0 (skiff)`.
pub(crate) fn named(mut cfg: kube::Config, component: &str) -> kube::Config {
    let agent = format!("{component}/v1.37.0 (skiff {})", env!("CARGO_PKG_VERSION"));
    if let Ok(v) = http::HeaderValue::from_str(&agent) {
        cfg.headers.push((http::header::USER_AGENT, v));
    }
    cfg
}

/// Runs a command's future on a multi-threaded runtime. Once it is done, background tasks
/// get a bounded time to wind down: the exit must not hang on a task that never yields or
/// on a blocking call still running.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(fut);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

/// The error and its causes on one line, skipping a cause whose text its parent already
/// shows (library errors often print their source themselves).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg.replace('\n', " ")
}

/// Runs the controllers and the scheduler under leader election, so that of several
/// servers sharing a store only one of each acts. The identity is stable for a host and
/// data dir, so a restarted server takes its lease back at once instead of waiting for
/// it to expire.
fn spawn_elected(
    client: kube::Client,
    scheduler_client: kube::Client,
    config: controllers::Config,
    data_dir: &std::path::Path,
    timing: controllers::leader_election::Timing,
) {
    let identity = leader_identity(data_dir);
    let config = std::sync::Arc::new(config);
    // One pod cache for both: they run in this process and each would otherwise hold
    // every pod.
    let pods = std::sync::Arc::new(controllers::informers::SharedPods::new(client.clone()));
    let (c, id, p) = (client.clone(), identity.clone(), pods.clone());
    tokio::spawn(async move {
        controllers::leader_election::run(c.clone(), "kube-controller-manager", &id, timing, || {
            controllers::run(c.clone(), (*config).clone(), p.get())
        })
        .await
    });
    tokio::spawn(async move {
        controllers::leader_election::run(
            scheduler_client.clone(),
            "kube-scheduler",
            &identity,
            timing,
            || {
                let pods = pods.get();
                scheduler::run(scheduler_client.clone(), pods.store(), pods.events())
            },
        )
        .await
    });
}

/// This server's leader-election identity: stable for a host and data dir.
fn leader_identity(data_dir: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "skiff".into());
    let dir = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    format!("{host}_{:08x}", fnv32(dir.to_string_lossy().as_bytes()))
}

fn fnv32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

pub(crate) fn go_duration(s: &str) -> Result<std::time::Duration, String> {
    apimachinery::duration::parse(s)
        .ok_or_else(|| format!("invalid duration {s:?} (e.g. 500ms, 40s, 2m)"))
}

/// As upstream, the policy and the log path go together: either alone audits nothing.
fn audit_config(args: &ServerArgs) -> anyhow::Result<Option<apiserver::AuditConfig>> {
    match (&args.audit_policy_file, &args.audit_log_path) {
        (Some(policy), Some(path)) => Ok(Some(apiserver::AuditConfig {
            policy_file: policy.clone(),
            log: apiserver::AuditLogOptions {
                path: path.clone(),
                max_age_days: args.audit_log_maxage,
                max_backups: args.audit_log_maxbackup,
                max_size_mb: args.audit_log_maxsize,
            },
        })),
        (None, Some(_)) => {
            tracing::warn!("--audit-log-path without --audit-policy-file: nothing is audited");
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    // Upstream's rules: otherwise two servers could both believe they lead.
    if args.leader_elect_lease_duration <= args.leader_elect_renew_deadline {
        anyhow::bail!(
            "--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline"
        );
    }
    if args.leader_elect_renew_deadline <= args.leader_elect_retry_period {
        anyhow::bail!(
            "--leader-elect-renew-deadline must be greater than --leader-elect-retry-period"
        );
    }
    block_on(async move {
        let started = std::time::Instant::now();
        let mut server = apiserver::start(apiserver::Config {
            data_dir: args.data_dir.clone(),
            bind_address: args.bind_address,
            port: args.https_listen_port,
            service_cidr: args.service_cidr.clone(),
            cluster_domain: args.cluster_domain.clone(),
            join_token: args.token.clone(),
            audit: audit_config(&args)?,
            token_auth_file: args.token_auth_file.clone(),
            max_requests_inflight: args.max_requests_inflight,
            max_mutating_requests_inflight: args.max_mutating_requests_inflight,
            tls: apiserver::TlsFlags {
                min_version: args.tls_min_version.clone(),
                cipher_suites: args.tls_cipher_suites.clone(),
                cert_file: args.tls_cert_file.clone(),
                key_file: args.tls_private_key_file.clone(),
            },
            encryption_provider_config: args.encryption_provider_config.clone(),
            datastore: args.datastore.to_config()?,
            compaction_interval: args.etcd_compaction_interval,
            compaction_keep: args.compaction_keep_revisions,
        })
        .await?;
        tracing::info!(addr = %server.addr, elapsed_ms = started.elapsed().as_millis() as u64, "skiff server ready");
        args.snapshots
            .spawn(server.store.clone(), &args.data_dir, &args.datastore)?;
        // The controllers talk to this apiserver through its API, as any client does, each
        // component as itself (`identities.rs`), not as the admin.
        let client = identities::client_as(
            &args.data_dir,
            &server.kubeconfig,
            apiserver::CONTROLLER_MANAGER_USER,
            &[],
            "kube-controller-manager",
        )
        .await?;
        let scheduler_client = identities::client_as(
            &args.data_dir,
            &server.kubeconfig,
            apiserver::SCHEDULER_USER,
            &[],
            "kube-scheduler",
        )
        .await?;
        let ca_pem = std::fs::read_to_string(args.data_dir.join("tls").join("ca.crt"))
            .context("reading the cluster CA")?;
        let ca_key_pem = std::fs::read_to_string(args.data_dir.join("tls").join("ca.key"))
            .context("reading the cluster CA key")?;
        let config = controllers::Config {
            ca_pem: ca_pem.clone(),
            ca_key_pem,
            cluster_cidr: args.cluster_cidr.clone(),
            node_cidr_mask_size: args.node_cidr_mask_size,
            node_lifecycle: controllers::nodelifecycle::Settings {
                monitor_period: args.node_monitor_period,
                grace_period: args.node_monitor_grace_period,
                startup_grace_period: args.node_startup_grace_period,
            },
            max_endpoints_per_slice: args.max_endpoints_per_slice,
            terminated_pod_gc_threshold: args.terminated_pod_gc_threshold,
            local_storage_path: args.local_storage_path.clone(),
        };
        let timing = controllers::leader_election::Timing {
            lease_duration: args.leader_elect_lease_duration,
            renew_deadline: args.leader_elect_renew_deadline,
            retry_period: args.leader_elect_retry_period,
        };
        spawn_elected(client, scheduler_client, config, &args.data_dir, timing);
        // This machine's own node: its pods run here as real containers.
        let mut node_agent = None;
        if !args.disable_agent {
            let name = match args.node_name.clone() {
                Some(n) => n,
                None => agent_cmd::hostname()?,
            };
            let mut config = agent_cmd::config(
                name,
                &args.data_dir.join("agent"),
                &args.node,
                &args.cluster_cidr,
                &args.service_cidr,
                None,
                &args.cluster_domain,
            )?;
            config.cluster_ca_pem = Some(ca_pem);
            let kubelet_client = identities::client_as(
                &args.data_dir,
                &server.kubeconfig,
                &identities::node_user(&config.node_name),
                &[apiserver::NODES_GROUP],
                "kubelet",
            )
            .await?;
            let agent = agent::start(kubelet_client, config)
                .await
                .context("starting the node agent (--disable-agent runs the control plane only)")?;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "node agent ready"
            );
            node_agent = Some(agent);
        }
        println!("export KUBECONFIG={}", server.kubeconfig.display());
        println!(
            "node join token: {} (skiff agent --server https://<this host>:{} --token \"$(cat {})\")",
            server.token_file.display(),
            server.addr.port(),
            server.token_file.display()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            r = &mut server.serve => {
                r.context("server task")?;
                anyhow::bail!("the API server stopped serving");
            }
        }
        tracing::info!("shutting down");
        if let Some(agent) = node_agent {
            agent.shutdown().await;
        }
        // Requests in flight finish and watches end cleanly; acknowledged writes are
        // already durable.
        server.shutdown().await;
        tracing::info!("server stopped");
        Ok(())
    })
}
