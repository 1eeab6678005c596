//! `skiff bench api`: the API server's headline figures, measured against a real `skiff
//! server` child process over HTTPS with the `kube` client. Prints a Markdown report.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{AsyncBufReadExt, StreamExt};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct ApiArgs {
    /// Pods stored before the latency runs.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Concurrent clients for the create/get/update runs.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Requests per client in each get/update run.
    #[arg(long, default_value_t = 100)]
    requests: usize,
    /// Concurrent watchers in the fan-out run.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Writes per second during the fan-out run.
    #[arg(long, default_value_t = 500)]
    event_rate: u64,
    /// Fan-out mode: `selective` (each watcher selects its own label, as kubelets select their
    /// node's pods; every event is matched against every watcher and delivered to one) or
    /// `broadcast` (every watcher receives every event).
    #[arg(long, default_value = "selective")]
    fanout: String,
    /// Seconds of the fan-out and fixed-rate create runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Where the server's data dir goes (a temp dir under it; the disk measured).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

pub(crate) struct ServerProc {
    pub child: Child,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn start_server(base: &Path) -> anyhow::Result<ServerProc> {
    start_server_with(base, &[])
}

/// As `start_server`, with extra `skiff server` flags.
pub(crate) fn start_server_with(base: &Path, extra: &[&str]) -> anyhow::Result<ServerProc> {
    start_server_opts(base, extra, false)
}

/// As `start_server_with`; with `agent` the server runs its own node agent.
pub(crate) fn start_server_opts(
    base: &Path,
    extra: &[&str],
    agent: bool,
) -> anyhow::Result<ServerProc> {
    use std::io::BufRead;
    let dir = base.join(format!("skiff-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // SKIFF_BENCH_SERVER_BINARY: another build's server under the same load generator
    // (A/B comparisons of a data path).
    let binary = match std::env::var_os("SKIFF_BENCH_SERVER_BINARY") {
        Some(b) => PathBuf::from(b),
        None => std::env::current_exe()?,
    };
    let mut child = Command::new(binary)
        .arg("server")
        .args((!agent).then_some("--disable-agent"))
        .args([
            "--bind-address",
            "127.0.0.1",
            "--https-listen-port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(&dir)
        .args(extra)
        .env(
            "SKIFF_LOG",
            std::env::var("SKIFF_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting skiff server")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let started = Instant::now();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("export KUBECONFIG=") => break,
            Some(_) => {}
            None => bail!("skiff server exited before it was ready"),
        }
    }
    eprintln!("server ready in {:?}", started.elapsed());
    // The server prints more after the kubeconfig line (the join token); a closed pipe
    // would fail that print and stop the server.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(ServerProc {
        child,
        kubeconfig: dir.join("admin.kubeconfig"),
        dir,
    })
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) async fn client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(kube::Client::try_from(cfg)?)
}

pub(crate) fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) struct Run {
    pub name: String,
    pub lat: Vec<Duration>,
    pub wall: Duration,
}

impl Run {
    pub(crate) fn row(&mut self) -> String {
        self.lat.sort();
        format!(
            "| {} | {} | {} | {} | {:.0} |",
            self.name,
            self.lat.len(),
            ms(pct(&self.lat, 0.5)),
            ms(pct(&self.lat, 0.99)),
            self.lat.len() as f64 / self.wall.as_secs_f64()
        )
    }
}

pub(crate) fn req(
    method: &str,
    uri: &str,
    body: Option<&Value>,
    ct: &str,
) -> anyhow::Result<http::Request<Vec<u8>>> {
    Ok(http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .header("accept", "application/json")
        .body(
            body.map(|b| serde_json::to_vec(b).unwrap_or_default())
                .unwrap_or_default(),
        )?)
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench", "shard": name.len().to_string()}},
           "spec": {"containers": [{"name": "app", "image": "registry.local/bench:1", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}})
}

/// `clients` tasks each doing `per` calls of `f(client_index, call_index)`.
pub(crate) async fn closed_loop<F, Fut>(
    name: &str,
    clients: usize,
    per: usize,
    f: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let f = Arc::new(f);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                f(c, i).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    Ok(Run {
        name: name.to_string(),
        lat,
        wall: started.elapsed(),
    })
}

