//! host-gw routing (flannel's host-gw backend's idea): every other node's podCIDR is routed
//! to that node's InternalIP, when it is a neighbour on a directly connected subnet, so
//! pods reach pods (and service endpoints) on other nodes with their own addresses.
//!
//! A watch of the Nodes feeds a pass (coalesced; and every 30 s, so an interface that comes
//! up later is noticed and a route removed behind the agent's back comes back) that plans
//! with [`plan`], checks each gateway with `ip route get`, and installs or removes
//! `ip route replace <podCIDR> via <InternalIP> metric 4242`. The
//! routes this agent installed are kept in a state file in its data dir, so a restart after
//! a crash removes the ones no longer wanted; [`PodRoutes::shutdown`] removes them all.
//! The routes are more specific than the `unreachable` cluster-CIDR route (`routes.rs`),
//! which still catches every pod address no node owns.

pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use tokio::sync::Notify;

use crate::routes::{parse_prefix, METRIC};
use crate::Error;

/// Changes arriving within this window are applied together.
const COALESCE: Duration = Duration::from_millis(100);
/// A full pass this often, besides one per change.
const RESYNC: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Settings {
    pub node_name: String,
    pub cluster_cidr: String,
    /// Other ranges no gateway may lie in (the service CIDR).
    pub no_gateway_in: Vec<String>,
    /// The pod bridge: a gateway on it is refused.
    pub bridge: String,
    /// This node's podCIDR (its bridge's range).
    pub own_pod_cidr: String,
    /// Where the installed routes are recorded.
    pub state_file: PathBuf,
}

type Installed = Arc<Mutex<plan::Routes>>;

/// The running route keeper.
pub struct PodRoutes {
    task: tokio::task::JoinHandle<()>,
    installed: Installed,
    state_file: PathBuf,
}

impl PodRoutes {
    /// Stops the watch and removes every route this agent installed.
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
        let routes = proxy::lock(&self.installed).clone();
        let mut left = plan::Routes::new();
        for (cidr, gateway) in routes {
            match ip_route("delete", &cidr, gateway).await {
                Ok(()) => {}
                Err(e) if already_gone(&e) => {}
                Err(e) => {
                    tracing::warn!(error = %e, %cidr, "removing a pod route; the next start retries");
                    left.insert(cidr, gateway);
                }
            }
        }
        // What could not be removed stays recorded for the next start on this data dir.
        if left.is_empty() {
            let _ = std::fs::remove_file(&self.state_file);
        } else {
            let _ = std::fs::write(&self.state_file, plan::render_state(&left));
        }
    }
}

