//! `skiff bench ingress`: what the built-in ingress controller costs a request. A fresh
//! `skiff server` with its own agent runs one backend pod (the test image's `serve-http
//! --keep-alive`) behind a Service and an Ingress; `wrk` then loads, for the same time and
//! number of keep-alive connections, (a) the pod directly on its IP, (b) the ingress's
//! HTTP port with the Ingress's Host, (c) its HTTPS port. The overhead ratio is direct
//! requests/s over ingress requests/s.
//!
//! The node gets a bridge, CIDRs and a name of its own (not those of `bench node` or of the
//! test slots) and free ports for the kubelet and the ingress, so it runs beside tests.
//! Needs root, the agent's Debian packages, `wrk`, and the test images in a registry
//! (`scripts/build-test-images.sh` pushes them to 127.0.0.1:5055).

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::bench::{client, ms, start_server_opts, ServerProc};

const NODE: &str = "bench-ingress";
const BRIDGE: &str = "skib0";
const CLUSTER_CIDR: &str = "10.52.0.0/16";
const SERVICE_CIDR: &str = "10.53.0.0/16";
const HOST: &str = "bench.test";
const BACKEND_PORT: u16 = 8080;
/// Memory only: evictions on a full benchmark disk would spoil the runs.
const EVICTION_HARD: &str = "memory.available<100Mi";

#[derive(clap::Args)]
pub struct IngressArgs {
    /// Where the test images are (`scripts/build-test-images.sh` prints it).
    #[arg(long, default_value = "127.0.0.1:5055")]
    registry: String,
    /// Keep-alive connections per run; each count is one round of all targets.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    connections: Vec<usize>,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// wrk threads (the load generator shares the machine with the proxy and the pod).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The request path (`/` answers with the path and the pod's hostname).
    #[arg(long, default_value = "/")]
    path: String,
    /// Leave out the HTTPS runs.
    #[arg(long)]
    no_https: bool,
    /// Fixed request rates (requests/s) of the open-loop runs, direct and through the
    /// ingress's HTTP port; each should be well below what the ingress sustains.
    #[arg(long, value_delimiter = ',', default_value = "2000,5000")]
    rates: Vec<u64>,
    /// Keep-alive connections sharing an open-loop run's schedule.
    #[arg(long, default_value_t = 16)]
    open_connections: u64,
    /// Only the open-loop runs (no wrk).
    #[arg(long)]
    open_only: bool,
    /// Leave out the reference runs through nginx (made only where nginx is installed).
    #[arg(long)]
    no_nginx: bool,
    /// Where the data dir goes.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

pub async fn ingress(args: IngressArgs) -> anyhow::Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("this benchmark needs wrk (apt-get install wrk)");
    }
    let before = HostState::now();
    let (http_port, https_port) = (free_port()?, free_port()?);
    let pause = format!("{}/skiff/pause:1", args.registry);
    let (http_s, https_s) = (http_port.to_string(), https_port.to_string());
    let server = start_server_opts(
        &args.dir,
        &[
            "--node-name",
            NODE,
            "--pause-image",
            &pause,
            "--eviction-hard",
            EVICTION_HARD,
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--service-cidr",
            SERVICE_CIDR,
            "--cni-bridge",
            BRIDGE,
            "--kubelet-port",
            "0",
            "--ingress-http-port",
            &http_s,
            "--ingress-https-port",
            &https_s,
        ],
        true,
    )?;
    let result = measure(&args, &server, http_port, https_port).await;
    if let Err(e) = &result {
        eprintln!("bench ingress failed: {e:#}; cleaning up");
    }
    shutdown(server, &before).await;
    result
}

