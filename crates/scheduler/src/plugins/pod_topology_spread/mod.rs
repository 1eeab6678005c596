//! PodTopologySpread: pods spread over topology domains (zones, hosts) within `maxSkew`.
//! DoNotSchedule constraints filter, ScheduleAnyway constraints score. PreFilter/PreScore
//! count matching pods per domain once per cycle (incrementally across cycles, see
//! `counts.rs`), so Filter and Score per node are map lookups.

mod counts;
mod scoring;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use kube::runtime::reflector::ObjectRef;

use crate::framework::selector::{Op, Requirement, Selector};
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, Handle, NodeInfo, Plugin,
    PodInfo, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Snapshot, Status,
};
use counts::{node_eligible, CountCache, Domain, DomainCounts};

pub const NAME: &str = "PodTopologySpread";
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

const PRE_FILTER_KEY: &str = "PreFilterPodTopologySpread";
const PRE_SCORE_KEY: &str = "PreScorePodTopologySpread";

/// One constraint, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub max_skew: i64,
    pub min_domains: i64,
    pub topology_key: String,
    pub selector: Selector,
    pub honor_node_affinity: bool,
    pub honor_taints: bool,
}

impl Constraint {
    fn parse(c: &TopologySpreadConstraint, pod_labels: &BTreeMap<String, String>) -> Constraint {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
        // matchLabelKeys: the incoming pod's values narrow the selector.
        for k in c.match_label_keys.iter().flatten() {
            if let Some(v) = pod_labels.get(k) {
                selector.add(Requirement {
                    key: k.clone(),
                    op: Op::In,
                    values: vec![v.clone()],
                });
            }
        }
        Constraint {
            max_skew: i64::from(c.max_skew),
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            topology_key: c.topology_key.clone(),
            selector,
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    /// Upstream's system defaults for pods without constraints: a soft spread over hosts
    /// (maxSkew 3) and zones (maxSkew 5) among the pods of the same Services/ReplicaSets/
    /// StatefulSets.
    fn system_defaults(selector: Selector) -> Vec<Constraint> {
        [(LABEL_HOSTNAME, 3), (LABEL_ZONE, 5)]
            .into_iter()
            .map(|(key, skew)| Constraint {
                max_skew: skew,
                min_domains: 1,
                topology_key: key.to_string(),
                selector: selector.clone(),
                honor_node_affinity: true,
                honor_taints: false,
            })
            .collect()
    }
}

/// The pod's constraints with `whenUnsatisfiable` = `action`.
pub fn pod_constraints(pod: &PodInfo, action: &str) -> Vec<Constraint> {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| Constraint::parse(c, pod.labels()))
        .collect()
}

fn has_own_constraints(pod: &PodInfo) -> bool {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .is_some_and(|c| !c.is_empty())
}

/// What the counts depend on besides the nodes.
fn cache_key(kind: &str, pod: &PodInfo, constraints: &[Constraint]) -> String {
    let spec = pod.pod.spec.as_ref();
    let affinity = constraints.iter().any(|c| c.honor_node_affinity).then(|| {
        (
            spec.and_then(|s| s.node_selector.as_ref()),
            spec.and_then(|s| s.affinity.as_ref())
                .and_then(|a| a.node_affinity.as_ref()),
        )
    });
    let taints = constraints
        .iter()
        .any(|c| c.honor_taints)
        .then(|| pod.tolerations());
    format!(
        "{kind}|{}|{constraints:?}|{affinity:?}|{taints:?}",
        pod.namespace
    )
}

#[derive(Clone)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    counts: Arc<DomainCounts>,
    /// Changes made by AddPod/RemovePod (nominated pods, preemption), per constraint.
    delta: Vec<BTreeMap<String, i64>>,
    /// Per constraint: the smallest count over domains, adjusted by `delta`.
    min: Vec<i64>,
    self_match: Vec<bool>,
}

impl PreFilterState {
    /// Matching pods in `domain`, with AddPod/RemovePod's changes.
    fn count(&self, i: usize, domain: Domain<'_>) -> i64 {
        let base = self.counts.pods_in(i, domain);
        if self.delta[i].is_empty() {
            return base;
        }
        let name = match domain {
            Domain::Id(id) => self.counts.name(i, id),
            Domain::Other(v) => v,
            Domain::Missing => return base,
        };
        base + self.delta[i].get(name).copied().unwrap_or(0)
    }

