//! `skiff bench proxy`: how long an EndpointSlice change takes to reach the kernel's
//! nftables rules, and what the service proxy's syncs cost, with N services.
//!
//! A real `skiff server` child (control plane only, its own service and cluster ranges,
//! which no test slot uses) holds N selector-less Services, each with one EndpointSlice of
//! E ready endpoints written straight through the API. The `proxy` crate runs in this
//! process, as an agent runs it, with its own table `skiff-proxy-bench-<pid>`: the measured
//! path is the real watches, model, renderer and `nft -f` into the kernel. Each change flips
//! one endpoint's `ready` and waits for the proxy's sync report that includes the slice's
//! new resourceVersion, which the proxy sends once `nft` has returned. At the end the table
//! the updates built is compared with one written whole from the same objects, then both
//! are removed (also on error or Ctrl-C).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::bench::{client, ms, pct, start_server_with};

const NS: &str = "bench-proxy";
/// Ranges of the bench's cluster: apart from the tests' (10.42/16, 10.43/16 in /21 slots),
/// so no other cluster's traffic on this machine can match the bench's rules.
const SERVICE_CIDR: &str = "10.47.0.0/16";
const CLUSTER_CIDR: &str = "10.46.0.0/16";

#[derive(clap::Args)]
pub struct ProxyArgs {
    /// Services (one port, one EndpointSlice each).
    #[arg(long, default_value_t = 1000)]
    services: usize,
    /// Ready endpoints per service.
    #[arg(long, default_value_t = 2)]
    endpoints: usize,
    /// EndpointSlice changes timed, one at a time.
    #[arg(long, default_value_t = 50)]
    changes: usize,
    /// Where the server's data dir goes.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

/// Removes the bench's nft tables when dropped, so an error or an early return leaves none.
struct Tables(Vec<String>);

impl Drop for Tables {
    fn drop(&mut self) {
        for t in &self.0 {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", t])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Removes the tables of earlier runs whose process is gone (one killed with SIGKILL could
/// not remove its own).
fn remove_stale_tables() {
    let Ok(out) = Command::new("nft").args(["list", "tables", "ip"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.strip_prefix("table ip ") else {
            continue;
        };
        let pid = name
            .strip_prefix("skiff-proxy-bench-")
            .map(|rest| rest.trim_end_matches("-check"));
        if pid.is_some_and(|p| {
            p.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{p}")).exists()
        }) {
            drop(Tables(vec![name.to_string()]));
        }
    }
}

/// CPU time of this process (user + system) and of its reaped children (the `nft` runs;
/// the server child is reaped only at the end).
fn cpu_times() -> (Duration, Duration) {
    let fields: Vec<u64> = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            Some(
                rest.split_whitespace()
                    .skip(11)
                    .take(4)
                    .filter_map(|f| f.parse().ok())
                    .collect(),
            )
        })
        .unwrap_or_default();
    // USER_HZ is 100 on every architecture skiff runs on.
    let tick = |i: usize| Duration::from_millis(fields.get(i).copied().unwrap_or(0) * 10);
    (tick(0) + tick(1), tick(2) + tick(3))
}

/// Endpoint `e` of service `i`: consecutive addresses in the cluster range.
fn endpoint_ip(i: usize, e: usize, per_service: usize) -> String {
    let n = i * per_service + e + 1;
    format!("10.46.{}.{}", (n >> 8) & 0xff, n & 0xff)
}

fn slice_object(i: usize, endpoints: usize) -> anyhow::Result<EndpointSlice> {
    let eps: Vec<serde_json::Value> = (0..endpoints)
        .map(
            |e| json!({"addresses": [endpoint_ip(i, e, endpoints)], "conditions": {"ready": true}}),
        )
        .collect();
    Ok(serde_json::from_value(json!({
        "metadata": {"name": format!("svc-{i}-bench"), "labels": {
            "kubernetes.io/service-name": format!("svc-{i}"),
            "endpointslice.kubernetes.io/managed-by": "skiff-bench"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": eps,
    }))?)
}

pub async fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    if args.endpoints == 0 || args.services * args.endpoints + 1 >= 1 << 16 {
        bail!("the endpoints must fit in {CLUSTER_CIDR}, at least one per service");
    }
    let pid = std::process::id();
    let node = format!("bench-{pid}");
    let table = proxy::table_name(&node);
    let check_table = format!("{table}-check");
    remove_stale_tables();
    let _tables = Tables(vec![table.clone(), check_table.clone()]);
    let server = start_server_with(
        &args.dir,
        &[
            "--service-cidr",
            SERVICE_CIDR,
            "--cluster-cidr",
            CLUSTER_CIDR,
        ],
    )?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        r = run(&args, &server, &node, &table, &check_table) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = term.recv() => Err(anyhow::anyhow!("terminated")),
    };
    drop(server);
    outcome
}

async fn run(
    args: &ProxyArgs,
    server: &crate::bench::ServerProc,
    node: &str,
    table: &str,
    check_table: &str,
) -> anyhow::Result<()> {
    let kube = client(&server.kubeconfig).await?;
    Api::<Namespace>::all(kube.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await
        .context("creating the namespace")?;
    let services: Api<Service> = Api::namespaced(kube.clone(), NS);
    let slices: Api<EndpointSlice> = Api::namespaced(kube.clone(), NS);
    let revision = |o: &kube::api::ObjectMeta| -> u64 {
        o.resource_version
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    };
    let started = Instant::now();
    let creates = futures::stream::iter(0..args.services).map(|i| {
        let (services, slices) = (services.clone(), slices.clone());
        let endpoints = args.endpoints;
        async move {
            // No selector: the endpoint controllers leave its slices to us.
            let svc: Service = serde_json::from_value(json!({
                "metadata": {"name": format!("svc-{i}")},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            }))?;
            let svc = services
                .create(&PostParams::default(), &svc)
                .await
                .context("creating a service")?;
            let slice = slices
                .create(&PostParams::default(), &slice_object(i, endpoints)?)
                .await
                .context("creating an endpoint slice")?;
            anyhow::Ok((revision(&svc.metadata), slice))
        }
    });
    let created: Vec<anyhow::Result<(u64, EndpointSlice)>> =
        creates.buffer_unordered(32).collect().await;
    let created: Vec<(u64, EndpointSlice)> = created.into_iter().collect::<anyhow::Result<_>>()?;
    let last_service = created.iter().map(|(r, _)| *r).max().unwrap_or(0);
    let mut current: Vec<EndpointSlice> = created.into_iter().map(|(_, s)| s).collect();
    current.sort_by_key(|s| {
        s.metadata.name.as_deref().and_then(|n| {
            n.strip_prefix("svc-")?
                .strip_suffix("-bench")?
                .parse::<usize>()
                .ok()
        })
    });
    eprintln!(
        "{} services and slices in {:?}",
        args.services,
        started.elapsed()
    );
    let last_slice = current
        .iter()
        .map(|s| revision(&s.metadata))
        .max()
        .unwrap_or(0);

    // The proxy, as an agent runs it, on a table of its own.
    let started = Instant::now();
    let proxy = proxy::run(
        kube.clone(),
        proxy::Config {
            node_name: node.to_string(),
            table: table.to_string(),
            cluster_cidr: CLUSTER_CIDR.to_string(),
        },
    );
    let result = measure(
        args,
        &proxy,
        &slices,
        &mut current,
        started,
        (last_service, last_slice),
    )
    .await;
    let verified = match &result {
        Ok(_) => verify(&kube, node, table, check_table).await,
        Err(_) => Ok(String::new()),
    };
    proxy.shutdown().await;
    let report = result?;
    let whole = verified?;
    println!("{report}{whole}");
    Ok(())
}

async fn wait_for(
    syncs: &mut tokio::sync::watch::Receiver<proxy::SyncReport>,
    services_revision: u64,
    slices_revision: u64,
    timeout: Duration,
) -> anyhow::Result<proxy::SyncReport> {
    let waited = tokio::time::timeout(
        timeout,
        syncs.wait_for(|r| {
            r.services_revision >= services_revision && r.slices_revision >= slices_revision
        }),
    )
    .await
    .with_context(|| format!("no proxy sync including revision {slices_revision} in {timeout:?}"))?
    .context("the proxy stopped")?;
    Ok(waited.clone())
}

async fn measure(
    args: &ProxyArgs,
    proxy: &proxy::Proxy,
    slices: &Api<EndpointSlice>,
    current: &mut [EndpointSlice],
    proxy_started: Instant,
    (last_service, last_slice): (u64, u64),
) -> anyhow::Result<String> {
    let mut syncs = proxy.syncs();
    let initial = wait_for(
        &mut syncs,
        last_service,
        last_slice,
        Duration::from_secs(300),
    )
    .await?;
    let initial_took = proxy_started.elapsed();
    eprintln!(
        "initial sync in {initial_took:?} ({} transactions)",
        initial.applied
    );

    let (cpu_before, nft_before) = cpu_times();
    let applied_before = initial.applied;
    let mut latencies = Vec::with_capacity(args.changes);
    let mut computes = Vec::with_capacity(args.changes);
    let mut applies = Vec::with_capacity(args.changes);
    let mut full = 0;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let changes_started = Instant::now();
    for _ in 0..args.changes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let i = (state % current.len() as u64) as usize;
        let mut slice = current[i].clone();
        // Flip the last endpoint's readiness: it leaves or joins the service's rules.
        if let Some(e) = slice.endpoints.as_mut().and_then(|e| e.last_mut()) {
            let c = e.conditions.get_or_insert_with(Default::default);
            c.ready = Some(!c.ready.unwrap_or(true));
        }
        let name = slice.metadata.name.clone().unwrap_or_default();
        let sent = Instant::now();
        let updated = slices
            .replace(&name, &PostParams::default(), &slice)
            .await
            .context("updating an endpoint slice")?;
        let r = slice_revision(&updated);
        let report = wait_for(&mut syncs, 0, r, Duration::from_secs(60)).await?;
        latencies.push(sent.elapsed());
        computes.push(report.compute);
        applies.push(report.apply);
        full += usize::from(report.full);
        current[i] = updated;
    }
    let wall = changes_started.elapsed();
    let (cpu_after, nft_after) = cpu_times();
    let transactions = syncs.borrow().applied - applied_before;
    latencies.sort();
    computes.sort();
    applies.sort();
    let per = |d: Duration| ms(d / args.changes.max(1) as u32);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "## Service proxy rule sync ({cpus} CPUs, server, proxy and nft on the same machine)\n"
    );
    let _ = writeln!(
        out,
        "| services | endpoints each | initial sync | changes | change→applied p50 | p99 | max | model+render p50 | nft apply p50 | transactions written whole | CPU per change: proxy process | nft |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {full} of {transactions} | {} | {} |",
        args.services,
        args.endpoints,
        ms(initial_took),
        args.changes,
        ms(pct(&latencies, 0.50)),
        ms(pct(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        ms(pct(&computes, 0.50)),
        ms(pct(&applies, 0.50)),
        per(cpu_after.saturating_sub(cpu_before)),
        per(nft_after.saturating_sub(nft_before)),
    );
    let _ = writeln!(
        out,
        "\nChanges ran one at a time for {wall:?}; \"proxy process\" is this process (the \
         proxy's watches, model and renderer, and the bench's own API client), \"nft\" the \
         `nft` runs it started."
    );
    Ok(out)
}

fn slice_revision(s: &EndpointSlice) -> u64 {
    s.metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Checks that the table the updates built equals one written whole from the same objects
/// (as a proxy's start or a failed update writes it), and says what writing it whole took.
async fn verify(
    kube: &kube::Client,
    node: &str,
    table: &str,
    check_table: &str,
) -> anyhow::Result<String> {
    let svcs = Api::<Service>::all(kube.clone())
        .list(&ListParams::default())
        .await?;
    let eps = Api::<EndpointSlice>::all(kube.clone())
        .list(&ListParams::default())
        .await?;
    let settings = proxy::render::Settings {
        table: check_table,
        cluster_cidr: CLUSTER_CIDR,
    };
    let started = Instant::now();
    let ports = proxy::model::build(&svcs.items, &eps.items, node);
    let script = proxy::render::script(&settings, &proxy::render::ruleset(&settings, &ports));
    let render = started.elapsed();
    let (cpu_before, nft_before) = cpu_times();
    proxy::nft::apply(&script).await?;
    let apply = started.elapsed() - render;
    let (cpu_after, nft_after) = cpu_times();
    let whole = format!(
        "\nThe table written whole for the same {} service ports ({} KiB script): model \
         and render {}, `nft -f` {} (nft CPU {}, this process {}).\n",
        ports.len(),
        script.len() / 1024,
        ms(render),
        ms(apply),
        ms(nft_after.saturating_sub(nft_before)),
        ms(cpu_after.saturating_sub(cpu_before)),
    );
    let built = listing(table)?;
    let written = listing(check_table)?;
    if built != written {
        let only_built: Vec<_> = built
            .iter()
            .filter(|(k, v)| written.get(*k) != Some(v))
            .take(3)
            .collect();
        bail!("the updated table differs from one written whole, e.g. {only_built:?}");
    }
    eprintln!(
        "the updated table equals one written whole ({} blocks)",
        built.len()
    );
    Ok(whole)
}

/// `nft list table` as blocks (sets, maps, chains) by name, map elements sorted (the
/// kernel lists them in its own order), rule order kept.
fn listing(table: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .context("running nft list")?;
    if !out.status.success() {
        bail!(
            "nft list table {table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut blocks = BTreeMap::new();
    let mut name = String::new();
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if line.starts_with("\t") && !line.starts_with("\t\t") && t.ends_with('{') {
            name = t.trim_end_matches('{').trim().to_string();
            lines.clear();
        } else if line == "\t}" {
            if name.starts_with("map ") || name.starts_with("set ") {
                // `elements = { a : b, c : d }` over several lines: one element a line.
                let joined = lines.join(" ");
                let mut parts: Vec<String> = match joined.split_once("elements = {") {
                    Some((head, elements)) => {
                        let mut v: Vec<String> = elements
                            .trim_end_matches('}')
                            .split(',')
                            .map(|e| e.trim().to_string())
                            .filter(|e| !e.is_empty())
                            .collect();
                        v.sort();
                        v.insert(0, head.trim().to_string());
                        v
                    }
                    None => vec![joined.trim().to_string()],
                };
                parts.retain(|p| !p.is_empty());
                blocks.insert(name.clone(), parts);
            } else {
                blocks.insert(name.clone(), lines.clone());
            }
        } else if !t.is_empty() {
            lines.push(t.to_string());
        }
    }
    Ok(blocks)
}
