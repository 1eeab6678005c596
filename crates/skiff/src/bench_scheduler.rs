//! `skiff bench scheduler`: scheduling throughput and latency in upstream scheduler_perf's
//! shapes, against a real `skiff server` child process. Nodes are plain Node objects (no
//! kubelets), so the figures are the API server's and the scheduler's alone:
//! - basic: N nodes, M pods with small requests;
//! - anti-affinity: pods that all refuse to share a host with each other (label
//!   color=green, hostname topology), after a first batch of such pods already placed;
//! - spread: pods spread over zones with maxSkew 1, DoNotSchedule.
//!
//! Throughput is measured from the first create to the last pod bound; latency per pod
//! from just before its create request to its binding seen on a watch.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::{json, Value};

use crate::bench::{client, ms, pct, start_server_with};

#[derive(clap::Args)]
pub struct SchedulerArgs {
    /// Which shapes to run, comma-separated: basic, anti-affinity, spread.
    #[arg(long, default_value = "basic,anti-affinity,spread")]
    shapes: String,
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods measured in the basic and spread shapes.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Pods measured in the anti-affinity shape.
    #[arg(long, default_value_t = 1000)]
    anti_affinity_pods: usize,
    /// Pods with the same anti-affinity placed before measuring.
    #[arg(long, default_value_t = 1000)]
    anti_affinity_init_pods: usize,
    /// Zones the nodes are spread over (topology.kubernetes.io/zone).
    #[arg(long, default_value_t = 3)]
    zones: usize,
    /// Pause after registering nodes, before the first pod.
    #[arg(long, default_value_t = 3)]
    settle_seconds: u64,
    /// Concurrent create requests.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Where the server's data dir goes.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

struct Outcome {
    shape: &'static str,
    nodes: usize,
    pods: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for shape in args
        .shapes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let row = match shape {
            "basic" => run(&args, "basic", 0, args.pods).await?,
            "anti-affinity" => {
                run(
                    &args,
                    "anti-affinity",
                    args.anti_affinity_init_pods,
                    args.anti_affinity_pods,
                )
                .await?
            }
            "spread" => run(&args, "spread", 0, args.pods).await?,
            other => anyhow::bail!("unknown shape {other:?} (basic, anti-affinity, spread)"),
        };
        rows.push(row);
    }
    println!("| shape | nodes | pods | time | pods/s | p50 create→bound | p99 create→bound |");
    println!("|---|---|---|---|---|---|---|");
    for mut r in rows {
        r.latencies.sort();
        println!(
            "| {} | {} | {} | {:.1} s | {:.0} | {} | {} |",
            r.shape,
            r.nodes,
            r.pods,
            r.elapsed.as_secs_f64(),
            r.pods as f64 / r.elapsed.as_secs_f64(),
            ms(pct(&r.latencies, 0.5)),
            ms(pct(&r.latencies, 0.99)),
        );
    }
    Ok(())
}

fn node(name: &str, zone: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": format!("zone-{zone}"),
    }}})
}

fn node_status() -> Value {
    let res = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
    json!({"status": {"capacity": res, "allocatable": res, "conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "bench node"}]}})
}

fn pod(shape: &str, ns: &str, name: &str) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "pause", "image": "registry.local/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
    match shape {
        "anti-affinity" => {
            p["metadata"]["labels"] = json!({"color": "green", "name": "test"});
            p["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"color": "green"}},
                "topologyKey": "kubernetes.io/hostname",
                "namespaces": ["sched-setup", "sched-test"],
            }]}});
        }
        "spread" => {
            p["spec"]["topologySpreadConstraints"] = json!([{
                "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "bench"}},
            }]);
        }
        _ => {}
    }
    p
}

/// Runs `f` over `items` with at most `concurrency` in flight; the first error wins.
async fn concurrently<T, F, Fut>(items: Vec<T>, concurrency: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut results = futures::stream::iter(items.into_iter().map(f)).buffer_unordered(concurrency);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// Pod name → when it was created or first seen bound.
type Times = Arc<Mutex<HashMap<String, Instant>>>;

/// What the bench reads of a pod on its watch: its name, whether it is bound, and the
/// resourceVersion the watcher resumes from. The rest (managedFields above all) is skipped
/// unread: the load generator shares the two cores with the server it measures. (A
/// `spec.nodeName!=` field selector would halve the events but makes the server parse
/// every pod event to evaluate it.)
#[derive(Clone, Debug, serde::Deserialize)]
struct BoundPod {
    #[serde(deserialize_with = "name_only")]
    metadata: ObjectMeta,
    spec: Option<NodeOnly>,
}

#[derive(Clone, Debug, serde::Deserialize)]
struct NodeOnly {
    #[serde(rename = "nodeName")]
    node_name: Option<String>,
}

fn name_only<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Named {
        name: Option<String>,
        resource_version: Option<String>,
    }
    let n = <Named as serde::Deserialize>::deserialize(d)?;
    Ok(ObjectMeta {
        name: n.name,
        resource_version: n.resource_version,
        ..ObjectMeta::default()
    })
}

impl kube::Resource for BoundPod {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Watches pods in `ns` and records when each is first seen bound; the receiver yields
/// the count bound so far.
fn watch_bound(
    c: &kube::Client,
    ns: &str,
) -> (
    Times,
    tokio::sync::mpsc::UnboundedReceiver<usize>,
    tokio::task::JoinHandle<()>,
) {
    let bound: Times = Arc::default();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let api: Api<BoundPod> = Api::namespaced(c.clone(), ns);
    let b = bound.clone();
    let task = tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            let p = match ev {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                Ok(_) => continue,
                // Shown: a watch that keeps failing (and relisting) loads the server.
                Err(e) => {
                    eprintln!("bound-pod watch: {e}");
                    continue;
                }
            };
            let on_node = p
                .spec
                .and_then(|s| s.node_name)
                .is_some_and(|n| !n.is_empty());
            if !on_node {
                continue;
            }
            let Some(name) = p.metadata.name else {
                continue;
            };
            let n = {
                let mut m = b.lock().unwrap_or_else(|e| e.into_inner());
                m.entry(name).or_insert_with(Instant::now);
                m.len()
            };
            let _ = tx.send(n);
        }
    });
    (bound, rx, task)
}

