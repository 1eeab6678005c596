//! Prefers nodes whose cpu and memory would be used in similar proportions.

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{NodeInfo, Plugin, MAX_SCORE};
use crate::resources::pod_requests;

pub struct BalancedAllocation;

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }
    fn score(&self, pod: &Pod, node: &NodeInfo) -> Option<i64> {
        let want = pod_requests(pod);
        let frac = |cap: i64, used: i64| {
            if cap <= 0 {
                1.0
            } else {
                (used as f64 / cap as f64).min(1.0)
            }
        };
        let c = frac(
            node.allocatable.milli_cpu,
            node.requested.milli_cpu + want.milli_cpu,
        );
        let m = frac(node.allocatable.memory, node.requested.memory + want.memory);
        // With two resources the standard deviation is half their difference.
        let std = (c - m).abs() / 2.0;
        Some(((1.0 - std) * MAX_SCORE as f64) as i64)
    }
}
