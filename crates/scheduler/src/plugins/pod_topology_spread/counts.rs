//! Matching pods per topology domain, for a list of constraints. Counting walks every node
//! and its pods, which at thousands of nodes dominates a cycle; so counts are kept across
//! cycles and only nodes whose NodeInfo changed since (a new `Arc`) are recounted.

use std::sync::{Arc, Mutex};

use super::Constraint;
use crate::framework::{FastMap, NodeInfo, PodInfo, Snapshot};

/// Per constraint: domain value → (matching pods, eligible nodes).
pub type DomainCounts = Vec<FastMap<String, (i64, i64)>>;

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
    for (i, c) in constraints.iter().enumerate() {
        let Some(n) = contrib[i] else { continue };
        let Some(value) = node.labels().get(&c.topology_key) else {
            continue;
        };
        let remove = match counts[i].get_mut(value.as_str()) {
            Some(e) => {
                e.0 += sign * n;
                e.1 += sign;
                e.1 <= 0
            }
            None => {
                counts[i].insert(value.clone(), (sign * n, sign));
                false
            }
        };
        if remove {
            counts[i].remove(value.as_str());
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
            entry.counts = Arc::new(vec![FastMap::default(); constraints.len()]);
        }
        let counts = Arc::make_mut(&mut entry.counts);
        for (i, node) in snapshot.nodes().iter().enumerate() {
            let slot = &mut entry.nodes[i];
            if slot.as_ref().is_some_and(|(n, _)| Arc::ptr_eq(n, node)) {
                continue;
            }
            if let Some((old, contrib)) = slot.take() {
                apply(counts, constraints, &old, &contrib, -1);
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
    let mut counts = vec![FastMap::default(); constraints.len()];
    for node in snapshot.nodes() {
        let contrib = contribution(constraints, pod, node);
        apply(&mut counts, constraints, node, &contrib, 1);
    }
    counts
}