async fn measure(
    args: &IngressArgs,
    server: &ServerProc,
    http_port: u16,
    https_port: u16,
) -> anyhow::Result<()> {
    let kube = client(&server.kubeconfig).await?;
    wait_node_ready(&kube).await?;
    let image = format!("{}/skiff/testimage:1", args.registry);
    let pod_ip = deploy(&kube, &image).await?;
    let direct = format!("http://{pod_ip}:{BACKEND_PORT}{}", args.path);
    let via_http = format!("http://127.0.0.1:{http_port}{}", args.path);
    // A name, not an IP, so the TLS client sends SNI (the default certificate answers).
    let via_https = format!("https://localhost:{https_port}{}", args.path);
    wait_routed(http_port).await?;
    eprintln!("backend pod {pod_ip} ready and routed through the ingress");

    let server_pid = server.child.id();
    let nginx = if args.no_nginx {
        None
    } else {
        let backend = std::net::SocketAddr::new(pod_ip, BACKEND_PORT);
        let ports = (free_port()?, free_port()?);
        crate::bench_ingress_nginx::Nginx::start(&args.dir, ports, HOST, backend)?
    };
    let mut targets = vec![
        Target::new("direct to the pod", direct, false, server_pid),
        Target::new("ingress, HTTP", via_http, true, server_pid),
    ];
    if !args.no_https {
        targets.push(Target::new("ingress, HTTPS", via_https, true, server_pid));
    }
    if let Some(n) = &nginx {
        let url = format!("http://127.0.0.1:{}{}", n.port, args.path);
        targets.push(Target::new("nginx, HTTP (reference)", url, true, n.pid()));
        if !args.no_https {
            let url = format!("https://localhost:{}{}", n.tls_port, args.path);
            targets.push(Target::new("nginx, HTTPS (reference)", url, true, n.pid()));
        }
    }
    // Warm-up: connection pools, the pod's page cache, CPU frequency.
    for t in &targets {
        wrk(&t.url, t.host, 4.max(args.threads), args.threads, 2)?;
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = format!(
        "## Ingress ({cpus} CPUs; wrk, the skiff process with the ingress, and the pod share them)\n\n\
         | target | connections | requests/s | p50 | p99 | errors | proxy CPU per 1k requests |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let mut summary = String::new();
    let closed: &[usize] = if args.open_only {
        &[]
    } else {
        &args.connections
    };
    for &c in closed {
        let mut runs = Vec::new();
        for t in &targets {
            let name = t.name;
            let cpu_before = crate::bench_density::cpu_time(t.pid);
            let r = wrk(&t.url, t.host, c, args.threads, args.seconds)?;
            let cpu = crate::bench_density::cpu_time(t.pid).saturating_sub(cpu_before);
            let per_k = cpu.as_secs_f64() * 1000.0 / r.requests.max(1) as f64;
            report.push_str(&format!(
                "| {name} | {c} | {:.0} | {} | {} | {} | {:.1} ms |\n",
                r.rps,
                ms(r.p50),
                ms(r.p99),
                r.errors,
                per_k * 1000.0
            ));
            runs.push((name, r));
        }
        let direct = &runs[0].1;
        for (name, r) in &runs[1..] {
            summary.push_str(&format!(
                "- {c} connections, {name}: overhead ratio (direct req/s / proxied req/s) {:.2}; \
                 p99 {} vs {} direct ({:+.2} ms)\n",
                direct.rps / r.rps.max(1.0),
                ms(r.p99),
                ms(direct.p99),
                (r.p99.as_secs_f64() - direct.p99.as_secs_f64()) * 1000.0,
            ));
        }
    }
    println!("{report}\n{summary}");
    println!(
        "wrk -t{} -c<connections> -d{}s --latency; target: ingress overhead under 20% of a direct request.",
        args.threads, args.seconds
    );
    if !args.rates.is_empty() {
        let mut open = vec![
            (
                "direct to the pod",
                std::net::SocketAddr::new(pod_ip, BACKEND_PORT),
                server_pid,
            ),
            (
                "ingress, HTTP",
                std::net::SocketAddr::from(([127, 0, 0, 1], http_port)),
                server_pid,
            ),
        ];
        if let Some(n) = &nginx {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], n.port));
            open.push(("nginx, HTTP (reference)", addr, n.pid()));
        }
        println!("{}", open_loop(args, &open).await?);
    }
    Ok(())
}

/// One closed-loop target and the process whose CPU its requests cost.
struct Target {
    name: &'static str,
    url: String,
    /// Send the Ingress's Host (the pod itself answers any).
    host: bool,
    pid: u32,
}

impl Target {
    fn new(name: &'static str, url: String, host: bool, pid: u32) -> Target {
        Target {
            name,
            url,
            host,
            pid,
        }
    }
}

