//! Preferred affinity: each existing pod adds (or, for anti-affinity, subtracts) weight to
//! every node sharing its node's value of the term's topology key, through four kinds of
//! terms: the incoming pod's preferred affinity / anti-affinity matching the existing pod,
//! and the existing pod's required affinity (weight 1, upstream's hardPodAffinityWeight)
//! and preferred affinity / anti-affinity matching the incoming pod.

use std::collections::BTreeMap;

use super::{resolve_namespaces, TopologyCounts};
use crate::framework::{Handle, NodeInfo, PodInfo, Snapshot, WeightedAffinityTerm, MAX_NODE_SCORE};

const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

fn weighted(handle: &Handle, terms: &[WeightedAffinityTerm]) -> Vec<WeightedAffinityTerm> {
    let plain: Vec<_> = terms.iter().map(|t| t.term.clone()).collect();
    resolve_namespaces(handle, &plain)
        .into_iter()
        .zip(terms)
        .map(|(term, w)| WeightedAffinityTerm {
            weight: w.weight,
            term,
        })
        .collect()
}

/// `None` when nothing can score (upstream's Skip).
pub fn pre_score(handle: &Handle, pod: &PodInfo, snapshot: &Snapshot) -> Option<TopologyCounts> {
    let preferred = weighted(handle, &pod.preferred_affinity);
    let preferred_anti = weighted(handle, &pod.preferred_anti_affinity);
    let own = !preferred.is_empty() || !preferred_anti.is_empty();
    let mut existing_with_affinity = snapshot.nodes_with_affinity().peekable();
    if !own && existing_with_affinity.peek().is_none() {
        return None;
    }
    let ns_labels = handle.stores.namespace_labels(&pod.namespace);
    let none = BTreeMap::new();
    let mut counts = TopologyCounts::default();
    let mut process = |node: &NodeInfo, existing: &PodInfo| {
        let labels = node.labels();
        let mut add = |key: &str, n: i64| {
            if let Some(v) = labels.get(key) {
                counts.add(key, v, n);
            }
        };
        for w in &preferred {
            if w.term.matches(existing, &none) {
                add(&w.term.topology_key, w.weight);
            }
        }
        for w in &preferred_anti {
            if w.term.matches(existing, &none) {
                add(&w.term.topology_key, -w.weight);
            }
        }
        for t in &existing.required_affinity {
            if t.matches(pod, &ns_labels) {
                add(&t.topology_key, HARD_POD_AFFINITY_WEIGHT);
            }
        }
        for w in &existing.preferred_affinity {
            if w.term.matches(pod, &ns_labels) {
                add(&w.term.topology_key, w.weight);
            }
        }
        for w in &existing.preferred_anti_affinity {
            if w.term.matches(pod, &ns_labels) {
                add(&w.term.topology_key, -w.weight);
            }
        }
    };
    if own {
        for node in snapshot.nodes() {
            for existing in &node.pods {
                process(node, existing);
            }
        }
    } else {
        for node in existing_with_affinity {
            for existing in &node.pods_with_affinity {
                process(node, existing);
            }
        }
    }
    Some(counts)
}

pub fn score(counts: &TopologyCounts, node: &NodeInfo) -> i64 {
    let labels = node.labels();
    counts
        .0
        .iter()
        .filter_map(|(k, m)| labels.get(k).and_then(|v| m.get(v)))
        .sum()
}

/// Min-max scaling into 0..=MAX_NODE_SCORE; all equal → 0.
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().copied().min(), scores.iter().copied().max())
    else {
        return;
    };
    for s in scores.iter_mut() {
        *s = if max > min {
            MAX_NODE_SCORE * (*s - min) / (max - min)
        } else {
            0
        };
    }
}
