//! `nodeSelector` and required node affinity filter; preferred node affinity scores.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm,
};

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Snapshot, Status,
};

pub struct NodeAffinity;

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A term matches when all its expressions and fields do; an empty term matches nothing.
pub(crate) fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name" && requirement_matches(r, node.metadata.name.as_deref())
        })
}

pub const NAME: &str = "NodeAffinity";
pub const ERR_REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// `nodeSelector` and required node affinity both hold (upstream's
/// `GetRequiredNodeAffinity(pod).Match(node)`); also used by PodTopologySpread.
pub fn required_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let labels = node.metadata.labels.as_ref();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    if !selector_ok {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

fn has_required(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.node_selector.as_ref().is_some_and(|s| !s.is_empty())
        || spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .is_some_and(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .is_some()
            })
}

fn preferred(pod: &Pod) -> &[PreferredSchedulingTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or(&[])
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD.union(ActionType::UPDATE_NODE_LABEL),
        )]
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

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        if has_required(&pod.pod) {
            (None, Status::success())
        } else {
            (None, Status::skip())
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if required_matches(&pod.pod, &node.node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _feasible: &[Arc<NodeInfo>],
        _snapshot: &Snapshot,
    ) -> Status {
        if preferred(&pod.pod).is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(preferred(&pod.pod)
            .iter()
            .filter(|p| term_matches(&p.preference, &node.node))
            .map(|p| i64::from(p.weight))
            .sum())
    }
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        super::normalize(scores, false);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: serde_json::Value) -> NodeInfo {
        NodeInfo::new(
            serde_json::from_value(json!({"metadata": {"name": "n1", "labels": labels}}))
                .expect("node"),
        )
    }

    fn pod(spec: serde_json::Value) -> PodInfo {
        let mut s = spec;
        s["containers"] = json!([{"name": "c"}]);
        PodInfo::new(
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": s})).expect("pod"),
        )
    }

    #[test]
    fn selectors_and_required_terms() {
        let n = node(json!({"zone": "a", "gpu": "true", "cores": "16"}));
        let term = |exprs: serde_json::Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}}}});
        let cases = [
            (json!({"nodeSelector": {"zone": "a"}}), true),
            (json!({"nodeSelector": {"zone": "b"}}), false),
            (
                term(json!([{"key": "zone", "operator": "In", "values": ["a", "b"]}])),
                true,
            ),
            (
                term(json!([{"key": "zone", "operator": "NotIn", "values": ["a"]}])),
                false,
            ),
            (
                term(
                    json!([{"key": "gpu", "operator": "Exists"}, {"key": "cores", "operator": "Gt", "values": ["8"]}]),
                ),
                true,
            ),
            (
                term(json!([{"key": "cores", "operator": "Lt", "values": ["8"]}])),
                false,
            ),
            (
                term(json!([{"key": "ssd", "operator": "DoesNotExist"}])),
                true,
            ),
        ];
        for (spec, fits) in cases {
            assert_eq!(
                NodeAffinity
                    .filter(&CycleState::new(), &pod(spec.clone()), &n)
                    .is_success(),
                fits,
                "{spec}"
            );
        }
    }
}