pub async fn api(args: ApiArgs) -> anyhow::Result<()> {
    let raw_rate = store::sqlite::raw_commit_rate(&args.dir, 300)
        .context("measuring the disk's raw SQLite commit rate")?;
    let server = start_server(&args.dir)?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);
    let c = client(&server.kubeconfig).await?;
    c.request_text(req(
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}})),
        "application/json",
    )?)
    .await?;

    let mut rows = Vec::new();
    let per = args.pods.div_ceil(args.clients);
    let cc = c.clone();
    let mut create = closed_loop("create (pods, to fill)", args.clients, per, move |ci, i| {
        let c = cc.clone();
        async move {
            let body = pod(&format!("p-{ci}-{i}"));
            c.request_text(req(
                "POST",
                "/api/v1/namespaces/bench/pods",
                Some(&body),
                "application/json",
            )?)
            .await?;
            Ok(())
        }
    })
    .await?;
    let creates_per_s = create.lat.len() as f64 / create.wall.as_secs_f64();
    rows.push(create.row());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_full = rss_kib(pid);
    let stored = args.clients * per;

    let cc = c.clone();
    let n = per;
    let mut get = closed_loop("get (pod)", args.clients, args.requests, move |ci, i| {
        let c = cc.clone();
        async move {
            c.request_text(req(
                "GET",
                &format!("/api/v1/namespaces/bench/pods/p-{ci}-{}", i % n),
                None,
                "application/json",
            )?)
            .await?;
            Ok(())
        }
    })
    .await?;
    rows.push(get.row());

    let cc = c.clone();
    let mut update = closed_loop(
        "update (merge patch, pod label)",
        args.clients,
        args.requests,
        move |ci, i| {
            let c = cc.clone();
            async move {
                let p = json!({"metadata": {"labels": {"rev": i.to_string()}}});
                c.request_text(req(
                    "PATCH",
                    &format!("/api/v1/namespaces/bench/pods/p-{ci}-{}", i % n),
                    Some(&p),
                    "application/merge-patch+json",
                )?)
                .await?;
                Ok(())
            }
        },
    )
    .await?;
    rows.push(update.row());

    let cc = c.clone();
    let mut list = closed_loop(
        &format!("list ({stored} pods, 1 client)"),
        1,
        10,
        move |_, _| {
            let c = cc.clone();
            async move {
                let v: Value = c
                    .request(req(
                        "GET",
                        "/api/v1/namespaces/bench/pods",
                        None,
                        "application/json",
                    )?)
                    .await?;
                let got = v["items"].as_array().map(|a| a.len()).unwrap_or(0);
                if got < 1 {
                    bail!("list returned no pods");
                }
                Ok(())
            }
        },
    )
    .await?;
    rows.push(list.row());

    // Fixed-rate creates: latency when the server is not saturated.
    let mut fixed = Run {
        name: "create at 100/s (configmaps)".into(),
        lat: Vec::new(),
        wall: Duration::ZERO,
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut pending = Vec::new();
    for i in 0..(args.seconds * 100) {
        tick.tick().await;
        let c = c.clone();
        // Each request runs on its own task, so its latency is not tied to this loop's ticks.
        pending.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name": format!("fixed-{i}")},"data":{"k":"v"}});
            c.request_text(req("POST", "/api/v1/namespaces/bench/configmaps", Some(&body), "application/json")?).await?;
            anyhow::Ok(t.elapsed())
        }));
    }
    for r in pending {
        fixed.lat.push(r.await??);
    }
    fixed.wall = started.elapsed();
    rows.push(fixed.row());

    let fanout = watch_fanout(&c, &args).await?;

    let out = format!(
        "## skiff bench api\n\n\
         - stored pods: {stored}; clients: {clients}\n\
         - idle RSS: {idle:.1} MiB; RSS with {stored} pods: {full:.1} MiB (+{per10k:.1} MiB per 10k pods)\n\
         - durable creates/s (64 clients): {creates_per_s:.0}; raw SQLite commits/s on this disk (one fsync each): {raw_rate:.0}\n\
         - watch fan-out ({mode}): {w} watchers, {rate} events/s for {s} s: {delivered} deliveries, send-to-delivery p50 {p50}, p99 {p99}, max {max}\n\n\
         | run | requests | p50 | p99 | per second |\n|---|---|---|---|---|\n{rows}\n",
        clients = args.clients,
        idle = rss_idle as f64 / 1024.0,
        full = rss_full as f64 / 1024.0,
        per10k = (rss_full.saturating_sub(rss_idle)) as f64 / 1024.0 * 10_000.0 / stored.max(1) as f64,
        mode = args.fanout,
        w = args.watchers,
        rate = args.event_rate,
        s = args.seconds,
        delivered = fanout.len(),
        p50 = ms(pct(&fanout, 0.5)),
        p99 = ms(pct(&fanout, 0.99)),
        max = ms(fanout.last().copied().unwrap_or_default()),
        rows = rows.join("\n"),
    );
    println!("{out}");
    drop(server);
    Ok(())
}

