//! Prefers nodes whose cpu and memory would be used in similar proportions.

use crate::framework::{
    CycleState, NodeInfo, Plugin, PodInfo, ScorePlugin, Status, MAX_NODE_SCORE,
};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation;

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<crate::framework::ClusterEvent> {
        Vec::new()
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let frac = |cap: i64, used: i64| {
            if cap <= 0 {
                1.0
            } else {
                (used as f64 / cap as f64).min(1.0)
            }
        };
        let c = frac(
            node.allocatable.milli_cpu,
            node.requested.milli_cpu + pod.requests.milli_cpu,
        );
        let m = frac(
            node.allocatable.memory,
            node.requested.memory + pod.requests.memory,
        );
        // With two resources the standard deviation is half their difference.
        let std = (c - m).abs() / 2.0;
        Ok(((1.0 - std) * MAX_NODE_SCORE as f64) as i64)
    }
}
