//! Taints repel pods that do not tolerate them: NoSchedule/NoExecute filter, PreferNoSchedule
//! lowers the score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    ScorePlugin, Status,
};

pub struct TaintToleration;

/// Upstream's `ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

pub const NAME: &str = "TaintToleration";

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.union(ActionType::UPDATE_NODE_TAINT),
            ),
            ClusterEvent::new(
                EventResource::UnscheduledPod,
                ActionType::UPDATE_POD_TOLERATIONS,
            ),
        ]
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let tols = pod.tolerations();
        let untolerated = node
            .taints()
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .find(|t| !tols.iter().any(|tol| tolerates(tol, t)));
        match untolerated {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl ScorePlugin for TaintToleration {
    /// How many PreferNoSchedule taints the pod does not tolerate (fewer is better).
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let tols = pod.tolerations();
        let n = node
            .taints()
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tols.iter().any(|tol| tolerates(tol, t)))
            .count();
        Ok(n as i64)
    }
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [i64]) -> Status {
        super::normalize(scores, true);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn toleration_matching() {
        let taint: Taint =
            serde_json::from_value(json!({"key": "gpu", "value": "true", "effect": "NoSchedule"}))
                .expect("taint");
        let cases = [
            (
                json!({"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}),
                true,
            ),
            (json!({"key": "gpu", "value": "true"}), true),
            (json!({"key": "gpu", "value": "false"}), false),
            (json!({"key": "gpu", "operator": "Exists"}), true),
            (json!({"operator": "Exists"}), true),
            (
                json!({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}),
                false,
            ),
            (json!({"key": "other", "operator": "Exists"}), false),
        ];
        for (tol, want) in cases {
            let t: Toleration = serde_json::from_value(tol.clone()).expect("toleration");
            assert_eq!(tolerates(&t, &taint), want, "{tol}");
        }
    }
}
