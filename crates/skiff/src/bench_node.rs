//! `skiff bench node`: the node agent with real containers (containerd, runc, CNI).
//!
//! 1. Start-up: `skiff server` with its own agent from a fresh data dir — time to the node
//!    Ready and to a first pod Running.
//! 2. Pod start-up latency, as upstream's SLI (create → all containers running, seen by a
//!    watch) for rounds of 1, 30 and 100 pods with the image already on the node, and the
//!    agent's RSS and CPU idle and with 100 pods; here the agent is a separate `skiff agent`
//!    process so its figures are its own.
//!
//! Needs root, the Debian packages the agent needs, and the test images in a registry
//! (`scripts/build-test-images.sh` pushes them to 127.0.0.1:5055).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::bench::{client, ms, pct, rss_kib, start_server_opts, ServerProc};

#[derive(clap::Args)]
pub struct NodeArgs {
    /// Where the test images are (`scripts/build-test-images.sh` prints it).
    #[arg(long, default_value = "127.0.0.1:5055")]
    registry: String,
    /// Pods per latency round.
    #[arg(long, value_delimiter = ',', default_value = "1,30,100")]
    rounds: Vec<usize>,
    /// How long to sample the agent's CPU when idle and with the largest round running.
    #[arg(long, default_value_t = 20)]
    settle_seconds: u64,
    /// Where the data dirs go.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

/// Memory only: a benchmark machine's disk may be fuller than a node's default thresholds
/// allow, and evictions would spoil the rounds.
const EVICTION_HARD: &str = "memory.available<100Mi";

pub async fn node(args: NodeArgs) -> anyhow::Result<()> {
    let pause = format!("{}/skiff/pause:1", args.registry);
    let image = format!("{}/skiff/testimage:1", args.registry);
    let bridge_existed = Path::new("/sys/class/net/skiff0").exists();
    let routes_before = unreachable_routes();
    let result = async {
        startup(&args, &pause, &image).await?;
        latency(&args, &pause, &image).await
    }
    .await;
    // What the agents set up on this machine and a bench should not leave behind.
    if !bridge_existed {
        let _ = Command::new("ip")
            .args(["link", "delete", "skiff0"])
            .status();
    }
    for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
        if !routes_before.contains(cidr) {
            let _ = Command::new("ip")
                .args(["route", "delete", "unreachable", cidr, "metric", "4242"])
                .status();
        }
    }
    result
}

