//! Requests must fit in what the node has left; among nodes that fit, the least allocated
//! wins (upstream's default `LeastAllocated` strategy on cpu and memory).

use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin,
    PodInfo, ScorePlugin, Status, MAX_NODE_SCORE,
};

pub const NAME: &str = "NodeResourcesFit";

pub struct NodeResourcesFit;

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::AssignedPod,
                ActionType::DELETE.union(ActionType::UPDATE_POD_SCALE_DOWN),
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD.union(ActionType::UPDATE_NODE_ALLOCATABLE),
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

/// Upstream's `fitsRequest`: every resource the node lacks, in its order.
pub fn insufficient_resources(pod: &PodInfo, node: &NodeInfo) -> Vec<String> {
    let want = &pod.requests;
    let (have, used) = (&node.allocatable, &node.requested);
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > have.pods {
        reasons.push("Too many pods".to_string());
    }
    if want.milli_cpu > 0 && used.milli_cpu + want.milli_cpu > have.milli_cpu {
        reasons.push("Insufficient cpu".into());
    }
    if want.memory > 0 && used.memory + want.memory > have.memory {
        reasons.push("Insufficient memory".into());
    }
    if want.ephemeral_storage > 0
        && used.ephemeral_storage + want.ephemeral_storage > have.ephemeral_storage
    {
        reasons.push("Insufficient ephemeral-storage".into());
    }
    for (name, amount) in &want.scalar {
        let free = have.scalar.get(name).copied().unwrap_or(0)
            - used.scalar.get(name).copied().unwrap_or(0);
        if *amount > 0 && *amount > free {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let reasons = insufficient_resources(pod, node);
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(Code::Unschedulable, reasons)
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    /// LeastAllocated over cpu and memory (weight 1 each), counting pods that request
    /// nothing at upstream's defaults so that they still spread.
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let free = |cap: i64, used: i64| -> i64 {
            if cap <= 0 || used > cap {
                return 0;
            }
            (cap - used) * MAX_NODE_SCORE / cap
        };
        let c = free(
            node.allocatable.milli_cpu,
            node.non_zero_milli_cpu + pod.non_zero_milli_cpu,
        );
        let m = free(
            node.allocatable.memory,
            node.non_zero_memory + pod.non_zero_memory,
        );
        Ok((c + m) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(cpu: &str, mem: &str, pods: &str, extra: serde_json::Value) -> NodeInfo {
        let mut alloc = json!({"cpu": cpu, "memory": mem, "pods": pods});
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                alloc[k] = v.clone();
            }
        }
        NodeInfo::new(
            serde_json::from_value(
                json!({"metadata": {"name": "n"}, "status": {"allocatable": alloc}}),
            )
            .expect("node"),
        )
    }

    fn pod(req: serde_json::Value) -> PodInfo {
        PodInfo::new(serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": req}}]}})).expect("pod"))
    }

    #[test]
    fn fit() {
        let cases = [
            (
                node("2", "4Gi", "110", json!({})),
                json!({"cpu": "1", "memory": "1Gi"}),
                Ok(()),
            ),
            (
                node("500m", "4Gi", "110", json!({})),
                json!({"cpu": "1"}),
                Err(vec!["Insufficient cpu".into()]),
            ),
            (
                node("500m", "1Gi", "110", json!({})),
                json!({"cpu": "1", "memory": "2Gi"}),
                Err(vec![
                    "Insufficient cpu".into(),
                    "Insufficient memory".into(),
                ]),
            ),
            (
                node("8", "8Gi", "0", json!({})),
                json!({}),
                Err(vec!["Too many pods".into()]),
            ),
            (
                node("8", "8Gi", "10", json!({})),
                json!({"nvidia.com/gpu": "1"}),
                Err(vec!["Insufficient nvidia.com/gpu".into()]),
            ),
            (
                node("8", "8Gi", "10", json!({"nvidia.com/gpu": "2"})),
                json!({"nvidia.com/gpu": "1"}),
                Ok(()),
            ),
        ];
        for (n, req, want) in cases {
            let got = NodeResourcesFit.filter(&CycleState::new(), &pod(req.clone()), &n);
            let got = if got.is_success() {
                Ok(())
            } else {
                Err(got.reasons().to_vec())
            };
            assert_eq!(got, want, "{req}");
        }
    }
}