fn epoch_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// `watchers` watches on one namespace's configmaps while a writer creates `event_rate`
/// objects a second, each stamped with the time just before its write was sent. Returns
/// the sorted send-to-delivery latencies over all watchers.
async fn watch_fanout(c: &kube::Client, args: &ApiArgs) -> anyhow::Result<Vec<Duration>> {
    c.request_text(req(
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"fanout"}})),
        "application/json",
    )?)
    .await?;
    let list: Value = c
        .request(req(
            "GET",
            "/api/v1/namespaces/fanout/configmaps",
            None,
            "application/json",
        )?)
        .await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let total = args.event_rate * args.seconds;
    let selective = match args.fanout.as_str() {
        "selective" => true,
        "broadcast" => false,
        other => bail!("--fanout {other}: expected selective or broadcast"),
    };
    let watchers_n = args.watchers.max(1) as u64;
    let mut watchers = Vec::new();
    for w in 0..args.watchers {
        let c = c.clone();
        // Events go round-robin to the watchers' labels in selective mode.
        let expected = if selective {
            total / watchers_n + u64::from((w as u64) < total % watchers_n)
        } else {
            total
        };
        let selector = if selective {
            format!("&labelSelector=w%3D{w}")
        } else {
            String::new()
        };
        let uri = format!("/api/v1/namespaces/fanout/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds={}{selector}", args.seconds + 60);
        let r = req("GET", &uri, None, "application/json")?;
        watchers.push(tokio::spawn(async move {
            let stream = c.request_stream(r).await?;
            let mut lines = stream.lines();
            let mut lat = Vec::new();
            while let Some(line) = lines.next().await {
                let line = line?;
                // Cheap scan instead of a full parse: the client must not be the bottleneck.
                if let Some(i) = line.find("\"sent\":\"") {
                    let rest = &line[i + 8..];
                    if let Some(end) = rest.find('"') {
                        if let Ok(sent) = rest[..end].parse::<u128>() {
                            lat.push(Duration::from_micros(
                                (epoch_micros().saturating_sub(sent)) as u64,
                            ));
                        }
                    }
                }
                if lat.len() as u64 >= expected {
                    break;
                }
            }
            anyhow::Ok(lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / args.event_rate.max(1)));
    let mut pending = Vec::new();
    for i in 0..total {
        tick.tick().await;
        let c = c.clone();
        let label = (i % watchers_n).to_string();
        pending.push(tokio::spawn(async move {
            let body = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name": format!("ev-{i}"), "labels": {"w": label}, "annotations": {"sent": epoch_micros().to_string()}}});
            c.request_text(req("POST", "/api/v1/namespaces/fanout/configmaps", Some(&body), "application/json")?).await?;
            anyhow::Ok(())
        }));
    }
    for r in pending {
        r.await??;
    }
    let mut all = Vec::new();
    for w in watchers {
        match tokio::time::timeout(Duration::from_secs(60), w).await {
            Ok(Ok(Ok(lat))) => all.extend(lat),
            Ok(Ok(Err(e))) => eprintln!("watcher failed: {e:#}"),
            Ok(Err(e)) => eprintln!("watcher panicked: {e}"),
            Err(_) => eprintln!("watcher timed out"),
        }
    }
    all.sort();
    Ok(all)
}
