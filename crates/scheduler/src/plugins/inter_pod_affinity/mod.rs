//! InterPodAffinity: required pod affinity and anti-affinity filter (the incoming pod's
//! terms, and existing pods' anti-affinity against the incoming pod); preferred terms of
//! both sides score. PreFilter and PreScore count matching pods per topology domain once
//! per cycle, so Filter and Score per node are lookups by the node's labels.

mod cache;
mod scoring;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::framework::{
    ActionType, AffinityTerm, ClusterEvent, CycleState, EventResource, FastMap, FilterPlugin,
    Handle, NodeInfo, Plugin, PodInfo, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    ScorePlugin, Snapshot, Status,
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
pub struct TopologyCounts(FastMap<String, FastMap<String, i64>>);

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

/// The three kinds of counts PreFilter gathers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Existing pods whose required anti-affinity the incoming pod matches, per domain.
    existing_anti: TopologyCounts,
    /// Pods matching all the incoming pod's affinity terms, per domain of each term.
    affinity: TopologyCounts,
    /// Pods matching each of the incoming pod's anti-affinity terms, per domain.
    anti: TopologyCounts,
}

#[derive(Clone, Copy)]
enum Kind {
    ExistingAnti,
    Affinity,
    Anti,
}

impl Counts {
    fn add(&mut self, kind: Kind, key: &str, value: &str, n: i64) {
        match kind {
            Kind::ExistingAnti => self.existing_anti.add(key, value, n),
            Kind::Affinity => self.affinity.add(key, value, n),
            Kind::Anti => self.anti.add(key, value, n),
        }
    }
}

#[derive(Clone)]
struct PreFilterState {
    /// The incoming pod's required terms, namespaceSelectors resolved to namespaces.
    affinity: Vec<AffinityTerm>,
    anti_affinity: Vec<AffinityTerm>,
    /// Shared with the plugin's cache; AddPod/RemovePod copy on write.
    counts: Arc<Counts>,
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
    /// What `existing` on `node` contributes to the counts, passed to `sink`.
    fn account(
        &self,
        pod: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        sink: &mut impl FnMut(Kind, &str, &str),
    ) {
        let labels = node.labels();
        let none = BTreeMap::new();
        for t in &existing.required_anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if t.matches(pod, &self.ns_labels) {
                    sink(Kind::ExistingAnti, &t.topology_key, v);
                }
            }
        }
        if !self.affinity.is_empty() && self.affinity.iter().all(|t| t.matches(existing, &none)) {
            for t in &self.affinity {
                if let Some(v) = labels.get(&t.topology_key) {
                    sink(Kind::Affinity, &t.topology_key, v);
                }
            }
        }
        for t in &self.anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if t.matches(existing, &none) {
                    sink(Kind::Anti, &t.topology_key, v);
                }
            }
        }
    }

    /// Everything the pods of `node` contribute.
    fn node_contribution(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<(Kind, String, String)> {
        let mut out = Vec::new();
        let own = !self.affinity.is_empty() || !self.anti_affinity.is_empty();
        let pods = if own {
            &node.pods
        } else {
            &node.pods_with_required_anti_affinity
        };
        for existing in pods {
            self.account(pod, existing, node, &mut |k, key, v| {
                out.push((k, key.to_string(), v.to_string()))
            });
        }
        out
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, sign: i64) {
        let mut changes = Vec::new();
        self.account(pod, other, node, &mut |k, key, v| {
            changes.push((k, key.to_string(), v.to_string()))
        });
        if changes.is_empty() {
            return;
        }
        let counts = Arc::make_mut(&mut self.counts);
        for (k, key, v) in changes {
            counts.add(k, &key, &v, sign);
        }
    }
}

pub struct InterPodAffinity {
    handle: Arc<Handle>,
    cache: cache::CountCache,
}

impl InterPodAffinity {
    pub fn new(handle: &Arc<Handle>) -> InterPodAffinity {
        InterPodAffinity {
            handle: handle.clone(),
            cache: cache::CountCache::default(),
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
            counts: Arc::default(),
            ns_labels: self.handle.stores.namespace_labels(&pod.namespace),
        };
        let own_terms = !s.affinity.is_empty() || !s.anti_affinity.is_empty();
        if !own_terms
            && snapshot
                .nodes_with_required_anti_affinity()
                .next()
                .is_none()
        {
            return (None, Status::skip());
        }
        // The counts depend on the nodes and on what of the pod the terms look at.
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{:?}",
            pod.namespace,
            pod.labels(),
            s.affinity,
            s.anti_affinity,
            s.ns_labels
        );
        s.counts = self
            .cache
            .counts(key, snapshot, |node| s.node_contribution(pod, node));
        if !own_terms && s.counts.existing_anti.is_empty() {
            return (None, Status::skip());
        }
        state.write_for_scheduling(PRE_FILTER_KEY, s);
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
            s.update(pod, to_add, node, 1);
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
            s.update(pod, to_remove, node, -1);
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
                        if s.counts.affinity.get(&t.topology_key, v) <= 0 {
                            pods_exist = false;
                        }
                    }
                    // Every term's topology key must be on the node.
                    None => return Status::unresolvable(ERR_REASON_AFFINITY),
                }
            }
            // The first of a group of pods with affinity to each other goes anywhere,
            // provided it matches its own terms and no pod matches them yet.
            let first_of_group = s.counts.affinity.is_empty()
                && s.affinity.iter().all(|t| t.matches(pod, &BTreeMap::new()));
            if !pods_exist && !first_of_group {
                return Status::unresolvable(ERR_REASON_AFFINITY);
            }
        }
        for t in &s.anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if s.counts.anti.get(&t.topology_key, v) > 0 {
                    return Status::unschedulable(ERR_REASON_ANTI_AFFINITY);
                }
            }
        }
        if !s.counts.existing_anti.is_empty() && s.counts.existing_anti.any_on(labels) {
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
                state.write_for_scheduling(PRE_SCORE_KEY, s);
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
