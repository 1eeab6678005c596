//! Requests must fit in what the node has left; among nodes that fit, the least allocated
//! wins (upstream's default `LeastAllocated` strategy on cpu and memory).

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{NodeInfo, Plugin, Unfit, MAX_SCORE};
use crate::resources::pod_requests;

pub struct NodeResourcesFit;

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Result<(), Unfit> {
        let want = pod_requests(pod);
        let (have, used) = (&node.allocatable, &node.requested);
        let mut reasons = Vec::new();
        if used.pods + 1 > have.pods {
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
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Unfit(reasons))
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Option<i64> {
        let want = pod_requests(pod);
        let free = |cap: i64, used: i64| -> i64 {
            if cap <= 0 {
                return 0;
            }
            ((cap - used).max(0) * MAX_SCORE) / cap
        };
        // Upstream counts a request of zero as a small default so empty pods still spread.
        let cpu = want.milli_cpu.max(100);
        let mem = want.memory.max(200 * 1024 * 1024);
        let c = free(node.allocatable.milli_cpu, node.requested.milli_cpu + cpu);
        let m = free(node.allocatable.memory, node.requested.memory + mem);
        Some((c + m) / 2)
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

    fn pod(req: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": req}}]}})).expect("pod")
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
                Err(Unfit(vec!["Insufficient cpu".into()])),
            ),
            (
                node("500m", "1Gi", "110", json!({})),
                json!({"cpu": "1", "memory": "2Gi"}),
                Err(Unfit(vec![
                    "Insufficient cpu".into(),
                    "Insufficient memory".into(),
                ])),
            ),
            (
                node("8", "8Gi", "0", json!({})),
                json!({}),
                Err(Unfit(vec!["Too many pods".into()])),
            ),
            (
                node("8", "8Gi", "10", json!({})),
                json!({"nvidia.com/gpu": "1"}),
                Err(Unfit(vec!["Insufficient nvidia.com/gpu".into()])),
            ),
            (
                node("8", "8Gi", "10", json!({"nvidia.com/gpu": "2"})),
                json!({"nvidia.com/gpu": "1"}),
                Ok(()),
            ),
        ];
        for (n, req, want) in cases {
            assert_eq!(
                NodeResourcesFit.filter(&pod(req.clone()), &n),
                want,
                "{req}"
            );
        }
    }
}
