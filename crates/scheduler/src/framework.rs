//! The scheduling framework: plugins implement the extension points they need; the
//! framework runs Filter over every node, Score over the feasible ones, and explains a
//! failure as upstream does ("0/3 nodes are available: 1 Insufficient cpu, ...").

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::resources::Resources;

/// A node as the scheduler sees it in one cycle: the object and what is placed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Node,
    pub allocatable: Resources,
    pub requested: Resources,
    /// Host ports in use, as (protocol, port).
    pub used_ports: Vec<(String, i32)>,
}

impl NodeInfo {
    pub fn new(node: Node) -> NodeInfo {
        let allocatable =
            Resources::from_map(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        NodeInfo {
            node,
            allocatable,
            requested: Resources::default(),
            used_ports: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }

    pub fn add_pod(&mut self, pod: &Pod) {
        self.requested.add(&crate::resources::pod_requests(pod));
        for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                    self.used_ports
                        .push((p.protocol.clone().unwrap_or_else(|| "TCP".into()), hp));
                }
            }
        }
    }
}

/// Why a node cannot take a pod, in upstream's words (one node may have several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit(pub Vec<String>);

impl Unfit {
    pub fn one(reason: impl Into<String>) -> Unfit {
        Unfit(vec![reason.into()])
    }
}

/// Scores are 0..=100 after normalization, as upstream's MaxNodeScore.
pub const MAX_SCORE: i64 = 100;

pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// `Err` if the node cannot run the pod.
    fn filter(&self, _pod: &Pod, _node: &NodeInfo) -> Result<(), Unfit> {
        Ok(())
    }

    /// A raw score for a feasible node; `None` if the plugin does not score.
    fn score(&self, _pod: &Pod, _node: &NodeInfo) -> Option<i64> {
        None
    }

    /// Rescales raw scores of all feasible nodes into 0..=MAX_SCORE (default: as they are).
    fn normalize(&self, _scores: &mut [i64]) {}

    /// The plugin's weight in the total score.
    fn weight(&self) -> i64 {
        1
    }
}

pub struct Framework {
    pub plugins: Vec<Box<dyn Plugin>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Node(String),
    /// No node fits; the message as upstream prints it.
    Unschedulable(String),
}

impl Framework {
    /// Filters (first failing plugin per node), then scores, then the best node. Nodes are
    /// visited from `start` round the list, so ties spread as callers rotate `start`.
    pub fn schedule(&self, pod: &Pod, nodes: &[NodeInfo], start: usize) -> Decision {
        let mut feasible = Vec::new();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let len = nodes.len().max(1);
        for n in (0..nodes.len()).map(|i| &nodes[(start + i) % len]) {
            match self.plugins.iter().try_for_each(|p| p.filter(pod, n)) {
                Ok(()) => feasible.push(n),
                Err(Unfit(rs)) => {
                    for r in rs {
                        *reasons.entry(r).or_default() += 1;
                    }
                }
            }
        }
        if feasible.is_empty() {
            return Decision::Unschedulable(unschedulable_message(nodes.len(), &reasons));
        }
        if feasible.len() == 1 {
            return Decision::Node(feasible[0].name().to_string());
        }
        let mut totals = vec![0i64; feasible.len()];
        for p in &self.plugins {
            let raw: Option<Vec<i64>> = feasible.iter().map(|n| p.score(pod, n)).collect();
            let Some(mut scores) = raw else { continue };
            p.normalize(&mut scores);
            for (t, s) in totals.iter_mut().zip(scores) {
                *t += s * p.weight();
            }
        }
        let best = totals
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| (**s, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        Decision::Node(feasible[best].name().to_string())
    }
}

/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {a: b}.`
pub fn unschedulable_message(total: usize, reasons: &BTreeMap<String, usize>) -> String {
    if reasons.is_empty() {
        return format!("0/{total} nodes are available.");
    }
    let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    format!("0/{total} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str, taint: Option<&str>) -> NodeInfo {
        let mut n = json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "10"}}});
        if let Some(t) = taint {
            n["spec"] = json!({"taints": [{"key": t, "value": "x", "effect": "NoSchedule"}]});
        }
        NodeInfo::new(serde_json::from_value(n).expect("node"))
    }

    fn pod(cpu: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
            .expect("pod")
    }

    #[test]
    fn decisions() {
        let fw = Framework {
            plugins: crate::plugins::default_plugins(),
        };
        let cases = [
            (vec![node("a", "1", None), node("b", "4", None)], "2", Decision::Node("b".into())),
            // Least allocated wins among nodes that fit.
            (vec![node("a", "2", None), node("b", "8", None)], "1", Decision::Node("b".into())),
            (
                vec![node("a", "1", None), node("b", "1", None), node("c", "8", Some("gpu"))],
                "2",
                Decision::Unschedulable("0/3 nodes are available: 1 node(s) had untolerated taint {gpu: x}, 2 Insufficient cpu.".into()),
            ),
            (vec![], "1", Decision::Unschedulable("0/0 nodes are available.".into())),
        ];
        for (nodes, cpu, want) in cases {
            assert_eq!(fw.schedule(&pod(cpu), &nodes, 0), want, "cpu {cpu}");
        }
    }
}
