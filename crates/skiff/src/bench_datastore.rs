//! `skiff bench datastore`: the API on each backend side by side, in one run — the embedded
//! SQLite store, one local etcd member and a 3-member etcd on this machine: durable creates
//! per second and create latency through the API with 1 and many clients, watch delivery
//! latency, and (on the 3-member etcd, two servers) how long the controllers' lease takes
//! to move after the server holding it is killed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use testkit::etcd::EtcdCluster;

use crate::bench::{client, ms, pct, start_server_with, ServerProc};

#[derive(clap::Args)]
pub struct DatastoreArgs {
    /// Concurrent clients of the second create run (the first has one).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of each create run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Writes per second during the watch-delivery run.
    #[arg(long, default_value_t = 200)]
    watch_rate: u64,
    /// Skip the failover run (it waits out a 15 s lease).
    #[arg(long)]
    no_failover: bool,
    /// Where the data dirs go (the disk measured).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

struct Row {
    backend: &'static str,
    one: Latencies,
    many: Latencies,
    watch: Latencies,
}

struct Latencies {
    lat: Vec<Duration>,
    wall: Duration,
}

impl Latencies {
    fn rate(&self) -> f64 {
        self.lat.len() as f64 / self.wall.as_secs_f64()
    }
    fn p(&mut self, q: f64) -> Duration {
        self.lat.sort();
        pct(&self.lat, q)
    }
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"bench": "datastore"}},
        "data": {"payload": "x".repeat(512)},
    }))
    .unwrap_or_default()
}