    fn recompute_min(&mut self, i: usize) {
        let delta = &self.delta[i];
        self.min[i] = self
            .counts
            .live(i)
            .map(|(d, n)| n + delta.get(d).copied().unwrap_or(0))
            .min()
            .unwrap_or(0);
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, sign: i64) {
        if other.namespace != pod.namespace {
            return;
        }
        let all_keys = self
            .constraints
            .iter()
            .all(|c| node.labels().contains_key(&c.topology_key));
        if !all_keys {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !node_eligible(c, pod, node) || !c.selector.matches(other.labels()) {
                continue;
            }
            let Some(domain) = node.labels().get(&c.topology_key) else {
                continue;
            };
            *self.delta[i].entry(domain.clone()).or_default() += sign;
            self.recompute_min(i);
        }
    }
}

pub struct PodTopologySpread {
    handle: Arc<Handle>,
    counts: CountCache,
}

impl PodTopologySpread {
    pub fn new(handle: &Arc<Handle>) -> PodTopologySpread {
        PodTopologySpread {
            handle: handle.clone(),
            counts: CountCache::default(),
        }
    }

    /// The selector of the system default constraints: the AND of the selectors of the
    /// Services selecting the pod and the ReplicaSets/StatefulSets it belongs to
    /// (upstream's DefaultSelector). Nothing if there are none.
    fn default_selector(&self, pod: &PodInfo) -> Option<Selector> {
        let mut reqs = Vec::new();
        let labels = pod.labels();
        let stores = &self.handle.stores;
        for svc in stores.services.state() {
            if svc.metadata.namespace.as_deref() != Some(pod.namespace.as_str()) {
                continue;
            }
            let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                continue;
            };
            if sel.is_empty() || !sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                continue;
            }
            for (k, v) in sel {
                reqs.push(Requirement {
                    key: k.clone(),
                    op: Op::In,
                    values: vec![v.clone()],
                });
            }
        }
        let owners: Vec<(String, String)> = pod
            .pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| (o.kind.clone(), o.name.clone()))
            .collect();
        let mut add_selector =
            |sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>| {
                if let Selector::Match(r) = Selector::from_label_selector(sel) {
                    reqs.extend(r);
                }
            };
        for (kind, name) in &owners {
            let sel = match kind.as_str() {
                "ReplicaSet" => stores
                    .replica_sets
                    .get(&ObjectRef::new(name).within(&pod.namespace))
                    .map(|rs| rs.spec.selector.clone()),
                "StatefulSet" => stores
                    .stateful_sets
                    .get(&ObjectRef::new(name).within(&pod.namespace))
                    .map(|ss| ss.spec.selector.clone()),
                _ => None,
            };
            if let Some(sel) = sel {
                add_selector(Some(&sel));
            }
        }
        (!reqs.is_empty()).then_some(Selector::Match(reqs))
    }
}

impl Plugin for PodTopologySpread {
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
                ActionType::ADD
                    .union(ActionType::DELETE)
                    .union(ActionType::UPDATE_NODE_LABEL)
                    .union(ActionType::UPDATE_NODE_TAINT),
            ),
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

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        // System defaults are all ScheduleAnyway, so only the pod's own constraints filter.
        let constraints = pod_constraints(pod, "DoNotSchedule");
        if constraints.is_empty() {
            return (None, Status::skip());
        }
        let key = cache_key("filter", pod, &constraints);
        let counts = self.counts.counts(key, &constraints, pod, snapshot);
        let self_match = constraints
            .iter()
            .map(|c| c.selector.matches(pod.labels()))
            .collect();
        let mut s = PreFilterState {
            delta: vec![BTreeMap::new(); constraints.len()],
            min: vec![0; constraints.len()],
            constraints,
            counts,
            self_match,
        };
        for i in 0..s.constraints.len() {
            s.recompute_min(i);
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

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::error("PodTopologySpread: no PreFilter state");
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let domain = s.counts.domain(i, &c.topology_key, node);
            if let Domain::Missing = domain {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            }
            // Fewer domains than minDomains: the global minimum counts as zero.
            let min = if (s.counts.domains(i) as i64) < c.min_domains {
                0
            } else {
                s.min[i]
            };
            let skew = s.count(i, domain) + i64::from(s.self_match[i]) - min;
            if skew > c.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

pub(crate) use scoring::PreScoreState;

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        feasible: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        let (constraints, defaulted) = if has_own_constraints(pod) {
            (pod_constraints(pod, "ScheduleAnyway"), false)
        } else {
            match self.default_selector(pod) {
                Some(sel) => (Constraint::system_defaults(sel), true),
                None => (Vec::new(), true),
            }
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let key = cache_key("score", pod, &constraints);
        let counts = self.counts.counts(key, &constraints, pod, snapshot);
        state.write_for_scheduling(
            PRE_SCORE_KEY,
            scoring::pre_score(constraints, counts, !defaulted, pod, feasible),
        );
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return Ok(0);
        };
        Ok(scoring::score(s, pod, node))
    }

    fn normalize(&self, state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        if let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) {
            scoring::normalize(s, scores);
        }
        Status::success()
    }
}
