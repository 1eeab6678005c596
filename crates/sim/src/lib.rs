//! Simulated nodes (KWOK-like): registers Node objects, keeps their Leases and status fresh,
//! and plays the kubelet's part for pods bound to them — without running anything.
//!
//! Everything goes through the API, as a real kubelet would. Used by `skiff sim` and, in
//! process, by tests and benchmarks ([`start`] returns a handle; dropping it stops the nodes).

mod behavior;
mod cidr;
pub mod clock;
mod kubelet;
mod lease;
mod node;
mod pod_status;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use kube::Client;
use tokio::task::JoinSet;

pub use behavior::{Behavior, BEHAVIOR_ANNOTATION};
pub use lease::{
    object as lease_object, DURATION_SECONDS as LEASE_DURATION_SECONDS,
    NAMESPACE as LEASE_NAMESPACE,
};
pub use node::taint;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: usize,
    /// Node names are `<prefix><index>`, index from 0.
    pub name_prefix: String,
    /// Zones `zone-a`, `zone-b`, ... assigned round robin (at least 1).
    pub zones: usize,
    pub region: String,
    pub instance_type: String,
    /// Per-node pod CIDRs are carved from this range in node order.
    pub cluster_cidr: String,
    pub node_cidr_mask_size: u8,
    pub cpu: String,
    pub memory: String,
    pub max_pods: u32,
    pub ephemeral_storage: String,
    /// Extra labels on every node.
    pub labels: Vec<(String, String)>,
    /// Taints every node registers with, as `key[=value]:Effect`.
    pub taints: Vec<String>,
    /// Extended resources in capacity and allocatable, e.g. (`nvidia.com/gpu`, `4`).
    pub extended_resources: Vec<(String, String)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 1,
            name_prefix: "sim-".into(),
            zones: 3,
            region: "sim-region".into(),
            instance_type: "sim.large".into(),
            cluster_cidr: "10.42.0.0/16".into(),
            node_cidr_mask_size: 24,
            cpu: "8".into(),
            memory: "32Gi".into(),
            max_pods: 110,
            ephemeral_storage: "100Gi".into(),
            labels: Vec::new(),
            taints: Vec::new(),
            extended_resources: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid cluster CIDR {0:?}: want an IPv4 range such as 10.42.0.0/16")]
    ClusterCidr(String),
    #[error(
        "{nodes} nodes need {nodes} /{mask} pod ranges but {cidr} holds only {fits}; pass a wider cluster CIDR"
    )]
    TooManyNodes {
        nodes: usize,
        mask: u8,
        cidr: String,
        fits: u64,
    },
    #[error("registering node {name}: {source}")]
    Register { name: String, source: kube::Error },
    #[error("creating lease for node {name}: {source}")]
    Lease { name: String, source: kube::Error },
    #[error("simulator task failed: {0}")]
    Task(String),
}

/// A simulated node's fixed facts.
#[derive(Clone, Debug)]
pub(crate) struct SimNode {
    pub name: String,
    pub index: usize,
    pub zone: String,
    pub pod_cidr: cidr::Cidr,
    pub internal_ip: std::net::Ipv4Addr,
}

/// Shared between the node loops and the handle.
pub(crate) struct Shared {
    pub client: Client,
    pub config: SimConfig,
    pub nodes: Vec<SimNode>,
    pub by_name: HashMap<String, usize>,
    /// Nodes whose heartbeats (Lease renewals and status) are paused.
    pub paused: Mutex<HashSet<String>>,
}

impl Shared {
    pub fn is_paused(&self, name: &str) -> bool {
        self.paused
            .lock()
            .map(|p| p.contains(name))
            .unwrap_or(false)
    }
}

/// Running simulated nodes. Dropping it stops every loop (heartbeats stop; the Node
/// objects stay, as a powered-off machine's would).
pub struct Sim {
    shared: Arc<Shared>,
    tasks: JoinSet<Result<(), Error>>,
}

impl Sim {
    pub fn node_names(&self) -> Vec<String> {
        self.shared.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Stops renewing this node's Lease and posting its status, as if it lost power.
    pub fn pause_heartbeats(&self, node: &str) {
        if let Ok(mut p) = self.shared.paused.lock() {
            p.insert(node.to_string());
        }
    }

    pub fn resume_heartbeats(&self, node: &str) {
        if let Ok(mut p) = self.shared.paused.lock() {
            p.remove(node);
        }
    }

    /// Runs until a loop fails (they retry API errors, so normally forever).
    pub async fn wait(mut self) -> Result<(), Error> {
        while let Some(r) = self.tasks.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(Error::Task(e.to_string())),
            }
        }
        Ok(())
    }
}

