//! The scheduler cache: every node's NodeInfo, kept current incrementally from watch
//! events and from the scheduler's own assumptions (pods reserved on a node before their
//! binding is confirmed by the watch). Each cycle's Snapshot copies only the nodes that
//! changed since the previous one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;

use crate::framework::{ActionType, NodeInfo, PodInfo, Snapshot};

/// How long an assumed pod whose binding finished may wait for the watch to confirm it.
pub const ASSUMED_POD_TTL: Duration = Duration::from_secs(30);

struct NodeEntry {
    info: Arc<NodeInfo>,
    /// False while only pods name the node (they may arrive before it) or after it went.
    has_node: bool,
}

struct PodState {
    pod: Arc<PodInfo>,
    node: String,
    assumed: bool,
    /// Set when an assumed pod's binding finished: it expires then if still unconfirmed.
    deadline: Option<Instant>,
}

#[derive(Default)]
pub struct Cache {
    nodes: HashMap<String, NodeEntry>,
    pods: HashMap<String, PodState>,
    /// Nodes whose info changed since the last snapshot.
    dirty: HashSet<String>,
    /// Nodes came or went: the snapshot's node list is rebuilt.
    membership_changed: bool,
}

/// What changed between two versions of a node, as the queue's event actions.
fn node_change(old: &Node, new: &Node) -> ActionType {
    let mut a = ActionType(0);
    let (os, ns) = (old.status.as_ref(), new.status.as_ref());
    if os.and_then(|s| s.allocatable.as_ref()) != ns.and_then(|s| s.allocatable.as_ref()) {
        a = a.union(ActionType::UPDATE_NODE_ALLOCATABLE);
    }
    if old.metadata.labels != new.metadata.labels {
        a = a.union(ActionType::UPDATE_NODE_LABEL);
    }
    let (osp, nsp) = (old.spec.as_ref(), new.spec.as_ref());
    if osp.and_then(|s| s.taints.as_ref()) != nsp.and_then(|s| s.taints.as_ref())
        || osp.and_then(|s| s.unschedulable) != nsp.and_then(|s| s.unschedulable)
    {
        a = a.union(ActionType::UPDATE_NODE_TAINT);
    }
    let conds = |s: Option<&k8s_openapi::api::core::v1::NodeStatus>| -> Vec<(String, String)> {
        s.and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect()
    };
    if conds(os) != conds(ns) {
        a = a.union(ActionType::UPDATE_NODE_CONDITION);
    }
    if os.and_then(|s| s.images.as_ref()) != ns.and_then(|s| s.images.as_ref()) {
        a = a.union(ActionType::UPDATE_NODE_IMAGES);
    }
    a
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    fn entry(&mut self, name: &str) -> &mut NodeEntry {
        self.nodes.entry(name.to_string()).or_insert_with(|| {
            let mut n = Node::default();
            n.metadata.name = Some(name.to_string());
            NodeEntry {
                info: Arc::new(NodeInfo::new(n)),
                has_node: false,
            }
        })
    }

    /// A node was added or changed. Returns what changed for the queue (ADD for a new node,
    /// nothing for heartbeats that change nothing the scheduler looks at).
    pub fn add_or_update_node(&mut self, node: Node) -> Option<ActionType> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let e = self.entry(&name);
        let action = if e.has_node {
            let a = node_change(&e.info.node, &node);
            if a.0 == 0 {
                return None;
            }
            a
        } else {
            ActionType::ADD
        };
        let was = e.has_node;
        e.has_node = true;
        let info = Arc::make_mut(&mut e.info);
        info.set_node(Arc::new(node));
        info.generation += 1;
        if !was {
            self.membership_changed = true;
        }
        self.dirty.insert(name);
        Some(action)
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(e) = self.nodes.get_mut(name) else {
            return;
        };
        if e.info.pods.is_empty() {
            self.nodes.remove(name);
        } else {
            // Its pods stay accounted until their deletions arrive.
            e.has_node = false;
        }
        self.membership_changed = true;
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, e)| e.has_node)
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: &str) {
        Arc::make_mut(&mut self.entry(node).info).add_pod(pod);
        self.dirty.insert(node.to_string());
    }

    fn unplace(&mut self, uid: &str, node: &str) {
        if let Some(e) = self.nodes.get_mut(node) {
            Arc::make_mut(&mut e.info).remove_pod(uid);
            if !e.has_node && e.info.pods.is_empty() {
                self.nodes.remove(node);
            }
            self.dirty.insert(node.to_string());
        }
    }

    /// A bound pod from the watch: added, updated, or the confirmation of an assumed pod.
    /// Returns what changed for the queue (None if nothing that matters).
    pub fn add_or_update_pod(&mut self, pod: Arc<PodInfo>) -> Option<ActionType> {
        let node = pod.node_name().to_string();
        let action = match self.pods.get(&pod.uid) {
            None => Some(ActionType::ADD),
            Some(old) => {
                let mut a = ActionType(0);
                if old.pod.labels() != pod.labels() {
                    a = a.union(ActionType::UPDATE_POD_LABEL);
                }
                let (o, n) = (&old.pod.requests, &pod.requests);
                if n.milli_cpu < o.milli_cpu || n.memory < o.memory {
                    a = a.union(ActionType::UPDATE_POD_SCALE_DOWN);
                }
                if old.node != node {
                    a = a.union(ActionType::ADD);
                }
                // A confirmed assumption changes nothing others did not already see.
                (a.0 != 0).then_some(a)
            }
        };
        let unchanged = self.pods.get(&pod.uid).is_some_and(|old| {
            old.node == node && old.pod.labels() == pod.labels() && old.pod.requests == pod.requests
        });
        if unchanged {
            if let Some(s) = self.pods.get_mut(&pod.uid) {
                s.assumed = false;
                s.deadline = None;
                // Hold the watch's version, not the one this replaces: the informer has
                // dropped that one, and keeping it here would keep a second copy of every
                // pod alive (an assumed pod is its pending version).
                if !Arc::ptr_eq(&s.pod.pod, &pod.pod) {
                    let old = std::mem::replace(&mut s.pod, pod);
                    if let Some(e) = self.nodes.get_mut(&node) {
                        Arc::make_mut(&mut e.info).replace_pod(&old, s.pod.clone());
                        self.dirty.insert(node);
                    }
                }
            }
            return action;
        }
        if let Some(old) = self.pods.remove(&pod.uid) {
            self.unplace(&pod.uid, &old.node);
        }
        self.place(pod.clone(), &node);
        self.pods.insert(
            pod.uid.clone(),
            PodState {
                pod,
                node,
                assumed: false,
                deadline: None,
            },
        );
        action
    }

    /// A bound pod deleted or finished; true if it was here.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        match self.pods.remove(uid) {
            Some(s) => {
                self.unplace(uid, &s.node);
                true
            }
            None => false,
        }
    }

    /// Places `pod` on `node` before its binding is done. The pod is its pending version
    /// (no node name): nothing here reads a placed pod's own node name, and copying the
    /// pod to set it would cost a whole pod per assumption.
    pub fn assume_pod(&mut self, pod: Arc<PodInfo>, node: &str) {
        let node = node.to_string();
        if let Some(old) = self.pods.remove(&pod.uid) {
            self.unplace(&pod.uid, &old.node);
        }
        self.place(pod.clone(), &node);
        self.pods.insert(
            pod.uid.clone(),
            PodState {
                pod,
                node,
                assumed: true,
                deadline: None,
            },
        );
    }

    pub fn finish_binding(&mut self, uid: &str, now: Instant) {
        if let Some(s) = self.pods.get_mut(uid).filter(|s| s.assumed) {
            s.deadline = Some(now + ASSUMED_POD_TTL);
        }
    }

    /// Drops an assumed pod whose binding failed.
    pub fn forget_pod(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|s| s.assumed) {
            self.remove_pod(uid);
        }
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|s| s.assumed)
    }

    pub fn pod_uids(&self) -> impl Iterator<Item = String> + '_ {
        self.pods.keys().cloned()
    }

    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Drops assumed pods whose confirmation never came; returns how many.
    pub fn cleanup_expired(&mut self, now: Instant) -> usize {
        let expired: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, s)| s.assumed && s.deadline.is_some_and(|d| d <= now))
            .map(|(u, _)| u.clone())
            .collect();
        for uid in &expired {
            tracing::warn!(%uid, "assumed pod expired without its binding being observed");
            self.remove_pod(uid);
        }
        expired.len()
    }

    /// Brings `snapshot` up to date: a full node list when nodes came or went, otherwise
    /// only the changed nodes.
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if self.membership_changed {
            snapshot.set_nodes(self.ordered_nodes());
            self.membership_changed = false;
            self.dirty.clear();
            return;
        }
        if self.dirty.is_empty() {
            return;
        }
        for name in self.dirty.drain() {
            if let Some(e) = self.nodes.get(&name).filter(|e| e.has_node) {
                snapshot.replace(e.info.clone());
            }
        }
    }

    /// Nodes interleaved across zones (as upstream's node tree), so that filtering a sample
    /// of nodes from any starting point sees every zone.
    fn ordered_nodes(&self) -> Vec<Arc<NodeInfo>> {
        let mut zones: BTreeMap<String, Vec<Arc<NodeInfo>>> = BTreeMap::new();
        for e in self.nodes.values().filter(|e| e.has_node) {
            let labels = e.info.labels();
            let zone = labels
                .get("topology.kubernetes.io/zone")
                .cloned()
                .unwrap_or_default();
            let region = labels
                .get("topology.kubernetes.io/region")
                .cloned()
                .unwrap_or_default();
            zones
                .entry(format!("{region}:\0:{zone}"))
                .or_default()
                .push(e.info.clone());
        }
        let mut lists: Vec<Vec<Arc<NodeInfo>>> = zones.into_values().collect();
        for l in &mut lists {
            l.sort_by(|a, b| a.name().cmp(b.name()));
        }
        let total = lists.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(total);
        let mut i = 0;
        while out.len() < total {
            for l in &lists {
                if let Some(n) = l.get(i) {
                    out.push(n.clone());
                }
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}),
        )
        .expect("node")
    }

    fn pod(uid: &str, node: &str, cpu: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(
            serde_json::from_value(json!({"metadata": {"name": uid, "uid": uid, "namespace": "d"},
                "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
            .expect("pod"),
        ))
    }

    fn cpu_by_node(s: &Snapshot) -> Vec<(String, i64, usize)> {
        s.nodes()
            .iter()
            .map(|n| (n.name().to_string(), n.requested.milli_cpu, n.pods.len()))
            .collect()
    }

    #[test]
    fn incremental_updates_and_assumed_pods() {
        let mut c = Cache::new();
        let mut s = Snapshot::default();
        assert_eq!(c.add_or_update_node(node("a1", "a")), Some(ActionType::ADD));
        c.add_or_update_node(node("a2", "a"));
        c.add_or_update_node(node("b1", "b"));
        // A pod may arrive before its node.
        c.add_or_update_pod(pod("early", "c1", "1"));
        c.update_snapshot(&mut s);
        let names: Vec<&str> = s.nodes().iter().map(|n| n.name()).collect();
        assert_eq!(
            names,
            ["a1", "b1", "a2"],
            "zones interleaved, nodeless entries left out"
        );

        // A heartbeat that changes nothing is no event.
        assert_eq!(c.add_or_update_node(node("a1", "a")), None);

        c.assume_pod(pod("p1", "", "500m"), "a1");
        c.update_snapshot(&mut s);
        assert_eq!(cpu_by_node(&s)[0], ("a1".into(), 500, 1));
        assert!(c.is_assumed("p1"));

        // The watch confirms it, and its version replaces the assumed one everywhere.
        let confirmed = pod("p1", "a1", "500m");
        c.add_or_update_pod(confirmed.clone());
        assert!(!c.is_assumed("p1"));
        c.update_snapshot(&mut s);
        assert_eq!(cpu_by_node(&s)[0], ("a1".into(), 500, 1));
        let held = s.get("a1").map(|n| n.pods[0].clone());
        assert!(held.is_some_and(|p| Arc::ptr_eq(&p.pod, &confirmed.pod)));

        // A failed binding forgets an assumed pod.
        c.assume_pod(pod("p2", "", "1"), "b1");
        c.forget_pod("p2");
        c.update_snapshot(&mut s);
        assert_eq!(cpu_by_node(&s)[1], ("b1".into(), 0, 0));

        // A finished binding that the watch never confirms expires.
        let now = Instant::now();
        c.assume_pod(pod("p3", "", "1"), "a2");
        c.finish_binding("p3", now);
        assert_eq!(c.cleanup_expired(now), 0);
        assert_eq!(c.cleanup_expired(now + ASSUMED_POD_TTL), 1);

        // Deletion frees the node.
        assert!(c.remove_pod("p1"));
        c.update_snapshot(&mut s);
        assert_eq!(
            cpu_by_node(&s),
            [
                ("a1".into(), 0, 0),
                ("b1".into(), 0, 0),
                ("a2".into(), 0, 0)
            ]
        );

        // The node of the early pod arrives with it already placed.
        c.add_or_update_node(node("c1", "c"));
        c.update_snapshot(&mut s);
        assert_eq!(s.get("c1").map(|n| n.requested.milli_cpu), Some(1000));
    }
}
