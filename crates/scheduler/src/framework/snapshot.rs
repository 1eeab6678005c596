//! The nodes of one scheduling cycle. The cache refreshes it in place before each cycle,
//! copying only nodes whose generation moved, so a cycle costs nothing per unchanged node.

use super::fast_hash::FastMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::node_info::NodeInfo;

#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    nodes: Vec<Arc<NodeInfo>>,
    index: FastMap<String, usize>,
    /// Indexes of nodes holding pods with (anti-)affinity / required anti-affinity.
    with_affinity: Vec<usize>,
    with_required_anti_affinity: Vec<usize>,
    /// Image name to how many nodes have it (ImageLocality spreads by this).
    image_num_nodes: FastMap<String, usize>,
    /// Bumped whenever the node list is replaced (indexes change meaning).
    epoch: u64,
}

impl Snapshot {
    pub fn new(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut s = Snapshot::default();
        s.set_nodes(nodes.into_iter().map(Arc::new).collect());
        s
    }

    /// Replaces every node (the cache calls this when nodes were added or removed).
    pub fn set_nodes(&mut self, nodes: Vec<Arc<NodeInfo>>) {
        self.index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name().to_string(), i))
            .collect();
        self.nodes = nodes;
        // Unique across snapshots, so a plugin's cache never mistakes one for another.
        static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);
        self.epoch = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed);
        self.refresh_lists();
        self.refresh_images();
    }

    /// Replaces one node's info; false if the node is not in the snapshot.
    pub fn replace(&mut self, info: Arc<NodeInfo>) -> bool {
        match self.index.get(info.name()) {
            Some(&i) => {
                self.nodes[i] = info;
                true
            }
            None => false,
        }
    }

    /// Recomputes the affinity lists after `replace` calls.
    pub fn refresh_lists(&mut self) {
        self.with_affinity.clear();
        self.with_required_anti_affinity.clear();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.pods_with_affinity.is_empty() {
                self.with_affinity.push(i);
            }
            if !n.pods_with_required_anti_affinity.is_empty() {
                self.with_required_anti_affinity.push(i);
            }
        }
    }

    /// Recounts image spread (after node objects changed).
    pub fn refresh_images(&mut self) {
        self.image_num_nodes.clear();
        for n in &self.nodes {
            for name in n.image_sizes.keys() {
                *self.image_num_nodes.entry(name.clone()).or_default() += 1;
            }
        }
    }

    /// Changes whenever node indexes change meaning; plugins caching per-node work across
    /// cycles key it by (epoch, index) and compare the NodeInfo by pointer.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn nodes(&self) -> &[Arc<NodeInfo>] {
        &self.nodes
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_affinity.iter().map(|&i| &self.nodes[i])
    }

    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_required_anti_affinity
            .iter()
            .map(|&i| &self.nodes[i])
    }

    pub fn image_num_nodes(&self, image: &str) -> usize {
        self.image_num_nodes.get(image).copied().unwrap_or(0)
    }
}