/// Registers the nodes and their Leases, then starts the heartbeat and kubelet loops.
pub async fn start(client: Client, config: SimConfig) -> Result<Sim, Error> {
    let nodes = plan_nodes(&config)?;
    let by_name = nodes
        .iter()
        .map(|n| (n.name.clone(), n.index))
        .collect::<HashMap<_, _>>();
    let shared = Arc::new(Shared {
        client,
        config,
        nodes,
        by_name,
        paused: Mutex::new(HashSet::new()),
    });
    // Many nodes: register them a few dozen at a time rather than one by one.
    futures::stream::iter(shared.nodes.iter())
        .map(|n| {
            let shared = shared.clone();
            async move {
                let uid = node::register(&shared, n).await?;
                lease::ensure(&shared, n, &uid).await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    tracing::info!(nodes = shared.nodes.len(), "simulated nodes registered");
    let mut tasks = JoinSet::new();
    tasks.spawn(lease::renew_loop(shared.clone()));
    tasks.spawn(node::heartbeat_loop(shared.clone()));
    tasks.spawn(kubelet::run(shared.clone()));
    Ok(Sim { shared, tasks })
}

/// [`start`], then run until the task is cancelled.
pub async fn run(client: Client, config: SimConfig) -> Result<(), Error> {
    start(client, config).await?.wait().await
}

fn plan_nodes(config: &SimConfig) -> Result<Vec<SimNode>, Error> {
    let cluster = cidr::Cidr::parse(&config.cluster_cidr)
        .ok_or_else(|| Error::ClusterCidr(config.cluster_cidr.clone()))?;
    let fits = cluster.subnets(config.node_cidr_mask_size);
    if config.nodes as u64 > fits {
        return Err(Error::TooManyNodes {
            nodes: config.nodes,
            mask: config.node_cidr_mask_size,
            cidr: cluster.to_string(),
            fits,
        });
    }
    // Node addresses come from 198.18.0.0/15, the range set aside for benchmarking
    // (RFC 2544): nothing ever sends traffic to a simulated node.
    let node_ips = cidr::Cidr {
        base: u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)),
        prefix: 15,
    };
    let zones = config.zones.max(1);
    (0..config.nodes)
        .map(|i| {
            let pod_cidr = cluster
                .subnet(config.node_cidr_mask_size, i as u64)
                .ok_or_else(|| Error::ClusterCidr(config.cluster_cidr.clone()))?;
            Ok(SimNode {
                name: format!("{}{i}", config.name_prefix),
                index: i,
                zone: zone_name(i % zones),
                pod_cidr,
                internal_ip: node_ips.host(1 + (i as u32 % (node_ips.size() as u32 - 2))),
            })
        })
        .collect()
}

/// `zone-a`, `zone-b`, ... `zone-z`, then `zone-z1`, `zone-z2`, ... past 26 zones.
fn zone_name(i: usize) -> String {
    match u8::try_from(i).ok().filter(|i| *i < 26) {
        Some(i) => format!("zone-{}", (b'a' + i) as char),
        None => format!("zone-z{}", i - 25),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_names_zones_and_ranges() {
        let config = SimConfig {
            nodes: 4,
            ..SimConfig::default()
        };
        let got: Vec<String> = plan_nodes(&config)
            .unwrap()
            .iter()
            .map(|n| format!("{} {} {} {}", n.name, n.zone, n.pod_cidr, n.internal_ip))
            .collect();
        expect_test::expect![[r#"
            [
                "sim-0 zone-a 10.42.0.0/24 198.18.0.1",
                "sim-1 zone-b 10.42.1.0/24 198.18.0.2",
                "sim-2 zone-c 10.42.2.0/24 198.18.0.3",
                "sim-3 zone-a 10.42.3.0/24 198.18.0.4",
            ]
        "#]]
        .assert_debug_eq(&got);
        let too_many = SimConfig {
            nodes: 257,
            ..SimConfig::default()
        };
        expect_test::expect![[r#"
            "257 nodes need 257 /24 pod ranges but 10.42.0.0/16 holds only 256; pass a wider cluster CIDR"
        "#]]
        .assert_debug_eq(&plan_nodes(&too_many).unwrap_err().to_string());
        assert_eq!(zone_name(0), "zone-a");
        assert_eq!(zone_name(25), "zone-z");
        assert_eq!(zone_name(26), "zone-z1");
    }
}
