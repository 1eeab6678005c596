//! Matching pods per topology domain, for a list of constraints. Counting walks every node
//! and its pods, which at thousands of nodes dominates a cycle; so counts are kept across
//! cycles and only nodes whose NodeInfo changed since (a new `Arc`) are recounted.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Node;

use super::Constraint;
use crate::framework::{FastMap, NodeInfo, PodInfo, Snapshot};

/// Matching pods per domain for a list of constraints, and the domain of every counted
/// node by the address of its Node object: Filter asks for the count of a node's domain
/// once per node and pod, and a label lookup plus a string hash per node was the largest
/// cost of a cycle with a spread constraint at thousands of nodes.
#[derive(Clone, Debug, Default)]
pub struct DomainCounts {
    per: Vec<Domains>,
    /// Node object address → the node's domains.
    by_node: FastMap<usize, NodeDomains>,
}

/// A counted node (kept alive so its address is not reused while listed) and its domain
/// id per constraint (None where it lacks the key).
type NodeDomains = (Arc<Node>, Box<[Option<u32>]>);

/// One constraint's domains. Ids are handed out as values are first seen and never
/// reused; a domain without eligible nodes does not exist (it keeps its id, at zero).
#[derive(Clone, Debug, Default)]
struct Domains {
    ids: FastMap<String, u32>,
    names: Vec<String>,
    /// Per id: (matching pods, eligible nodes).
    counts: Vec<(i64, i64)>,
    /// Domains with at least one eligible node.
    live: usize,
}

impl Domains {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(value.to_string(), id);
        self.names.push(value.to_string());
        self.counts.push((0, 0));
        id
    }

    fn add(&mut self, id: u32, pods: i64, nodes: i64) {
        let e = &mut self.counts[id as usize];
        let was_live = e.1 > 0;
        e.0 += pods;
        e.1 += nodes;
        if e.1 <= 0 {
            // Gone: whatever is left of its pod count goes with it, as a removed entry did.
            *e = (0, 0);
        }
        match (was_live, e.1 > 0) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
    }
}

/// A node's domain for one constraint.
#[derive(Debug, Clone, Copy)]
pub enum Domain<'a> {
    /// The node lacks the topology key.
    Missing,
    Id(u32),
    /// A value no counted node has (a node copied for nominated pods or preemption, or
    /// one not in the snapshot).
    Other(&'a str),
}

impl DomainCounts {
    fn new(constraints: usize) -> DomainCounts {
        DomainCounts {
            per: vec![Domains::default(); constraints],
            by_node: FastMap::default(),
        }
    }

    /// `node`'s domain for constraint `i` (topology key `key`).
    pub fn domain<'a>(&self, i: usize, key: &str, node: &'a NodeInfo) -> Domain<'a> {
        if let Some((_, ids)) = self.by_node.get(&node_key(node)) {
            return ids[i].map_or(Domain::Missing, Domain::Id);
        }
        match node.labels().get(key) {
            None => Domain::Missing,
            Some(v) => match self.per[i].ids.get(v.as_str()) {
                Some(&id) => Domain::Id(id),
                None => Domain::Other(v),
            },
        }
    }

    /// Matching pods in domain `id` of constraint `i`.
    pub fn pods(&self, i: usize, id: u32) -> i64 {
        self.per[i].counts[id as usize].0
    }

    pub fn name(&self, i: usize, id: u32) -> &str {
        &self.per[i].names[id as usize]
    }

    /// Matching pods in `domain` (zero for a domain that does not exist).
    pub fn pods_in(&self, i: usize, domain: Domain<'_>) -> i64 {
        match domain {
            Domain::Id(id) => self.pods(i, id),
            Domain::Missing | Domain::Other(_) => 0,
        }
    }

    /// How many domains constraint `i` has (with at least one eligible node).
    pub fn domains(&self, i: usize) -> usize {
        self.per[i].live
    }

    /// Constraint `i`'s domains: name and matching pods.
    pub fn live(&self, i: usize) -> impl Iterator<Item = (&str, i64)> {
        let d = &self.per[i];
        d.counts
            .iter()
            .zip(&d.names)
            .filter(|(c, _)| c.1 > 0)
            .map(|(c, n)| (n.as_str(), c.0))
    }

    /// Every constraint's domains as (matching pods, eligible nodes), for comparisons.
    #[cfg(test)]
    pub fn view(&self) -> Vec<std::collections::BTreeMap<String, (i64, i64)>> {
        self.per
            .iter()
            .map(|d| {
                d.counts
                    .iter()
                    .zip(&d.names)
                    .filter(|(c, _)| c.1 > 0)
                    .map(|(c, n)| (n.clone(), *c))
                    .collect()
            })
            .collect()
    }

    fn add_node(&mut self, constraints: &[Constraint], node: &NodeInfo) {
        let ids: Box<[Option<u32>]> = constraints
            .iter()
            .zip(&mut self.per)
            .map(|(c, d)| node.labels().get(&c.topology_key).map(|v| d.intern(v)))
            .collect();
        self.by_node
            .insert(node_key(node), (node.node.clone(), ids));
    }
}

fn node_key(node: &NodeInfo) -> usize {
    Arc::as_ptr(&node.node) as usize
}