async fn create_pods(
    c: &kube::Client,
    args: &SchedulerArgs,
    shape: &str,
    ns: &str,
    prefix: &str,
    count: usize,
    created: &Times,
) -> anyhow::Result<()> {
    // The answer (the stored pod) is checked for its status and not decoded, as the
    // watch above: decoding a pod with its managedFields costs the load generator more
    // than making the request.
    let collection = kube::core::Request::new(format!("/api/v1/namespaces/{ns}/pods"));
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i:05}")).collect();
    concurrently(names, args.concurrency, |name| {
        let created = created.clone();
        let body = serde_json::to_vec(&pod(shape, ns, &name));
        let request = body
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(collection.create(&PostParams::default(), b)?));
        async move {
            let request = request?;
            created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), Instant::now());
            c.request_text(request)
                .await
                .with_context(|| format!("creating pod {name}"))?;
            Ok(())
        }
    })
    .await
}

/// Waits until `want` pods are bound, reporting progress; fails after `limit`.
async fn wait_bound(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<usize>,
    want: usize,
    started: Instant,
    limit: Duration,
) -> anyhow::Result<()> {
    let mut last = Instant::now();
    loop {
        let n = tokio::time::timeout(limit.saturating_sub(started.elapsed()), rx.recv())
            .await
            .with_context(|| format!("pods were not all bound within {limit:?}"))?
            .context("watch ended")?;
        if last.elapsed() > Duration::from_secs(10) {
            eprintln!("{n}/{want} bound after {:.0?}", started.elapsed());
            last = Instant::now();
        }
        if n >= want {
            return Ok(());
        }
    }
}

async fn run(
    args: &SchedulerArgs,
    shape: &'static str,
    init_pods: usize,
    pods: usize,
) -> anyhow::Result<Outcome> {
    // Plain nodes never heartbeat: keep node lifecycle from tainting them mid-run. The
    // default cluster CIDR has 256 node ranges; a cluster of thousands of nodes is given
    // room for all of them, so node IPAM gives every node its range as it would there.
    let server = start_server_with(
        &args.dir,
        &[
            "--node-monitor-grace-period",
            "1h",
            "--node-startup-grace-period",
            "1h",
            "--cluster-cidr",
            "10.128.0.0/9",
        ],
    )?;
    let c = client(&server.kubeconfig).await?;
    let ns_api: Api<Namespace> = Api::all(c.clone());
    for ns in ["sched-setup", "sched-test"] {
        let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        ns_api.create(&PostParams::default(), &n).await?;
    }

    let started = Instant::now();
    let nodes: Api<Node> = Api::all(c.clone());
    let names: Vec<(usize, String)> = (0..args.nodes)
        .map(|i| (i, format!("node-{i:05}")))
        .collect();
    let zones = args.zones.max(1);
    concurrently(names, args.concurrency, |(i, name)| {
        let nodes = nodes.clone();
        async move {
            let n: Node = serde_json::from_value(node(&name, i % zones))?;
            nodes.create(&PostParams::default(), &n).await?;
            nodes
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(&node_status()),
                )
                .await?;
            Ok(())
        }
    })
    .await?;
    eprintln!(
        "{shape}: {} nodes registered in {:.1?}",
        args.nodes,
        started.elapsed()
    );
    // Node IPAM gives every node its pod range; the pods come to a settled cluster.
    let ranged = Instant::now();
    let mut with_range = 0;
    while ranged.elapsed() < Duration::from_secs(120) {
        with_range = nodes
            .list(&Default::default())
            .await?
            .items
            .iter()
            .filter(|n| n.spec.as_ref().is_some_and(|s| s.pod_cidr.is_some()))
            .count();
        if with_range == args.nodes {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "{shape}: {with_range} of {} nodes had a pod range {:.1?} after registration",
        args.nodes,
        ranged.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;

    if init_pods > 0 {
        let (_, mut rx, task) = watch_bound(&c, "sched-setup");
        let created = Arc::default();
        let t = Instant::now();
        create_pods(&c, args, shape, "sched-setup", "init", init_pods, &created).await?;
        wait_bound(&mut rx, init_pods, t, Duration::from_secs(900)).await?;
        task.abort();
        eprintln!(
            "{shape}: {init_pods} initial pods bound in {:.1?}",
            t.elapsed()
        );
    }

    let (bound, mut rx, task) = watch_bound(&c, "sched-test");
    let created: Times = Arc::default();
    let t = Instant::now();
    create_pods(&c, args, shape, "sched-test", "pod", pods, &created).await?;
    eprintln!("{shape}: {pods} pods created in {:.1?}", t.elapsed());
    wait_bound(&mut rx, pods, t, Duration::from_secs(1800)).await?;
    task.abort();
    let bound = bound.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let created = created.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let last = bound.values().max().copied().unwrap_or(t);
    let latencies = created
        .iter()
        .filter_map(|(name, at)| bound.get(name).map(|b| b.saturating_duration_since(*at)))
        .collect();
    Ok(Outcome {
        shape,
        nodes: args.nodes,
        pods,
        elapsed: last.saturating_duration_since(t),
        latencies,
    })
}
