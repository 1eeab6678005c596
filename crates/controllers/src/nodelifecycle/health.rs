//! What the node lifecycle controller concludes about one node: whether its kubelet has gone
//! quiet (its conditions then become Unknown) and which condition taints it should carry.

use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The taint keys this controller owns; any other taint on a node is left alone.
pub const MANAGED_KEYS: [&str; 7] = [
    NOT_READY,
    UNREACHABLE,
    UNSCHEDULABLE,
    MEMORY_PRESSURE,
    DISK_PRESSURE,
    PID_PRESSURE,
    NETWORK_UNAVAILABLE,
];

/// The conditions a kubelet posts and that go Unknown when it stops (upstream's list).
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `True`, `False`, `Unknown`, or `Unknown` when the node never reported readiness.
pub fn ready_status(node: &Node) -> &str {
    condition(node, "Ready")
        .map(|c| c.status.as_str())
        .unwrap_or("Unknown")
}

/// The conditions to write when the kubelet has been silent past its grace period, or
/// `None` when they already say so. Heartbeat times are kept: they record the kubelet's
/// last word, not ours.
pub fn silenced_conditions(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut changed = false;
    let mut out: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for type_ in KUBELET_CONDITIONS {
        match out.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                out.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

/// The node's taints once the managed ones match its conditions; `None` if unchanged.
/// A managed taint already present keeps its `timeAdded`, which eviction counts from.
pub fn reconciled_taints(node: &Node, now: Timestamp) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = wanted_taints(node);
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            !MANAGED_KEYS.contains(&t.key.as_str())
                || wanted.iter().any(|(k, e)| *k == t.key && *e == t.effect)
        })
        .cloned()
        .collect();
    for (key, effect) in &wanted {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: (*key).into(),
                effect: (*effect).into(),
                time_added: Some(Time(now)),
                value: None,
            });
        }
    }
    (out != current).then_some(out)
}

fn wanted_taints(node: &Node) -> Vec<(&'static str, &'static str)> {
    let mut wanted = Vec::new();
    // A node that has not reported yet is judged once its startup grace runs out, when
    // its conditions turn Unknown.
    match condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("False") => wanted.extend([(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")]),
        Some("Unknown") => wanted.extend([(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]),
        _ => {}
    }
    for (type_, key) in [
        ("MemoryPressure", MEMORY_PRESSURE),
        ("DiskPressure", DISK_PRESSURE),
        ("PIDPressure", PID_PRESSURE),
        ("NetworkUnavailable", NETWORK_UNAVAILABLE),
    ] {
        if condition(node, type_).is_some_and(|c| c.status == "True") {
            wanted.push((key, "NoSchedule"));
        }
    }
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        wanted.push((UNSCHEDULABLE, "NoSchedule"));
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).expect("node")
    }

    fn keys(taints: &[Taint]) -> Vec<String> {
        taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    }

    #[test]
    fn taints_follow_conditions() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let cases: Vec<(serde_json::Value, Option<Vec<&str>>)> = vec![
            (
                json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                None,
            ),
            (
                json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
                Some(vec![
                    "node.kubernetes.io/unreachable:NoExecute",
                    "node.kubernetes.io/unreachable:NoSchedule",
                ]),
            ),
            (
                json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "True"}]}}),
                Some(vec![
                    "node.kubernetes.io/not-ready:NoExecute",
                    "node.kubernetes.io/not-ready:NoSchedule",
                    "node.kubernetes.io/disk-pressure:NoSchedule",
                ]),
            ),
            // Recovery drops the managed taint and keeps the user's.
            (
                json!({"metadata": {"name": "a"}, "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}, {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                Some(vec!["gpu:NoSchedule"]),
            ),
            // Cordoned.
            (
                json!({"metadata": {"name": "a"}, "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                Some(vec!["node.kubernetes.io/unschedulable:NoSchedule"]),
            ),
            // A node that has not reported yet is left alone.
            (json!({"metadata": {"name": "a"}}), None),
        ];
        for (n, want) in cases {
            let got = reconciled_taints(&node(n.clone()), now).map(|t| keys(&t));
            let want = want.map(|w| w.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{n}");
        }
    }

    #[test]
    fn silence_turns_conditions_unknown_once() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let n = node(
            json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}),
        );
        let conds = silenced_conditions(&n, now).expect("changed");
        let summary: Vec<(String, String, String)> = conds
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Ready", "Unknown", "NodeStatusUnknown"),
                ("MemoryPressure", "Unknown", "NodeStatusNeverUpdated"),
                ("DiskPressure", "Unknown", "NodeStatusNeverUpdated"),
                ("PIDPressure", "Unknown", "NodeStatusNeverUpdated"),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
        let mut again = n.clone();
        again.status.as_mut().expect("status").conditions = Some(conds);
        assert_eq!(silenced_conditions(&again, now), None);
    }
}
