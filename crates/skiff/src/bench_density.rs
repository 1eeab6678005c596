//! `skiff bench density`: how many simulated pods the control plane brings to Running and
//! what it costs. Two shapes, as KWOK's and upstream's density tests: 10,000 pods on one
//! node, and N nodes with M pods each; the server and the simulator are separate child
//! processes so the figures are the control plane's alone.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

use crate::bench::{client, rss_kib, start_server};

#[derive(clap::Args)]
pub struct DensityArgs {
    /// Pods on the single node of the first run (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    single_node_pods: usize,
    /// Nodes of the second run (0 skips it).
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods per node in the second run.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// How long to sample CPU once everything runs.
    #[arg(long, default_value_t = 30)]
    settle_seconds: u64,
    /// Where the server's data dir goes.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

struct SimProc(Child);

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(kubeconfig: &std::path::Path, args: &[String]) -> anyhow::Result<SimProc> {
    let child = Command::new(std::env::current_exe()?)
        .arg("sim")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("SKIFF_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting skiff sim")?;
    Ok(SimProc(child))
}

/// User plus system CPU time of a process, from /proc.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start after ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // Linux reports in USER_HZ, 100 on every architecture skiff runs on.
    Duration::from_millis(ticks * 10)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Outcome {
    nodes: usize,
    pods: usize,
    to_running: Duration,
    rss_mib: f64,
    peak_rss_mib: f64,
    cpu_busy: f64,
    cpu_settled: f64,
}

pub async fn density(args: DensityArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    if args.single_node_pods > 0 {
        let n = args.single_node_pods;
        let sim = vec![
            "--nodes".into(),
            "1".into(),
            "--max-pods".into(),
            (n + 100).to_string(),
            "--cluster-cidr".into(),
            "10.128.0.0/9".into(),
            "--node-cidr-mask-size".into(),
            "16".into(),
        ];
        rows.push(run(&args, 1, n, &sim).await?);
    }
    if args.nodes > 0 {
        let sim = vec![
            "--nodes".into(),
            args.nodes.to_string(),
            "--cluster-cidr".into(),
            "10.128.0.0/9".into(),
        ];
        rows.push(run(&args, args.nodes, args.nodes * args.pods_per_node, &sim).await?);
    }
    println!("| nodes | pods | all Running after | server RSS settled | server peak RSS | server CPU while rolling out | server CPU settled |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} s | {:.0} MiB | {:.0} MiB | {:.0}% | {:.1}% |",
            r.nodes,
            r.pods,
            r.to_running.as_secs_f64(),
            r.rss_mib,
            r.peak_rss_mib,
            r.cpu_busy * 100.0,
            r.cpu_settled * 100.0
        );
    }
    Ok(())
}

async fn run(
    args: &DensityArgs,
    nodes: usize,
    pods: usize,
    sim_args: &[String],
) -> anyhow::Result<Outcome> {
    let server = start_server(&args.dir)?;
    let pid = server.child.id();
    let c = client(&server.kubeconfig).await?;
    let _sim = start_sim(&server.kubeconfig, sim_args)?;
    let node_api: Api<k8s_openapi::api::core::v1::Node> = Api::all(c.clone());
    let deadline = Instant::now() + Duration::from_secs(300);
    while node_api.list(&Default::default()).await?.items.len() < nodes {
        anyhow::ensure!(
            Instant::now() < deadline,
            "simulated nodes did not register"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("{nodes} nodes registered; creating {pods} pods");

    // Count pods reaching Running through a watch, as a user's `kubectl get -w` would.
    let pod_api: Api<Pod> = Api::namespaced(c.clone(), "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(async move {
        let mut running = std::collections::HashSet::new();
        let stream = watcher(pod_api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { continue };
            let pods: Vec<Pod> = match ev {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => vec![p],
                _ => Vec::new(),
            };
            for p in pods {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                if phase == Some("Running") {
                    if let Some(uid) = p.metadata.uid {
                        if running.insert(uid) {
                            let _ = tx.send(running.len());
                        }
                    }
                }
            }
        }
    });

    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "density"},
        "spec": {
            "replicas": pods,
            "selector": {"matchLabels": {"app": "density"}},
            "template": {
                "metadata": {"labels": {"app": "density"}},
                "spec": {"containers": [{"name": "c", "image": "registry.local/pause:1"}]},
            },
        },
    }))?;
    Api::<ReplicaSet>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await?;
    let limit = Duration::from_secs(600);
    let mut last_report = Instant::now();
    loop {
        let n = tokio::time::timeout(limit.saturating_sub(started.elapsed()), rx.recv())
            .await
            .context("pods did not all reach Running in time")?
            .context("watch ended")?;
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("{n}/{pods} Running after {:.0?}", started.elapsed());
            last_report = Instant::now();
        }
        if n >= pods {
            break;
        }
    }
    let to_running = started.elapsed();
    let cpu_busy = (cpu_time(pid) - cpu_before).as_secs_f64() / to_running.as_secs_f64();
    watch.abort();

    let settle = Duration::from_secs(args.settle_seconds);
    let before = cpu_time(pid);
    tokio::time::sleep(settle).await;
    let cpu_settled = (cpu_time(pid) - before).as_secs_f64() / settle.as_secs_f64();
    Ok(Outcome {
        nodes,
        pods,
        to_running,
        rss_mib: rss_kib(pid) as f64 / 1024.0,
        peak_rss_mib: peak_rss_kib(pid) as f64 / 1024.0,
        cpu_busy,
        cpu_settled,
    })
}