/// The open-loop runs: at each fixed rate, the pod directly (first), then through each
/// proxy; each target names the process whose CPU it costs.
async fn open_loop(
    args: &IngressArgs,
    targets: &[(&'static str, std::net::SocketAddr, u32)],
) -> anyhow::Result<String> {
    let mut report = format!(
        "## Ingress, open loop ({} keep-alive connections, {} s per run; latency from write to \
         the whole answer read; late: sent over {} ms after due)\n\n\
         | rate | target | requests | late | errors | p50 | p99 | p99.9 | proxy CPU per 1k requests |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        args.open_connections,
        args.seconds,
        crate::bench_open_loop::LATE.as_millis()
    );
    let mut summary = String::new();
    for &rate in &args.rates {
        let mut runs = Vec::new();
        for &(name, addr, pid) in targets {
            let cpu_before = crate::bench_density::cpu_time(pid);
            let r = crate::bench_open_loop::run(
                addr,
                HOST,
                &args.path,
                rate,
                args.seconds,
                args.open_connections,
            )
            .await?;
            let cpu = crate::bench_density::cpu_time(pid).saturating_sub(cpu_before);
            let per_k = cpu.as_secs_f64() * 1e6 / r.sent.max(1) as f64;
            report.push_str(&format!(
                "| {rate}/s | {name} | {} | {} | {} | {} | {} | {} | {per_k:.1} ms |\n",
                r.sent,
                r.late,
                r.errors,
                fine(r.p50),
                fine(r.p99),
                fine(r.p999),
            ));
            runs.push((name, r));
        }
        let Some(((_, d), proxied)) = runs.split_first() else {
            continue;
        };
        let added = |via: Duration, direct: Duration| {
            let a = via.as_secs_f64() - direct.as_secs_f64();
            format!(
                "{:+.3} ms ({:+.0}% of direct)",
                a * 1e3,
                100.0 * a / direct.as_secs_f64().max(1e-9)
            )
        };
        for (name, i) in proxied {
            summary.push_str(&format!(
                "- {rate}/s, {name}: adds p50 {}, p99 {}\n",
                added(i.p50, d.p50),
                added(i.p99, d.p99),
            ));
        }
    }
    Ok(format!("{report}\n{summary}"))
}

/// Milliseconds to the microsecond: open-loop latencies are well under one.
fn fine(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_node_ready(kube: &kube::Client) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(kube.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = nodes
            .get_opt(NODE)
            .await?
            .and_then(|n| n.status)
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "node {NODE} not Ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The backend Deployment (one replica), its Service and the Ingress; returns the ready
/// pod's IP.
async fn deploy(kube: &kube::Client, image: &str) -> anyhow::Result<IpAddr> {
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "web",
                        "image": image,
                        "args": ["serve-http", "--port", BACKEND_PORT.to_string(), "--keep-alive"],
                        "ports": [{"containerPort": BACKEND_PORT}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": BACKEND_PORT}, "periodSeconds": 1},
                    }],
                },
            },
        },
    }))?;
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": BACKEND_PORT}]},
    }))?;
    let ingress: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"rules": [{"host": HOST, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
    }))?;
    let pp = PostParams::default();
    Api::<Deployment>::namespaced(kube.clone(), "default")
        .create(&pp, &deployment)
        .await
        .context("creating the backend deployment")?;
    Api::<Service>::namespaced(kube.clone(), "default")
        .create(&pp, &service)
        .await
        .context("creating the service")?;
    Api::<Ingress>::namespaced(kube.clone(), "default")
        .create(&pp, &ingress)
        .await
        .context("creating the ingress")?;
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let list = pods.list(&ListParams::default().labels("app=web")).await?;
        for p in &list.items {
            let Some(status) = &p.status else { continue };
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if let (true, Some(ip)) = (ready, status.pod_ip.as_deref()) {
                return ip.parse().context("the pod's IP");
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the backend pod is not ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the ingress answers 200 for the Host (the table is rebuilt on a watch).
async fn wait_routed(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match get_status(port) {
            Ok(line) if line.contains(" 200 ") => return Ok(()),
            Ok(line) => line,
            Err(e) => e.to_string(),
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "the ingress does not route {HOST}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The status line of one `GET /` for the bench host on the ingress's HTTP port.
fn get_status(port: u16) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.lines().next().unwrap_or("").to_string())
}

/// One wrk run's figures.
#[derive(Debug, Default, PartialEq)]
struct WrkResult {
    requests: u64,
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// Socket errors plus non-2xx/3xx answers.
    errors: u64,
}

fn wrk(
    url: &str,
    host_header: bool,
    connections: usize,
    threads: usize,
    seconds: u64,
) -> anyhow::Result<WrkResult> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "--latency",
        "-t",
        &threads.clamp(1, connections.max(1)).to_string(),
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
    ]);
    if host_header {
        cmd.args(["-H", &format!("Host: {HOST}")]);
    }
    let out = cmd
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "wrk {url} failed:\n{text}");
    parse_wrk(&text).with_context(|| format!("reading wrk's report for {url}:\n{text}"))
}

/// Reads `wrk --latency`'s report.
fn parse_wrk(text: &str) -> anyhow::Result<WrkResult> {
    let mut r = WrkResult::default();
    let mut in_distribution = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", "Distribution", ..] => in_distribution = true,
            ["50%", v] if in_distribution => r.p50 = wrk_duration(v)?,
            ["99%", v] if in_distribution => r.p99 = wrk_duration(v)?,
            [n, "requests", "in", ..] => r.requests = n.parse()?,
            ["Requests/sec:", v] => r.rps = v.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                // connect 0, read 0, write 0, timeout 0
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    anyhow::ensure!(r.requests > 0 && r.rps > 0.0, "no requests counted");
    Ok(r)
}

