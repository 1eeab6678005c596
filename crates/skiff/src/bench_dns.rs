//! `skiff bench dns`: cluster DNS queries per second and latency for in-cluster names.
//! A real `skiff server` child (control plane only) holds N services; the `dns` crate's
//! server runs in this process on 127.0.0.1 with its watches on that server, and a few
//! closed-loop UDP clients (one thread each) ask A questions for random service names.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::bench::{client, ms, pct, start_server};

const NS: &str = "bench-dns";

#[derive(clap::Args)]
pub struct DnsArgs {
    /// Services in the cluster (the names asked for).
    #[arg(long, default_value_t = 1000)]
    services: usize,
    /// Concurrent clients, each with one query in flight.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// UDP receive loops of the server.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Where the server's data dir goes.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

/// A query for `name` (type A, recursion desired) with id 0; the id is patched per send.
fn query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

struct ClientResult {
    latencies: Vec<Duration>,
    errors: u64,
}

fn blast(
    server: SocketAddr,
    queries: Arc<Vec<Vec<u8>>>,
    seed: usize,
    stop: Arc<AtomicBool>,
) -> std::io::Result<ClientResult> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut out = ClientResult {
        latencies: Vec::with_capacity(1 << 18),
        errors: 0,
    };
    let mut buf = [0u8; 1500];
    let mut state = (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut id: u16 = 0;
    while !stop.load(Ordering::Relaxed) {
        // xorshift: a cheap spread over the names.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut q = queries[(state % queries.len() as u64) as usize].clone();
        id = id.wrapping_add(1);
        q[..2].copy_from_slice(&id.to_be_bytes());
        let sent = Instant::now();
        sock.send(&q)?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                    // NOERROR with one answer.
                    if buf[3] & 0x0f != 0 || buf[6..8] != [0, 1] {
                        out.errors += 1;
                    }
                    out.latencies.push(sent.elapsed());
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    out.errors += 1;
                    break;
                }
            }
        }
    }
    Ok(out)
}

pub async fn dns(args: DnsArgs) -> anyhow::Result<()> {
    let server = start_server(&args.dir)?;
    let kube = client(&server.kubeconfig).await?;
    Api::<Namespace>::all(kube.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await
        .context("creating the namespace")?;
    let services: Api<Service> = Api::namespaced(kube.clone(), NS);
    let started = Instant::now();
    let creates = futures::stream::iter(0..args.services).map(|i| {
        let services = services.clone();
        async move {
            let svc: Service = serde_json::from_value(json!({
                "metadata": {"name": format!("svc-{i}")},
                "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"app": format!("a{i}")}},
            }))?;
            services
                .create(&PostParams::default(), &svc)
                .await
                .map(|_| ())
                .context("creating a service")
        }
    });
    let results: Vec<anyhow::Result<()>> = creates.buffer_unordered(32).collect().await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    eprintln!("{} services in {:?}", args.services, started.elapsed());

    let dns = dns::run(
        kube,
        dns::Config {
            domain: "cluster.local".into(),
            listen: ([127, 0, 0, 1], 0).into(),
            upstreams: vec![],
            workers: args.workers,
        },
    )?;
    let synced = Instant::now();
    while dns.services() < args.services {
        if synced.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the DNS index did not fill up: {} services", dns.services());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("index synced in {:?}", synced.elapsed());

    let queries: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..args.services)
            .map(|i| query(&format!("svc-{i}.{NS}.svc.cluster.local")))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..args.clients.max(1))
        .map(|i| {
            let (queries, stop, addr) = (queries.clone(), stop.clone(), dns.addr);
            std::thread::spawn(move || blast(addr, queries, i, stop))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in threads {
        let r = t
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        latencies.extend(r.latencies);
        errors += r.errors;
    }
    dns.shutdown().await;
    latencies.sort();
    let qps = latencies.len() as f64 / args.seconds as f64;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Cluster DNS ({cpus} CPUs, clients and server on the same machine)\n");
    println!("| services | clients | queries | q/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.0} | {} | {} | {} |",
        args.services,
        args.clients,
        latencies.len(),
        qps,
        ms(pct(&latencies, 0.50)),
        ms(pct(&latencies, 0.99)),
        errors
    );
    println!("\nAnchor: CoreDNS about 33,700 queries/s on a 2-vCPU node.");
    Ok(())
}
