//! ScheduleAnyway constraints (and the system defaults): fewer matching pods in a node's
//! domains scores higher. Counts weigh by log(domains + 2), so spreading over many small
//! domains (hosts) weighs against few big ones (zones) as upstream balances them.

use std::collections::HashSet;
use std::sync::Arc;

use super::counts::{count_matching, Domain, DomainCounts};
use super::{Constraint, LABEL_HOSTNAME};
use crate::framework::{NodeInfo, PodInfo, MAX_NODE_SCORE};

/// Score for nodes without every topology key when the pod's own constraints apply.
const IGNORED: i64 = -1;

#[derive(Clone)]
pub struct PreScoreState {
    constraints: Vec<Constraint>,
    counts: Arc<DomainCounts>,
    weights: Vec<f64>,
    require_all_keys: bool,
}

fn has_all_keys(constraints: &[Constraint], node: &NodeInfo) -> bool {
    constraints
        .iter()
        .all(|c| node.labels().contains_key(&c.topology_key))
}

pub fn pre_score(
    constraints: Vec<Constraint>,
    counts: Arc<DomainCounts>,
    require_all_keys: bool,
    _pod: &PodInfo,
    feasible: &[Arc<NodeInfo>],
) -> PreScoreState {
    let considered: Vec<&Arc<NodeInfo>> = feasible
        .iter()
        .filter(|n| !require_all_keys || has_all_keys(&constraints, n))
        .collect();
    let weights = constraints
        .iter()
        .map(|c| {
            let size = if c.topology_key == LABEL_HOSTNAME {
                considered.len()
            } else {
                considered
                    .iter()
                    .filter_map(|n| n.labels().get(&c.topology_key))
                    .collect::<HashSet<_>>()
                    .len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    PreScoreState {
        constraints,
        counts,
        weights,
        require_all_keys,
    }
}

pub fn score(s: &PreScoreState, pod: &PodInfo, node: &NodeInfo) -> i64 {
    if s.require_all_keys && !has_all_keys(&s.constraints, node) {
        return IGNORED;
    }
    let mut score = 0.0;
    for (i, c) in s.constraints.iter().enumerate() {
        let domain = s.counts.domain(i, &c.topology_key, node);
        if let Domain::Missing = domain {
            continue;
        }
        let count = if c.topology_key == LABEL_HOSTNAME {
            count_matching(c, &pod.namespace, node)
        } else {
            s.counts.pods_in(i, domain)
        };
        score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
    }
    score.round() as i64
}

/// Fewest matching pods → MAX_NODE_SCORE; ignored nodes → 0.
pub fn normalize(_s: &PreScoreState, scores: &mut [i64]) {
    let valid = || scores.iter().copied().filter(|s| *s != IGNORED);
    let (Some(min), Some(max)) = (valid().min(), valid().max()) else {
        scores.iter_mut().for_each(|s| *s = 0);
        return;
    };
    for s in scores.iter_mut() {
        *s = if *s == IGNORED {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *s) / max
        };
    }
}