/// wrk's durations: `512.00us`, `1.23ms`, `2.00s`, `1.50m`.
fn wrk_duration(v: &str) -> anyhow::Result<Duration> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {v:?}"))?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse()?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => bail!("unknown unit {other:?} in {v:?}"),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// What was on the machine before the bench, so that only what it made is removed.
struct HostState {
    bridge_existed: bool,
    unreachable_routes: String,
}

impl HostState {
    fn now() -> HostState {
        HostState {
            bridge_existed: Path::new("/sys/class/net").join(BRIDGE).exists(),
            unreachable_routes: command_output("ip", &["route", "show", "type", "unreachable"]),
        }
    }
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

fn quiet(cmd: &str, args: &[&str]) {
    let _ = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Removes the bench's objects (the agent stops the pod), stops the server (its agent
/// stops containerd), then whatever a failure left: processes under the data dir (shims),
/// mounts, the pod's network namespace, the proxy's nftables tables, the bridge and the
/// unreachable routes.
async fn shutdown(mut server: ServerProc, before: &HostState) {
    if let Ok(kube) = client(&server.kubeconfig).await {
        let dp = DeleteParams::default();
        let _ = Api::<Ingress>::namespaced(kube.clone(), "default")
            .delete("web", &dp)
            .await;
        let _ = Api::<Service>::namespaced(kube.clone(), "default")
            .delete("web", &dp)
            .await;
        let _ = Api::<Deployment>::namespaced(kube.clone(), "default")
            .delete("web", &DeleteParams::foreground())
            .await;
        let pods: Api<Pod> = Api::namespaced(kube, "default");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match pods.list(&ListParams::default().labels("app=web")).await {
                Ok(l) if l.items.is_empty() => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(_) => break,
            }
        }
    }
    quiet("kill", &[&server.child.id().to_string()]);
    for _ in 0..200 {
        if server.child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let dir = server.dir.to_string_lossy().to_string();
    for pid in pids_mentioning(&dir) {
        quiet("kill", &["-9", &pid.to_string()]);
    }
    for mount in mounts_under(&dir) {
        quiet("umount", &["-l", &mount]);
    }
    for ns in our_netns() {
        quiet("ip", &["netns", "delete", &ns]);
    }
    for table in [
        format!("skiff-proxy-{NODE}"),
        format!("skiff-netpol-{NODE}"),
    ] {
        quiet("nft", &["delete", "table", "ip", &table]);
    }
    if !before.bridge_existed {
        quiet("ip", &["link", "delete", BRIDGE]);
    }
    for cidr in [CLUSTER_CIDR, SERVICE_CIDR] {
        if !before.unreachable_routes.contains(cidr) {
            quiet(
                "ip",
                &["route", "delete", "unreachable", cidr, "metric", "4242"],
            );
        }
    }
    // Dropping the server process handle removes its data dir.
    drop(server);
}

/// Processes whose command line names `dir` (containerd and its shims), not this one.
fn pids_mentioning(dir: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(dir))
        })
        .collect()
}

/// Mount points under `dir`, deepest first.
fn mounts_under(dir: &str) -> Vec<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut out: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(dir))
        .map(str::to_string)
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out
}

/// CNI network namespaces with an address in the bench's cluster CIDR (other tests'
/// namespaces use other CIDRs and are left alone).
fn our_netns() -> Vec<String> {
    let prefix = CLUSTER_CIDR
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
        + ".";
    command_output("ip", &["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ns.starts_with("cni-"))
        .filter(|ns| {
            command_output("ip", &["-n", ns, "-4", "-o", "addr"])
                .split_whitespace()
                .any(|w| w.starts_with(&prefix))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let report = "Running 10s test @ http://10.52.0.5:8080/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.33us  301.12us  12.04ms   90.12%
    Req/Sec    19.80k     1.02k   21.33k    71.00%
  Latency Distribution
     50%  752.00us
     75%    0.90ms
     90%    1.08ms
     99%    1.85ms
  197010 requests in 10.00s, 31.01MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  19700.51
Transfer/sec:      3.10MB
";
        let r = parse_wrk(report).unwrap();
        assert_eq!(
            r,
            WrkResult {
                requests: 197010,
                rps: 19700.51,
                p50: Duration::from_micros(752),
                p99: Duration::from_micros(1850),
                errors: 7,
            }
        );
        assert!(parse_wrk("wrk: connection refused").is_err());
        assert_eq!(wrk_duration("2.00s").unwrap(), Duration::from_secs(2));
        assert!(wrk_duration("12").is_err());
    }
}
