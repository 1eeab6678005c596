//! Node IPAM (upstream's range allocator): every node gets a pod range carved from
//! `--cluster-cidr`, the lowest one not taken. Ranges nodes already carry (set at
//! registration) are respected, so a restart never hands one out twice; a deleted node's
//! range is free again.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
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
    /// Which ranges are taken.
    taken: Mutex<Taken>,
    recorder: Recorder,
}

/// The ranges known to be held, kept from the node informer's events (so an allocation
/// costs no walk over all nodes, and a deleted node's range is free again at once), plus
/// the ones this controller handed out that the cache does not show yet.
#[derive(Default)]
struct Taken {
    indexes: BTreeSet<u64>,
    /// Handed out, not yet seen on a node.
    reserved: BTreeSet<u64>,
    /// The relist in progress: what it has seen so far.
    relisting: Option<BTreeSet<u64>>,
    /// Whether a whole list has been seen: before that nothing is handed out.
    filled: bool,
}

impl Taken {
    fn apply(&mut self, ranges: &Ranges, event: watcher::Event<Arc<Node>>) {
        let index = |n: &Node| pod_cidr(n).and_then(|c| ranges.index_of(c));
        match event {
            watcher::Event::Init => self.relisting = Some(BTreeSet::new()),
            watcher::Event::InitApply(n) => {
                if let (Some(seen), Some(i)) = (self.relisting.as_mut(), index(&n)) {
                    seen.insert(i);
                }
            }
            watcher::Event::InitDone => {
                let mut seen = self.relisting.take().unwrap_or_default();
                seen.extend(&self.reserved);
                self.indexes = seen;
                self.filled = true;
            }
            watcher::Event::Apply(n) => {
                if let Some(i) = index(&n) {
                    self.indexes.insert(i);
                    self.reserved.remove(&i);
                }
            }
            watcher::Event::Delete(n) => {
                if let Some(i) = index(&n) {
                    self.indexes.remove(&i);
                    // Handed out to a node deleted before its range showed on it.
                    self.reserved.remove(&i);
                }
            }
        }
    }

    /// The lowest range not taken.
    fn lowest_free(&self, ranges: &Ranges) -> Option<u64> {
        // `indexes` is sorted: the first gap in 0, 1, 2, ... is the answer.
        let mut candidate = 0;
        for &i in &self.indexes {
            if i != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < ranges.count()).then_some(candidate)
    }
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
    let reporter = Reporter {
        controller: "node-ipam-controller".into(),
        instance: None,
    };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        ranges,
        taken: Mutex::new(Taken::default()),
    });
    // Each node change is recorded in `taken` before it can trigger an allocation, so an
    // allocation always knows every range the nodes seen so far hold.
    let (trigger, triggers) = futures::channel::mpsc::unbounded();
    let events = informers.nodes.events();
    let follow = {
        let ctx = ctx.clone();
        async move {
            futures::pin_mut!(events);
            // A (re)list's nodes trigger once the whole list is recorded.
            let mut listed = Vec::new();
            while let Some(event) = events.next().await {
                let mut ready = Vec::new();
                match &event {
                    watcher::Event::Apply(n) => ready.push(n.clone()),
                    watcher::Event::InitApply(n) => listed.push(n.clone()),
                    watcher::Event::InitDone => ready = std::mem::take(&mut listed),
                    watcher::Event::Init => listed.clear(),
                    watcher::Event::Delete(_) => {}
                }
                ctx.taken.lock().await.apply(&ctx.ranges, event);
                for node in ready {
                    let _ = trigger.unbounded_send(node);
                }
            }
        }
    };
    let allocate = Controller::for_shared_stream(triggers, informers.nodes.store())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    tokio::join!(follow, allocate);
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
    let mut taken = ctx.taken.lock().await;
    if !taken.filled {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    let free = taken.lowest_free(&ctx.ranges);
    let Some(index) = free else {
        drop(taken);
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
    // Reserved before the patch, so allocations for other nodes go on meanwhile.
    taken.indexes.insert(index);
    taken.reserved.insert(index);
    drop(taken);
    let cidr = ctx.ranges.subnet(index);
    let api: Api<Node> = Api::all(ctx.client.clone());
    let patch = json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    });
    let patched = api
        .patch(
            &node.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
    if let Err(e) = patched {
        let mut taken = ctx.taken.lock().await;
        taken.indexes.remove(&index);
        taken.reserved.remove(&index);
        return Err(e.into());
    }
    tracing::info!(node = %node.name_any(), %cidr, "allocated pod CIDR");
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
        let taken = |indexes: &[u64]| Taken {
            indexes: indexes.iter().copied().collect(),
            ..Taken::default()
        };
        assert_eq!(taken(&[0, 1, 3]).lowest_free(&r), Some(2));
        assert_eq!(taken(&[1, 2]).lowest_free(&r), Some(0));
        assert_eq!(taken(&[]).lowest_free(&r), Some(0));
        let full: Vec<u64> = (0..256).collect();
        assert_eq!(taken(&full).lowest_free(&r), None);
        let tiny = Ranges::new("10.0.0.0/24", 24).expect("one range");
        assert_eq!(taken(&[0]).lowest_free(&tiny), None);
    }

    fn node(cidr: Option<&str>) -> Arc<Node> {
        Arc::new(Node {
            spec: Some(k8s_openapi::api::core::v1::NodeSpec {
                pod_cidr: cidr.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn taken_follows_the_informer() {
        use watcher::Event::*;
        let r = Ranges::new("10.42.0.0/16", 24).expect("ranges");
        let mut t = Taken::default();
        // A list, with a range this controller handed out but the list does not show yet.
        t.reserved.insert(5);
        t.apply(&r, Init);
        for cidr in [
            Some("10.42.0.0/24"),
            None,
            Some("10.42.1.0/24"),
            Some("192.168.0.0/24"),
        ] {
            t.apply(&r, InitApply(node(cidr)));
        }
        assert!(!t.filled);
        t.apply(&r, InitDone);
        assert!(t.filled);
        assert_eq!(t.indexes.iter().copied().collect::<Vec<_>>(), [0, 1, 5]);
        assert_eq!(t.lowest_free(&r), Some(2));
        // The reserved range shows up on its node; another node is deleted.
        t.apply(&r, Apply(node(Some("10.42.5.0/24"))));
        assert!(t.reserved.is_empty());
        t.apply(&r, Delete(node(Some("10.42.0.0/24"))));
        assert_eq!(t.lowest_free(&r), Some(0));
        assert_eq!(t.indexes.iter().copied().collect::<Vec<_>>(), [1, 5]);
        // A node deleted with the range it was just handed: the range is free again and
        // stays free across the next relist.
        t.indexes.insert(7);
        t.reserved.insert(7);
        t.apply(&r, Delete(node(Some("10.42.7.0/24"))));
        t.apply(&r, Init);
        t.apply(&r, InitApply(node(Some("10.42.1.0/24"))));
        t.apply(&r, InitDone);
        assert_eq!(t.indexes.iter().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(Ranges::new("10.0.0.0/24", 16), None);
        assert_eq!(Ranges::new("fd00::/48", 64), None);
    }
}
