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

    /// Replaces one node's info; false if the node is not in the snapshot. The affinity
    /// lists and image counts follow at the cost of this one node: a cycle after a binding
    /// must not walk thousands of nodes.
    pub fn replace(&mut self, info: Arc<NodeInfo>) -> bool {
        let Some(&i) = self.index.get(info.name()) else {
            return false;
        };
        let old = std::mem::replace(&mut self.nodes[i], info);
        let new = &self.nodes[i];
        if !Arc::ptr_eq(&old.image_sizes, &new.image_sizes) {
            for name in old.image_sizes.keys() {
                if let Some(n) = self.image_num_nodes.get_mut(name) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.image_num_nodes.remove(name);
                    }
                }
            }
            for name in new.image_sizes.keys() {
                *self.image_num_nodes.entry(name.clone()).or_default() += 1;
            }
        }
        let (affinity, anti) = (
            !new.pods_with_affinity.is_empty(),
            !new.pods_with_required_anti_affinity.is_empty(),
        );
        set_membership(&mut self.with_affinity, i, affinity);
        set_membership(&mut self.with_required_anti_affinity, i, anti);
        true
    }

    /// Recomputes the affinity lists from every node.
    fn refresh_lists(&mut self) {
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

    /// Recounts image spread from every node.
    fn refresh_images(&mut self) {
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

/// Puts `i` in or out of the sorted index list `list`.
fn set_membership(list: &mut Vec<usize>, i: usize, member: bool) {
    match (list.binary_search(&i), member) {
        (Err(at), true) => list.insert(at, i),
        (Ok(at), false) => {
            list.remove(at);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;

    /// What a snapshot says about affinity and images, to compare an incrementally kept
    /// one with one built from scratch.
    fn summary(s: &Snapshot) -> String {
        let names = |it: &mut dyn Iterator<Item = &Arc<NodeInfo>>| {
            it.map(|n| n.name().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut images: Vec<_> = s.image_num_nodes.iter().collect();
        images.sort();
        format!(
            "affinity [{}] anti [{}] images {images:?}",
            names(&mut s.nodes_with_affinity()),
            names(&mut s.nodes_with_required_anti_affinity()),
        )
    }

    fn with_images(mut n: NodeInfo, images: &[&str]) -> NodeInfo {
        let mut obj = (*n.node).clone();
        let list: Vec<_> = images
            .iter()
            .map(|i| json!({"names": [i], "sizeBytes": 1000}))
            .collect();
        obj.status = Some(
            serde_json::from_value(json!({"images": list, "allocatable": {"pods": "110"}}))
                .expect("status"),
        );
        n.set_node(Arc::new(obj));
        n
    }

    /// A change to one node of the test's list.
    type Step<'a> = Box<dyn Fn(&mut NodeInfo) + 'a>;

    #[test]
    fn replace_keeps_lists_and_image_counts() {
        let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
        let soft = json!({"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}}]}}});
        let mut nodes: Vec<NodeInfo> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| node(n, json!({})))
            .collect();
        nodes[0] = with_images(nodes[0].clone(), &["nginx:1", "redis:7"]);
        let mut kept = Snapshot::new(nodes.clone());
        // Each step changes one node; the kept snapshot must say what a fresh one says.
        let steps: Vec<(usize, Step<'_>)> = vec![
            (
                2,
                Box::new(|n| {
                    n.add_pod(Arc::new(
                        pod("p1", "ns", json!({}), anti.clone()).with_node("c"),
                    ))
                }),
            ),
            (
                1,
                Box::new(|n| {
                    n.add_pod(Arc::new(
                        pod("p2", "ns", json!({}), soft.clone()).with_node("b"),
                    ))
                }),
            ),
            (3, Box::new(|n| *n = with_images(n.clone(), &["nginx:1"]))),
            (0, Box::new(|n| *n = with_images(n.clone(), &["busybox:1"]))),
            (
                2,
                Box::new(|n| {
                    n.remove_pod("p1");
                }),
            ),
            (
                1,
                Box::new(|n| {
                    n.add_pod(Arc::new(
                        pod("p3", "ns", json!({}), anti.clone()).with_node("b"),
                    ))
                }),
            ),
            (3, Box::new(|n| *n = with_images(n.clone(), &[]))),
        ];
        for (i, change) in steps {
            change(&mut nodes[i]);
            assert!(kept.replace(Arc::new(nodes[i].clone())));
            assert_eq!(summary(&kept), summary(&Snapshot::new(nodes.clone())));
        }
        assert_eq!(
            summary(&kept),
            r#"affinity [b] anti [b] images [("busybox:1", 1)]"#
        );
        assert!(!kept.replace(Arc::new(node("z", json!({})))));
    }
}
