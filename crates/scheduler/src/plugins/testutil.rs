//! Builders shared by the plugins' table tests.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::framework::{CycleState, Framework, Handle, NodeInfo, Plugin, PodInfo, Snapshot};

/// A node with 8 cpus, 32Gi and 110 pods, its name as hostname label, plus `labels`.
pub fn node(name: &str, labels: Value) -> NodeInfo {
    let mut l = json!({"kubernetes.io/hostname": name});
    if let Some(o) = labels.as_object() {
        for (k, v) in o {
            l[k] = v.clone();
        }
    }
    NodeInfo::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": l},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}))
        .expect("node"),
    )
}

/// A pod in namespace `ns` with `labels`, whose spec is `spec` plus one container.
pub fn pod(name: &str, ns: &str, labels: Value, spec: Value) -> PodInfo {
    let mut spec = spec;
    if spec.is_null() {
        spec = json!({});
    }
    spec["containers"] = json!([{"name": "c", "image": "img"}]);
    PodInfo::new(
        serde_json::from_value(json!({"metadata": {"name": name, "uid": name, "namespace": ns, "labels": labels}, "spec": spec}))
            .expect("pod"),
    )
}

/// Nodes with pods placed on them.
pub fn snapshot(nodes: Vec<(NodeInfo, Vec<PodInfo>)>) -> Snapshot {
    Snapshot::new(
        nodes
            .into_iter()
            .map(|(mut n, pods)| {
                for p in pods {
                    let name = n.name().to_string();
                    n.add_pod(Arc::new(p.with_node(&name)));
                }
                n
            })
            .collect(),
    )
}

/// PreFilter then Filter on every node: the nodes that fit, and each other node's reason.
pub fn filter(plugin: Arc<dyn Plugin>, pod: &PodInfo, snap: &Snapshot) -> Vec<String> {
    let fw = Framework::from_plugins(Handle::for_tests(), vec![(plugin, 1)]);
    let mut state = CycleState::new();
    let (_, s) = fw.run_pre_filter(&mut state, pod, snap);
    if !s.is_success() {
        return vec![format!("prefilter: {}", s.message())];
    }
    snap.nodes()
        .iter()
        .map(|n| {
            let s = fw.run_filter(&state, pod, n);
            if s.is_success() {
                format!("{}: ok", n.name())
            } else {
                format!("{}: {}", n.name(), s.message())
            }
        })
        .collect()
}

/// PreScore, Score and NormalizeScore over all nodes of the snapshot, as "node=score".
pub fn scores(plugin: Arc<dyn Plugin>, pod: &PodInfo, snap: &Snapshot) -> Vec<String> {
    let fw = Framework::from_plugins(Handle::for_tests(), vec![(plugin, 1)]);
    let mut state = CycleState::new();
    let s = fw.run_pre_score(&mut state, pod, snap.nodes(), snap);
    assert!(s.is_success(), "prescore: {s:?}");
    let totals = fw.run_score(&state, pod, snap.nodes()).expect("score");
    snap.nodes()
        .iter()
        .zip(totals)
        .map(|(n, t)| format!("{}={t}", n.name()))
        .collect()
}