/// Creates for `seconds` from `clients` tasks, each waiting for its previous create.
async fn creates(
    c: &kube::Client,
    tag: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Latencies> {
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let api = api.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0;
            while Instant::now() < end {
                let t = Instant::now();
                api.create(
                    &PostParams::default(),
                    &configmap(&format!("{tag}-{w}-{i}")),
                )
                .await?;
                lat.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    Ok(Latencies {
        lat,
        wall: started.elapsed(),
    })
}

/// Creates at a fixed rate while a watch receives them: create sent → event received.
async fn watch_delivery(c: &kube::Client, rate: u64, seconds: u64) -> anyhow::Result<Latencies> {
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut stream = api
        .watch(&WatchParams::default().labels("bench=datastore"), "0")
        .await?
        .boxed();
    // Skip the initial state: the watch starts at "0", so existing objects replay first.
    let marker = "watch-marker";
    api.create(&PostParams::default(), &configmap(marker))
        .await?;
    while let Some(ev) = stream.next().await {
        if let WatchEvent::Added(cm) = ev? {
            if cm.metadata.name.as_deref() == Some(marker) {
                break;
            }
        }
    }
    let total = (rate * seconds) as usize;
    let writer = {
        let (api, sent) = (api.clone(), sent.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            for i in 0..total {
                tick.tick().await;
                let name = format!("watched-{i}");
                if let Ok(mut s) = sent.lock() {
                    s.insert(name.clone(), Instant::now());
                }
                let api = api.clone();
                tokio::spawn(async move {
                    let _ = api.create(&PostParams::default(), &configmap(&name)).await;
                });
            }
        })
    };
    let started = Instant::now();
    let mut lat = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    while lat.len() < total && Instant::now() < deadline {
        let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await else {
            break;
        };
        if let WatchEvent::Added(cm) = ev? {
            let at = cm
                .metadata
                .name
                .and_then(|n| sent.lock().ok().and_then(|s| s.get(&n).copied()));
            if let Some(at) = at {
                lat.push(at.elapsed());
            }
        }
    }
    writer.await?;
    Ok(Latencies {
        lat,
        wall: started.elapsed(),
    })
}

async fn measure(
    backend: &'static str,
    server: &ServerProc,
    args: &DatastoreArgs,
) -> anyhow::Result<Row> {
    let c = client(&server.kubeconfig).await?;
    eprintln!("{backend}: 1 client");
    let one = creates(&c, "one", 1, args.seconds).await?;
    eprintln!("{backend}: {} clients", args.clients);
    let many = creates(&c, "many", args.clients, args.seconds).await?;
    eprintln!("{backend}: watch delivery");
    let watch = watch_delivery(&c, args.watch_rate, args.seconds).await?;
    Ok(Row {
        backend,
        one,
        many,
        watch,
    })
}

fn etcd_server(args: &DatastoreArgs, etcd: &EtcdCluster) -> anyhow::Result<ServerProc> {
    start_server_with(&args.dir, &["--datastore-endpoint", &etcd.endpoints()])
}

/// Two servers on `etcd`; kill -9 the one holding the controllers' lease and time until
/// the other holds it.
/// (kill → new holder seen, dead holder's last renewal → new holder's acquireTime).
async fn failover(
    args: &DatastoreArgs,
    etcd: &EtcdCluster,
) -> anyhow::Result<(Duration, Duration)> {
    let base_a = args.dir.join("failover-a");
    let base_b = args.dir.join("failover-b");
    std::fs::create_dir_all(&base_a)?;
    std::fs::create_dir_all(&base_b)?;
    let mut a = etcd_server_in(&base_a, etcd, None)?;
    let token = std::fs::read_to_string(a.dir.join("token")).context("first server's token")?;
    let mut b = etcd_server_in(&base_b, etcd, Some(token.trim()))?;
    let (ca, cb) = (client(&a.kubeconfig).await?, client(&b.kubeconfig).await?);
    let leases: Api<Lease> = Api::namespaced(ca.clone(), "kube-system");
    let holder = |l: &Lease| l.spec.as_ref().and_then(|s| s.holder_identity.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let leader = loop {
        if let Ok(l) = leases.get("kube-controller-manager").await {
            if let Some(h) = holder(&l) {
                break h;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "no controller-manager leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Steady state first: the standby has seen a few renewals.
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A server's identity is derived from its data dir.
    let survivor = if crate::leader_identity(&a.dir) == leader {
        let _ = a.child.kill();
        cb
    } else {
        let _ = b.child.kill();
        ca
    };
    let killed = Instant::now();
    let leases: Api<Lease> = Api::namespaced(survivor, "kube-system");
    let renew_time = |l: &Lease| l.spec.as_ref().and_then(|s| s.renew_time.clone());
    let acquire_time = |l: &Lease| l.spec.as_ref().and_then(|s| s.acquire_time.clone());
    let last_renewal = renew_time(&leases.get("kube-controller-manager").await?);
    let new = loop {
        if let Ok(l) = leases.get("kube-controller-manager").await {
            if holder(&l).is_some_and(|h| h != leader) {
                break l;
            }
        }
        anyhow::ensure!(killed.elapsed() < Duration::from_secs(60), "no new leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = killed.elapsed();
    // Both times come from this machine's clock (both servers run here).
    let since_renewal = match (last_renewal, acquire_time(&new)) {
        (Some(r), Some(a)) => Duration::try_from(a.0.duration_since(r.0)).unwrap_or(Duration::ZERO),
        _ => Duration::ZERO,
    };
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&base_a);
    let _ = std::fs::remove_dir_all(&base_b);
    Ok((took, since_renewal))
}

fn etcd_server_in(
    base: &std::path::Path,
    etcd: &EtcdCluster,
    token: Option<&str>,
) -> anyhow::Result<ServerProc> {
    let endpoints = etcd.endpoints();
    let mut flags = vec!["--datastore-endpoint", endpoints.as_str()];
    if let Some(t) = token {
        flags.extend(["--token", t]);
    }
    start_server_with(base, &flags)
}

pub async fn datastore(args: DatastoreArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    {
        let server = start_server_with(&args.dir, &[])?;
        rows.push(measure("SQLite (embedded)", &server, &args).await?);
    }
    let mut failover_took = None;
    for (members, name) in [(1, "etcd, 1 member"), (3, "etcd, 3 members")] {
        let dir = args.dir.clone();
        let etcd =
            tokio::task::spawn_blocking(move || EtcdCluster::start_in(members, &dir)).await?;
        {
            let server = etcd_server(&args, &etcd)?;
            rows.push(measure(name, &server, &args).await?);
        }
        drop(etcd);
        if members == 3 && !args.no_failover {
            eprintln!("{name}: failover");
            // A fresh etcd: the measured server's cluster (and its token) are gone.
            let dir = args.dir.clone();
            let etcd = tokio::task::spawn_blocking(move || EtcdCluster::start_in(3, &dir)).await?;
            failover_took = Some(failover(&args, &etcd).await?);
        }
    }
    let etcd_version = std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!("## skiff bench datastore\n");
    println!(
        "{etcd_version}; creates of 512-byte ConfigMaps through the API (HTTPS, kube client), \
         {s} s per run; watch delivery at {r} creates/s.\n",
        s = args.seconds,
        r = args.watch_rate
    );
    println!(
        "| backend | creates/s, 1 client | p99, 1 client | creates/s, {c} clients | p50, {c} | p99, {c} | watch delivery p50 | p99 |",
        c = args.clients
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &mut rows {
        let (one_rate, many_rate) = (r.one.rate(), r.many.rate());
        println!(
            "| {} | {:.0} | {} | {:.0} | {} | {} | {} | {} |",
            r.backend,
            one_rate,
            ms(r.one.p(0.99)),
            many_rate,
            ms(r.many.p(0.5)),
            ms(r.many.p(0.99)),
            ms(r.watch.p(0.5)),
            ms(r.watch.p(0.99)),
        );
    }
    if let Some((took, since_renewal)) = failover_took {
        println!(
            "\nController lease failover, two servers on the 3-member etcd, default timings \
             (15 s lease, 10 s renew deadline, 2 s retry): kill -9 of the holder → the other \
             holds the lease in {:.1} s; {:.1} s after the dead holder's last renewal.",
            took.as_secs_f64(),
            since_renewal.as_secs_f64()
        );
    }
    Ok(())
}
