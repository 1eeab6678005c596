//! InterPodAffinity: required pod affinity and anti-affinity filter (the incoming pod's
//! terms, and existing pods' anti-affinity against the incoming pod); preferred terms of
//! both sides score. PreFilter and PreScore count matching pods per topology domain once
//! per cycle, so Filter and Score per node are lookups by the node's labels.

mod scoring;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::framework::{
    ActionType, AffinityTerm, ClusterEvent, CycleState, EventResource, FilterPlugin, Handle,
    NodeInfo, Plugin, PodInfo, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin,
    Snapshot, Status,
};

pub const NAME: &str = "InterPodAffinity";
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

const PRE_FILTER_KEY: &str = "PreFilterInterPodAffinity";
const PRE_SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// topology key → topology value → count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologyCounts(HashMap<String, HashMap<String, i64>>);

impl TopologyCounts {
    fn add(&mut self, key: &str, value: &str, n: i64) {
        let m = self.0.entry(key.to_string()).or_default();
        let e = m.entry(value.to_string()).or_default();
        *e += n;
        if *e == 0 {
            m.remove(value);
            if m.is_empty() {
                self.0.remove(key);
            }
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any of the node's (key, value) labels has a positive count.
    fn any_on(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().any(|(k, m)| {
            labels
                .get(k)
                .is_some_and(|v| m.get(v).is_some_and(|n| *n > 0))
        })
    }
}

#[derive(Clone)]
struct PreFilterState {
    /// The incoming pod's required terms, namespaceSelectors resolved to namespaces.
    affinity: Vec<AffinityTerm>,
    anti_affinity: Vec<AffinityTerm>,
    /// Existing pods whose required anti-affinity the incoming pod matches, per domain.
    existing_anti: TopologyCounts,
    /// Pods matching all the incoming pod's affinity terms, per domain of each term.
    affinity_counts: TopologyCounts,
    /// Pods matching each of the incoming pod's anti-affinity terms, per domain.
    anti_counts: TopologyCounts,
    ns_labels: BTreeMap<String, String>,
}

/// A term with its namespaceSelector turned into namespace names (upstream's
/// mergeAffinityTermNamespacesIfNotEmpty), so matching needs no namespace lookups.
fn resolve_namespaces(handle: &Handle, terms: &[AffinityTerm]) -> Vec<AffinityTerm> {
    terms
        .iter()
        .map(|t| {
            let mut t = t.clone();
            // An empty selector (all namespaces) stays: it matches without any lookup.
            let everything = t
                .namespace_selector
                .as_ref()
                .is_some_and(|s| *s == crate::framework::selector::Selector::everything());
            if everything {
                return t;
            }
            if let Some(sel) = t.namespace_selector.take() {
                for ns in handle.stores.namespaces.state() {
                    let labels = ns.metadata.labels.clone().unwrap_or_default();
                    if sel.matches(&labels) {
                        if let Some(name) = &ns.metadata.name {
                            t.namespaces.insert(name.clone());
                        }
                    }
                }
            }
            t
        })
        .collect()
}

impl PreFilterState {
    /// Counts what `existing` on `node` contributes, with `sign` (+1 add, -1 remove).
    fn account(&mut self, pod: &PodInfo, existing: &PodInfo, node: &NodeInfo, sign: i64) {
        let labels = node.labels();
        for t in &existing.required_anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if t.matches(pod, &self.ns_labels) {
                    self.existing_anti.add(&t.topology_key, v, sign);
                }
            }
        }
        if !self.affinity.is_empty()
            && self
                .affinity
                .iter()
                .all(|t| t.matches(existing, &BTreeMap::new()))
        {
            for t in &self.affinity {
                if let Some(v) = labels.get(&t.topology_key) {
                    self.affinity_counts.add(&t.topology_key, v, sign);
                }
            }
        }
        for t in &self.anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if t.matches(existing, &BTreeMap::new()) {
                    self.anti_counts.add(&t.topology_key, v, sign);
                }
            }
        }
    }
}

pub struct InterPodAffinity {
    handle: Arc<Handle>,
}

impl InterPodAffinity {
    pub fn new(handle: &Arc<Handle>) -> InterPodAffinity {
        InterPodAffinity {
            handle: handle.clone(),
        }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::AssignedPod,
                ActionType::ADD
                    .union(ActionType::DELETE)
                    .union(ActionType::UPDATE_POD_LABEL),
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.union(ActionType::UPDATE_NODE_LABEL),
            ),
            ClusterEvent::new(EventResource::Namespace, ActionType::ALL),
        ]
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let mut s = PreFilterState {
            affinity: resolve_namespaces(&self.handle, &pod.required_affinity),
            anti_affinity: resolve_namespaces(&self.handle, &pod.required_anti_affinity),
            existing_anti: TopologyCounts::default(),
            affinity_counts: TopologyCounts::default(),
            anti_counts: TopologyCounts::default(),
            ns_labels: self.handle.stores.namespace_labels(&pod.namespace),
        };
        let own_terms = !s.affinity.is_empty() || !s.anti_affinity.is_empty();
        if own_terms {
            for node in snapshot.nodes().iter().filter(|n| !n.pods.is_empty()) {
                for existing in &node.pods {
                    s.account(pod, existing, node, 1);
                }
            }
        } else {
            for node in snapshot.nodes_with_required_anti_affinity() {
                for existing in &node.pods_with_required_anti_affinity {
                    s.account(pod, existing, node, 1);
                }
            }
            if s.existing_anti.is_empty() {
                return (None, Status::skip());
            }
        }
        state.write(PRE_FILTER_KEY, s);
        (None, Status::success())
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_add: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.account(pod, to_add, node, 1);
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.account(pod, to_remove, node, -1);
        }
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::error("InterPodAffinity: no PreFilter state");
        };
        let labels = node.labels();
        if !s.affinity.is_empty() {
            let mut pods_exist = true;
            for t in &s.affinity {
                match labels.get(&t.topology_key) {
                    Some(v) => {
                        if s.affinity_counts.get(&t.topology_key, v) <= 0 {
                            pods_exist = false;
                        }
                    }
                    // Every term's topology key must be on the node.
                    None => return Status::unresolvable(ERR_REASON_AFFINITY),
                }
            }
            // The first of a group of pods with affinity to each other goes anywhere,
            // provided it matches its own terms and no pod matches them yet.
            let first_of_group = s.affinity_counts.is_empty()
                && s.affinity.iter().all(|t| t.matches(pod, &BTreeMap::new()));
            if !pods_exist && !first_of_group {
                return Status::unresolvable(ERR_REASON_AFFINITY);
            }
        }
        for t in &s.anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if s.anti_counts.get(&t.topology_key, v) > 0 {
                    return Status::unschedulable(ERR_REASON_ANTI_AFFINITY);
                }
            }
        }
        if !s.existing_anti.is_empty() && s.existing_anti.any_on(labels) {
            return Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _feasible: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        match scoring::pre_score(&self.handle, pod, snapshot) {
            Some(s) => {
                state.write(PRE_SCORE_KEY, s);
                Status::success()
            }
            None => Status::skip(),
        }
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(state
            .read::<TopologyCounts>(PRE_SCORE_KEY)
            .map(|s| scoring::score(s, node))
            .unwrap_or(0))
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        scoring::normalize(scores);
        Status::success()
    }
}