/// Starts the watch and the pass loop.
pub fn start(client: kube::Client, settings: Settings) -> Result<PodRoutes, Error> {
    let prefix = |cidr: &str| {
        parse_prefix(cidr).ok_or_else(|| Error::Config(format!("{cidr:?}: not an IPv4 prefix")))
    };
    let cluster = plan::Cluster {
        own_node: settings.node_name.clone(),
        cluster_cidr: prefix(&settings.cluster_cidr)?,
        no_gateway_in: settings
            .no_gateway_in
            .iter()
            .map(|c| prefix(c))
            .collect::<Result<_, _>>()?,
        own_pod_cidr: parse_prefix(&settings.own_pod_cidr),
    };
    // Routes an earlier run of this agent left (it was killed): removed or kept by the
    // first pass.
    let left = std::fs::read_to_string(&settings.state_file).unwrap_or_default();
    let installed: Installed = Arc::new(Mutex::new(plan::parse_state(&left)));
    let nodes: proxy::Objects<Node> = Arc::default();
    let changed = Arc::new(Notify::new());
    let task = {
        let installed = installed.clone();
        let settings = settings.clone();
        tokio::spawn(async move {
            let watch = tokio::spawn(proxy::mirror(
                Api::<Node>::all(client),
                nodes.clone(),
                changed.clone(),
            ));
            // Dropped with this task: the watch ends with it.
            let _watch = AbortOnDrop(watch);
            // Nothing is planned before the first list: an empty cache would remove routes.
            changed.notified().await;
            let mut memo = Memo::default();
            let mut resync = false;
            loop {
                tokio::time::sleep(COALESCE).await;
                let facts: Vec<plan::NodeFacts> = proxy::lock(&nodes).values().map(facts).collect();
                pass(&cluster, &settings, &facts, &installed, &mut memo, resync).await;
                resync = tokio::select! {
                    _ = changed.notified() => false,
                    _ = tokio::time::sleep(RESYNC) => true,
                };
                if resync {
                    memo.reach.clear();
                }
            }
        })
    };
    Ok(PodRoutes {
        task,
        installed,
        state_file: settings.state_file,
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn facts(n: &Node) -> plan::NodeFacts {
    plan::NodeFacts {
        name: n.metadata.name.clone().unwrap_or_default(),
        pod_cidr: n.spec.as_ref().and_then(|s| s.pod_cidr.clone()),
        internal_ip: n
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone()),
    }
}

/// What passes remember: how each gateway was reached (checked again every resync, so a
/// cluster of many unreachable simulated nodes costs one `ip` call per node per 30 s), and
/// the skip reasons already logged.
#[derive(Default)]
struct Memo {
    reach: BTreeMap<Ipv4Addr, plan::Reach>,
    logged: BTreeSet<String>,
}

/// New skip reasons logged one by one up to this many a pass, then counted.
const LOG_AT_MOST: usize = 5;

/// One reconcile: plan, check each gateway, apply the difference, record it.
async fn pass(
    cluster: &plan::Cluster,
    settings: &Settings,
    nodes: &[plan::NodeFacts],
    installed: &Installed,
    memo: &mut Memo,
    resync: bool,
) {
    let (candidates, mut skipped) = plan::candidates(cluster, nodes);
    let links = if candidates.is_empty() {
        plan::Links::default()
    } else {
        links().await
    };
    let mut wanted = BTreeMap::new();
    for (cidr, w) in candidates {
        let reach = match memo.reach.get(&w.gateway) {
            Some(r) => r.clone(),
            None => {
                let r = match run_ip(&["-4", "route", "get", &w.gateway.to_string()]).await {
                    Ok(out) => plan::parse_route_get(&out),
                    Err(e) => plan::Reach::Other(e.to_string()),
                };
                memo.reach.insert(w.gateway, r.clone());
                r
            }
        };
        let why = plan::refuse(&reach, &settings.bridge).or_else(|| match &reach {
            plan::Reach::Neighbour { dev } => plan::refuse_neighbour(w.gateway, dev, &links),
            _ => None,
        });
        match why {
            Some(why) => skipped.push((w.node, why)),
            None => {
                wanted.insert(cidr, w.gateway);
            }
        }
    }
    // Each reason is logged once while it lasts.
    let now: BTreeSet<String> = skipped
        .iter()
        .map(|(node, why)| format!("{node}: {why}"))
        .collect();
    let new: Vec<&String> = now.difference(&memo.logged).collect();
    for line in new.iter().take(LOG_AT_MOST) {
        tracing::warn!("no route to a node's pods: {line}");
    }
    if new.len() > LOG_AT_MOST {
        tracing::warn!(
            "no route to {} more nodes' pods for such reasons",
            new.len() - LOG_AT_MOST
        );
    }
    memo.logged = now;

    let have = proxy::lock(installed).clone();
    let plan::Changes {
        mut replace,
        delete,
    } = plan::diff(&wanted, &have);
    if resync {
        // Every wanted route again: one removed behind our back (by hand, or with its
        // interface) comes back within a resync.
        replace = wanted.iter().map(|(c, g)| (c.clone(), *g)).collect();
    }
    if replace.is_empty() && delete.is_empty() {
        return;
    }
    for (cidr, gateway) in delete {
        match ip_route("delete", &cidr, gateway).await {
            Ok(()) => tracing::info!(%cidr, %gateway, "pod route removed"),
            // Already gone (removed by hand, or the interface went away).
            Err(e) if already_gone(&e) => {
                tracing::debug!(error = %e, %cidr, "removing a pod route")
            }
            Err(e) => {
                // Kept on record: the next pass tries again.
                tracing::warn!(error = %e, %cidr, "removing a pod route");
                continue;
            }
        }
        proxy::lock(installed).remove(&cidr);
    }
    for (cidr, gateway) in replace {
        let known = have.get(&cidr) == Some(&gateway);
        if !known {
            // Recorded first: a route whose command was cut short is still removed later.
            proxy::lock(installed).insert(cidr.clone(), gateway);
            save(settings, installed);
        }
        match ip_route("replace", &cidr, gateway).await {
            Ok(()) if known => {}
            Ok(()) => tracing::info!(%cidr, %gateway, "pod route installed"),
            Err(e) => {
                tracing::warn!(error = %e, %cidr, "installing a pod route; retried at the next pass");
                if known {
                    continue;
                }
                let mut routes = proxy::lock(installed);
                match have.get(&cidr) {
                    Some(old) => routes.insert(cidr, *old),
                    None => routes.remove(&cidr),
                };
            }
        }
    }
    if *proxy::lock(installed) != have {
        save(settings, installed);
    }
}

/// This machine's addresses, routers and point-to-point links, for [`plan::refuse_neighbour`].
/// A failed `ip` leaves a part empty, which refuses every route (no address to be a
/// neighbour on) rather than allowing one.
async fn links() -> plan::Links {
    let addrs = run_ip(&["-4", "-o", "addr", "show"])
        .await
        .unwrap_or_default();
    let routes = run_ip(&["-4", "route", "show", "table", "all"])
        .await
        .unwrap_or_default();
    let addrs = plan::parse_addrs(&addrs);
    let mut not_broadcast: Vec<String> = Vec::new();
    for (dev, _) in &addrs {
        let flags =
            std::fs::read_to_string(format!("/sys/class/net/{dev}/flags")).unwrap_or_default();
        if plan::not_broadcast_flags(&flags) && !not_broadcast.contains(dev) {
            not_broadcast.push(dev.clone());
        }
    }
    plan::Links {
        addrs,
        routers: plan::parse_routers(&routes),
        not_broadcast,
    }
}

fn save(settings: &Settings, installed: &Installed) {
    let text = plan::render_state(&proxy::lock(installed));
    let tmp = settings.state_file.with_extension("tmp");
    let res = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &settings.state_file));
    if let Err(e) = res {
        tracing::warn!(error = %e, file = %settings.state_file.display(), "recording pod routes");
    }
}

/// `ip route delete` of a route that is not there.
fn already_gone(e: &Error) -> bool {
    e.to_string().contains("No such process")
}

async fn ip_route(verb: &str, cidr: &str, gateway: Ipv4Addr) -> Result<(), Error> {
    run_ip(&[
        "route",
        verb,
        cidr,
        "via",
        &gateway.to_string(),
        "metric",
        METRIC,
    ])
    .await
    .map(drop)
}

async fn run_ip(args: &[&str]) -> Result<String, Error> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        // A pass cut short by shutdown must not change the table after shutdown cleaned it.
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            Error::Config(format!(
                "running ip {}: {e} (Debian package iproute2)",
                args.join(" ")
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
