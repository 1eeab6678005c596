//! Node IPAM (upstream's range allocator): every node gets a pod range carved from
//! `--cluster-cidr`, the lowest one no other node holds. Ranges nodes already carry (set
//! at registration) are respected, so a restart never hands one out twice.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Mutex;

use crate::Error;

/// An IPv4 range split into equal subnets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranges {
    base: u32,
    prefix: u8,
    subnet_prefix: u8,
}

impl Ranges {
    /// `None` unless `cidr` is an IPv4 range at least as large as one subnet.
    pub fn new(cidr: &str, subnet_prefix: u8) -> Option<Ranges> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > subnet_prefix || subnet_prefix > 32 {
            return None;
        }
        Some(Ranges {
            base: u32::from(addr) & mask(prefix),
            prefix,
            subnet_prefix,
        })
    }

    pub fn count(&self) -> u64 {
        1u64 << (self.subnet_prefix - self.prefix)
    }

    pub fn subnet(&self, index: u64) -> String {
        let shift = 32 - u32::from(self.subnet_prefix);
        let start = u64::from(self.base) + (index << shift);
        let addr = Ipv4Addr::from(u32::try_from(start).unwrap_or(u32::MAX));
        format!("{addr}/{}", self.subnet_prefix)
    }

    /// Which subnet `cidr` is, if it is exactly one of ours.
    pub fn index_of(&self, cidr: &str) -> Option<u64> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr = u32::from(addr.parse::<Ipv4Addr>().ok()?);
        if prefix.parse::<u8>().ok()? != self.subnet_prefix || addr & mask(self.prefix) != self.base
        {
            return None;
        }
        Some(u64::from(addr - self.base) >> (32 - u32::from(self.subnet_prefix)))
    }

    /// The lowest subnet index not in `used`.
    pub fn first_free(&self, used: &[u64]) -> Option<u64> {
        (0..self.count()).find(|i| !used.contains(i))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

struct Ctx {
    client: Client,
    ranges: Ranges,
    nodes: Store<Node>,
    /// Serialises allocations: two nodes must never be handed the same range.
    lock: Mutex<()>,
    recorder: Recorder,
}

pub async fn run(
    client: Client,
    informers: &crate::informers::Informers,
    cluster_cidr: String,
    node_cidr_mask_size: u8,
) {
    let Some(ranges) = Ranges::new(&cluster_cidr, node_cidr_mask_size) else {
        tracing::warn!(%cluster_cidr, "node IPAM disabled: the cluster CIDR is not an IPv4 range larger than a node's");
        return;
    };
    let controller =
        Controller::for_shared_stream(informers.nodes.subscribe(), informers.nodes.store());
    let reporter = Reporter {
        controller: "node-ipam-controller".into(),
        instance: None,
    };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        ranges,
        nodes: controller.store(),
        lock: Mutex::new(()),
    });
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .filter(|c| !c.is_empty())
}

async fn reconcile(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if pod_cidr(&node).is_some() || node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let _guard = ctx.lock.lock().await;
    let used: Vec<u64> = ctx
        .nodes
        .state()
        .iter()
        .filter_map(|n| pod_cidr(n).and_then(|c| ctx.ranges.index_of(c)))
        .collect();
    let Some(index) = ctx.ranges.first_free(&used) else {
        let event = Event {
            type_: EventType::Warning,
            reason: "CIDRNotAvailable".into(),
            note: Some(format!(
                "Node {} status is now: CIDRNotAvailable",
                node.name_any()
            )),
            action: "AllocateCIDR".into(),
            secondary: None,
        };
        let _ = ctx.recorder.publish(&event, &node.object_ref(&())).await;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let cidr = ctx.ranges.subnet(index);
    let api: Api<Node> = Api::all(ctx.client.clone());
    let patch = json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    });
    api.patch(
        &node.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    // Hold the lock until the cache shows the new range, so the next allocation sees it.
    let name = node.name_any();
    for _ in 0..50 {
        let seen = ctx
            .nodes
            .get(&kube::runtime::reflector::ObjectRef::new(&name))
            .is_some_and(|n| pod_cidr(&n).is_some());
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(node = %name, %cidr, "allocated pod CIDR");
    Ok(Action::await_change())
}

fn error_policy(node: Arc<Node>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(node = %node.name_any(), error = %err, "pod CIDR allocation failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = Ranges::new("10.42.0.0/16", 24).expect("ranges");
        assert_eq!(r.count(), 256);
        assert_eq!(r.subnet(0), "10.42.0.0/24");
        assert_eq!(r.subnet(255), "10.42.255.0/24");
        assert_eq!(r.index_of("10.42.7.0/24"), Some(7));
        assert_eq!(r.index_of("10.43.7.0/24"), None);
        assert_eq!(r.index_of("10.42.7.0/25"), None);
        assert_eq!(r.first_free(&[0, 1, 3]), Some(2));
        let tiny = Ranges::new("10.0.0.0/24", 24).expect("one range");
        assert_eq!(tiny.first_free(&[0]), None);
        assert_eq!(Ranges::new("10.0.0.0/24", 16), None);
        assert_eq!(Ranges::new("fd00::/48", 64), None);
    }
}
