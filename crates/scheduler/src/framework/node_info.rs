//! A node as the scheduler sees it: the Node object and the pods placed on it (bound or
//! assumed), with their sums kept up to date as pods come and go.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use super::fast_hash::FastMap;
use super::pod_info::{HostPort, PodInfo};
use crate::resources::Resources;

static EMPTY_LABELS: BTreeMap<String, String> = BTreeMap::new();

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub allocatable: Resources,
    /// `spec.unschedulable`, kept here because the first filter reads it for every node it
    /// looks at: one pointer less to chase per node and pod.
    unschedulable: bool,
    /// Whether `spec.taints` has any: most nodes have none, and TaintToleration's Filter
    /// then need not reach into the Node object at all.
    has_taints: bool,
    pub pods: Vec<Arc<PodInfo>>,
    /// The pods above with any pod (anti-)affinity; InterPodAffinity looks only at these.
    pub pods_with_affinity: Vec<Arc<PodInfo>>,
    pub pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    /// Sum of the pods' requests.
    pub requested: Resources,
    /// Sum of requests with upstream's defaults for pods requesting nothing (for scoring).
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
    pub used_ports: Vec<HostPort>,
    /// Image name (as the node reports it, every alias) to its size in bytes.
    pub image_sizes: Arc<FastMap<String, i64>>,
    /// Bumped on every change; the snapshot copies only nodes that moved on.
    pub generation: u64,
}

impl NodeInfo {
    pub fn new(node: Node) -> NodeInfo {
        NodeInfo::from_arc(Arc::new(node))
    }

    pub fn from_arc(node: Arc<Node>) -> NodeInfo {
        let mut n = NodeInfo {
            node: Arc::new(Node::default()),
            allocatable: Resources::default(),
            unschedulable: false,
            has_taints: false,
            pods: Vec::new(),
            pods_with_affinity: Vec::new(),
            pods_with_required_anti_affinity: Vec::new(),
            requested: Resources::default(),
            non_zero_milli_cpu: 0,
            non_zero_memory: 0,
            used_ports: Vec::new(),
            image_sizes: Arc::default(),
            generation: 0,
        };
        n.set_node(node);
        n
    }

    /// Replaces the Node object (status or spec change), keeping the pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        let status = node.status.as_ref();
        self.allocatable = Resources::from_map(status.and_then(|s| s.allocatable.as_ref()));
        let mut images = FastMap::default();
        for img in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            for name in img.names.iter().flatten() {
                images.insert(normalized_image_name(name), img.size_bytes.unwrap_or(0));
            }
        }
        self.image_sizes = Arc::new(images);
        self.unschedulable = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        self.has_taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| !t.is_empty());
        self.node = node;
    }

    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.node.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS)
    }

    /// `spec.unschedulable` (cordoned).
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    pub fn taints(&self) -> &[Taint] {
        if !self.has_taints {
            return &[];
        }
        self.node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[])
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_milli_cpu += pod.non_zero_milli_cpu;
        self.non_zero_memory += pod.non_zero_memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity.push(pod.clone());
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity.push(pod.clone());
        }
        self.pods.push(pod);
        self.generation += 1;
    }

    /// Puts `new` where `old` (the same pod, equal in all this node counts) was.
    pub fn replace_pod(&mut self, old: &Arc<PodInfo>, new: Arc<PodInfo>) {
        for list in [
            &mut self.pods,
            &mut self.pods_with_affinity,
            &mut self.pods_with_required_anti_affinity,
        ] {
            if let Some(slot) = list.iter_mut().find(|p| Arc::ptr_eq(p, old)) {
                *slot = new.clone();
            }
        }
        self.generation += 1;
    }

    /// Removes the pod with `uid`; false if it was not here.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.uid == uid) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        self.pods_with_affinity.retain(|p| p.uid != uid);
        self.pods_with_required_anti_affinity
            .retain(|p| p.uid != uid);
        self.requested.sub(&pod.requests);
        self.non_zero_milli_cpu -= pod.non_zero_milli_cpu;
        self.non_zero_memory -= pod.non_zero_memory;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        self.generation += 1;
        true
    }
}

/// Upstream's normalisation: an image without tag or digest means `:latest`.
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}