fn unreachable_routes() -> String {
    Command::new("ip")
        .args(["route", "show", "type", "unreachable"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

/// Phase 1: a fresh `skiff server` with its agent.
async fn startup(args: &NodeArgs, pause: &str, image: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let server = start_server_opts(
        &args.dir,
        &[
            "--node-name",
            "bench-node",
            "--pause-image",
            pause,
            "--eviction-hard",
            EVICTION_HARD,
        ],
        true,
    )?;
    let printed = started.elapsed();
    let client = client(&server.kubeconfig).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let ready = loop {
        let n = nodes.get("bench-node").await?;
        let is_ready = n
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if is_ready {
            break started.elapsed();
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "node not Ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod_object("first", image))
        .await?;
    wait_running(&pods, &["first".to_string()], Duration::from_secs(120)).await?;
    let first = started.elapsed();
    println!(
        "start-up (skiff server with its agent, fresh data dir, image in the local registry):"
    );
    println!("  server ready (kubeconfig printed): {}", ms(printed));
    println!("  node Ready:                        {}", ms(ready));
    println!("  first pod Running (incl. pull):    {}", ms(first));
    delete_all(&pods).await?;
    terminate(server);
    Ok(())
}

/// Phase 2: latency rounds against a separate agent process.
async fn latency(args: &NodeArgs, pause: &str, image: &str) -> anyhow::Result<()> {
    let server = start_server_opts(&args.dir, &[], false)?;
    let agent_dir = server.dir.join("agent");
    let mut agent = Command::new(std::env::current_exe()?)
        .args(["agent", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .args([
            "--node-name",
            "bench-agent",
            "--pause-image",
            pause,
            "--eviction-hard",
            EVICTION_HARD,
            "--data-dir",
        ])
        .arg(&agent_dir)
        .env("SKIFF_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting skiff agent")?;
    let result = rounds(args, &server, &agent, &agent_dir, image).await;
    let _ = Command::new("kill").arg(agent.id().to_string()).status();
    let _ = agent.wait();
    drop(server);
    result
}

async fn rounds(
    args: &NodeArgs,
    server: &ServerProc,
    agent: &Child,
    agent_dir: &Path,
    image: &str,
) -> anyhow::Result<()> {
    let client = client(&server.kubeconfig).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !nodes
        .get_opt("bench-agent")
        .await?
        .and_then(|n| n.status)
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
    {
        anyhow::ensure!(Instant::now() < deadline, "agent node not Ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Warm the image cache so the rounds measure start-up, not pulls.
    pods.create(&PostParams::default(), &pod_object("warm", image))
        .await?;
    wait_running(&pods, &["warm".to_string()], Duration::from_secs(120)).await?;
    delete_all(&pods).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = agent.id();
    let idle_rss = rss_kib(pid);
    let idle_cpu = cpu_share(pid, Duration::from_secs(args.settle_seconds)).await;
    println!(
        "agent idle: RSS {:.1} MiB, CPU {:.2}% of one core",
        idle_rss as f64 / 1024.0,
        idle_cpu
    );
    println!("pod start-up latency (create -> all containers running, by a watch; image cached):");
    let largest = args.rounds.iter().copied().max().unwrap_or(0);
    for &n in &args.rounds {
        let names: Vec<String> = (0..n).map(|i| format!("lat-{n}-{i}")).collect();
        let cpu_before = crate::bench_node_cpu::snapshot(server.child.id(), pid, agent_dir);
        let lat = measure_round(&pods, &names, image).await?;
        let cpu = crate::bench_node_cpu::snapshot(server.child.id(), pid, agent_dir)
            .report(&cpu_before, n);
        println!(
            "  {n:>4} pods: p50 {}  p99 {}  max {}",
            ms(pct(&lat, 0.50)),
            ms(pct(&lat, 0.99)),
            ms(*lat.last().unwrap_or(&Duration::ZERO))
        );
        print!("    CPU from the first create to the last pod running:\n{cpu}");
        if n == largest {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let rss = rss_kib(pid);
            let cpu = cpu_share(pid, Duration::from_secs(args.settle_seconds)).await;
            println!(
                "  agent with {n} pods running: RSS {:.1} MiB, CPU {:.2}% of one core",
                rss as f64 / 1024.0,
                cpu
            );
        }
        delete_all(&pods).await?;
    }
    Ok(())
}

/// Creates the pods at once and returns each one's latency, sorted.
async fn measure_round(
    pods: &Api<Pod>,
    names: &[String],
    image: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut created: HashMap<String, Instant> = HashMap::new();
    let mut running: HashMap<String, Instant> = HashMap::new();
    let mut events = watcher(
        pods.clone(),
        watcher::Config::default().labels("bench=node"),
    )
    .boxed();
    // The watch is established before the first create.
    while let Some(e) = events.next().await {
        if matches!(e?, watcher::Event::InitDone) {
            break;
        }
    }
    let creates = futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let pods = pods.clone();
            let obj = pod_object(&name, image);
            async move {
                let at = Instant::now();
                pods.create(&PostParams::default(), &obj)
                    .await
                    .map(|_| (name, at))
            }
        })
        .buffer_unordered(16);
    let mut creates = Box::pin(creates);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        tokio::select! {
            c = creates.next(), if created.len() < names.len() => {
                if let Some(c) = c {
                    let (name, at) = c?;
                    created.insert(name, at);
                }
            }
            e = events.next() => {
                let Some(e) = e else { anyhow::bail!("watch ended") };
                if let watcher::Event::Apply(p) = e? {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if all_running(&p) {
                        running.entry(name).or_insert_with(Instant::now);
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => anyhow::bail!("pods not running in time"),
        }
        if running.len() == names.len() && created.len() == names.len() {
            break;
        }
    }
    let mut lat: Vec<Duration> = names
        .iter()
        .filter_map(|n| Some(running.get(n)?.saturating_duration_since(*created.get(n)?)))
        .collect();
    lat.sort();
    Ok(lat)
}

fn all_running(p: &Pod) -> bool {
    let Some(status) = &p.status else {
        return false;
    };
    let want = p.spec.as_ref().map_or(0, |s| s.containers.len());
    let statuses = status.container_statuses.as_deref().unwrap_or_default();
    statuses.len() == want
        && statuses
            .iter()
            .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
}

fn pod_object(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "node"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "args": ["sleep", "36000"]}],
        },
    }))
    .unwrap_or_default()
}

async fn wait_running(pods: &Api<Pod>, names: &[String], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut done = 0;
        for n in names {
            if pods.get_opt(n).await?.is_some_and(|p| all_running(&p)) {
                done += 1;
            }
        }
        if done == names.len() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "pods not running within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn delete_all(pods: &Api<Pod>) -> anyhow::Result<()> {
    pods.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("bench=node"),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(180);
    while !pods
        .list(&ListParams::default().labels("bench=node"))
        .await?
        .items
        .is_empty()
    {
        anyhow::ensure!(Instant::now() < deadline, "pods not deleted in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// SIGTERM (the agent stops its containerd), SIGKILL after 20 s.
fn terminate(mut server: ServerProc) {
    let _ = Command::new("kill")
        .arg(server.child.id().to_string())
        .status();
    for _ in 0..200 {
        if server.child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The process's CPU use over `window`, in percent of one core.
async fn cpu_share(pid: u32, window: Duration) -> f64 {
    let before = crate::bench_density::cpu_time(pid);
    tokio::time::sleep(window).await;
    let used = crate::bench_density::cpu_time(pid).saturating_sub(before);
    used.as_secs_f64() / window.as_secs_f64() * 100.0
}
