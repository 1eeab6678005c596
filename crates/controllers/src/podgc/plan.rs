//! Which pods the pod garbage collector removes (pure), as upstream's `PodGCController`:
//! terminated pods beyond a threshold (oldest first), pods bound to nodes that are gone
//! (once a node has been missing for the quarantine time), and unscheduled pods being
//! deleted (no node agent will ever finish them).

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

use crate::podinfo;

const SLACK: SignedDuration = SignedDuration::from_secs(1);

/// A pod to remove: namespace and name.
pub type PodKey = (String, String);

fn key(p: &Pod) -> PodKey {
    (p.namespace().unwrap_or_default(), p.name_any())
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub terminated: Vec<PodKey>,
    /// Pods on vanished nodes, with the node.
    pub orphaned: Vec<(PodKey, String)>,
    pub unscheduled_terminating: Vec<PodKey>,
}

/// When each missing node was first seen missing; nodes that came back are forgotten.
pub fn track_missing(
    missing_since: &mut BTreeMap<String, Timestamp>,
    pods: &[impl Borrow<Pod>],
    nodes: &BTreeSet<String>,
    now: Timestamp,
) {
    let referenced: BTreeSet<&str> = pods
        .iter()
        .map(|p| podinfo::node_name(p.borrow()))
        .filter(|n| !n.is_empty())
        .collect();
    missing_since.retain(|n, _| referenced.contains(n.as_str()) && !nodes.contains(n));
    for n in referenced {
        if !nodes.contains(n) {
            missing_since.entry(n.to_string()).or_insert(now);
        }
    }
}

pub fn plan(
    pods: &[impl Borrow<Pod>],
    missing_since: &BTreeMap<String, Timestamp>,
    quarantine: SignedDuration,
    threshold: usize,
    now: Timestamp,
) -> Plan {
    let mut plan = Plan::default();
    // Terminated pods beyond the threshold, oldest first (upstream sorts by creation).
    let mut terminated: Vec<&Pod> = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|p| podinfo::is_terminal(p) && p.metadata.deletion_timestamp.is_none())
        .collect();
    if threshold > 0 && terminated.len() > threshold {
        terminated.sort_by_key(|p| (podinfo::created(p), p.name_any()));
        let excess = terminated.len() - threshold;
        plan.terminated = terminated[..excess].iter().map(|p| key(p)).collect();
    }
    for p in pods.iter().map(Borrow::borrow) {
        let node = podinfo::node_name(p);
        if node.is_empty() {
            if p.metadata.deletion_timestamp.is_some() {
                plan.unscheduled_terminating.push(key(p));
            }
            continue;
        }
        // A second of slack: the sighting and this check both happen on a tick, and a
        // check a hair early would otherwise wait a whole period more.
        let gone = missing_since
            .get(node)
            .is_some_and(|since| *since + quarantine <= now + SLACK);
        if gone {
            plan.orphaned.push((key(p), node.to_string()));
        }
    }
    plan
}

#[cfg(test)]
mod tests;