/// Whether `node` counts for constraint `c` of `pod`: it has the topology key, and passes
/// the nodeAffinityPolicy / nodeTaintsPolicy inclusion rules.
pub fn node_eligible(c: &Constraint, pod: &PodInfo, node: &NodeInfo) -> bool {
    if !node.labels().contains_key(&c.topology_key) {
        return false;
    }
    if c.honor_node_affinity
        && !crate::plugins::node_affinity::required_matches(&pod.pod, &node.node)
    {
        return false;
    }
    if c.honor_taints {
        let tols = pod.tolerations();
        let untolerated = node.taints().iter().any(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute")
                && !tols.iter().any(|tol| crate::plugins::tolerates(tol, t))
        });
        if untolerated {
            return false;
        }
    }
    true
}

/// Pods on the node in `ns`, not terminating, that `c` selects.
pub fn count_matching(c: &Constraint, ns: &str, node: &NodeInfo) -> i64 {
    node.pods
        .iter()
        .filter(|p| p.namespace == ns && !p.is_terminating() && c.selector.matches(p.labels()))
        .count() as i64
}

/// A node as last counted: its NodeInfo and its count per constraint (None: not eligible).
type Counted = (Arc<NodeInfo>, Vec<Option<i64>>);

struct Entry {
    key: String,
    epoch: u64,
    /// Per snapshot index: the NodeInfo counted and its contribution per constraint.
    nodes: Vec<Option<Counted>>,
    counts: Arc<DomainCounts>,
}

/// Requires every constraint's key on a node before it counts for any (upstream's
/// nodeLabelsMatchSpreadConstraints).
fn contribution(constraints: &[Constraint], pod: &PodInfo, node: &NodeInfo) -> Vec<Option<i64>> {
    let all_keys = constraints
        .iter()
        .all(|c| node.labels().contains_key(&c.topology_key));
    constraints
        .iter()
        .map(|c| {
            (all_keys && node_eligible(c, pod, node))
                .then(|| count_matching(c, &pod.namespace, node))
        })
        .collect()
}

fn apply(
    counts: &mut DomainCounts,
    constraints: &[Constraint],
    node: &NodeInfo,
    contrib: &[Option<i64>],
    sign: i64,
) {
    let key = node_key(node);
    for (i, c) in constraints.iter().enumerate() {
        let Some(n) = contrib[i] else { continue };
        let id = match counts.by_node.get(&key) {
            Some((_, ids)) => ids[i],
            None => node
                .labels()
                .get(&c.topology_key)
                .map(|v| counts.per[i].intern(v)),
        };
        if let Some(id) = id {
            counts.per[i].add(id, sign * n, sign);
        }
    }
}

#[derive(Default)]
pub struct CountCache {
    entries: Mutex<Vec<Entry>>,
}

const MAX_ENTRIES: usize = 4;

impl CountCache {
    /// Domain counts for `constraints` of `pod` over the snapshot. `key` must identify
    /// everything the counts depend on besides the nodes (namespace, constraints, the pod's
    /// node affinity and tolerations where the policies use them).
    pub fn counts(
        &self,
        key: String,
        constraints: &[Constraint],
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Arc<DomainCounts> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let pos = entries.iter().position(|e| e.key == key);
        let mut entry = match pos {
            Some(i) => entries.remove(i),
            None => Entry {
                key,
                epoch: 0,
                nodes: Vec::new(),
                counts: Arc::default(),
            },
        };
        if entry.epoch != snapshot.epoch() || entry.nodes.len() != snapshot.len() {
            entry.epoch = snapshot.epoch();
            entry.nodes = vec![None; snapshot.len()];
            entry.counts = Arc::new(DomainCounts::new(constraints.len()));
        }
        let counts = Arc::make_mut(&mut entry.counts);
        for (i, node) in snapshot.nodes().iter().enumerate() {
            let slot = &mut entry.nodes[i];
            if slot.as_ref().is_some_and(|(n, _)| Arc::ptr_eq(n, node)) {
                continue;
            }
            let old = slot.take();
            if let Some((old, contrib)) = &old {
                apply(counts, constraints, old, contrib, -1);
            }
            // The domains follow the Node object; most changes only add or remove pods.
            let same_node = old
                .as_ref()
                .is_some_and(|(o, _)| Arc::ptr_eq(&o.node, &node.node));
            if !same_node {
                if let Some((o, _)) = &old {
                    counts.by_node.remove(&node_key(o));
                }
                counts.add_node(constraints, node);
            }
            let contrib = contribution(constraints, pod, node);
            apply(counts, constraints, node, &contrib, 1);
            *slot = Some((node.clone(), contrib));
        }
        let out = entry.counts.clone();
        entries.insert(0, entry);
        entries.truncate(MAX_ENTRIES);
        out
    }
}

/// The same counts computed from scratch (reference for tests).
#[cfg(test)]
pub fn counts_from_scratch(
    constraints: &[Constraint],
    pod: &PodInfo,
    snapshot: &Snapshot,
) -> DomainCounts {
    let mut counts = DomainCounts::new(constraints.len());
    for node in snapshot.nodes() {
        counts.add_node(constraints, node);
        let contrib = contribution(constraints, pod, node);
        apply(&mut counts, constraints, node, &contrib, 1);
    }
    counts
}
