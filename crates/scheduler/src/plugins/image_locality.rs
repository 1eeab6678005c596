//! ImageLocality: prefers nodes that already have the pod's images, by image size scaled by
//! how many nodes have the image (so one node holding a rare image does not attract every
//! pod). Sizes come from `node.status.images`.

use std::sync::Arc;

use crate::framework::{
    normalized_image_name, CycleState, NodeInfo, Plugin, PodInfo, PreScorePlugin, ScorePlugin,
    Snapshot, Status, MAX_NODE_SCORE,
};

pub const NAME: &str = "ImageLocality";
const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;
const PRE_SCORE_KEY: &str = "PreScoreImageLocality";

#[derive(Clone)]
struct PreScoreState {
    /// Each container's normalized image with the share of nodes holding it.
    images: Vec<(String, f64)>,
    containers: i64,
}

pub struct ImageLocality;

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<crate::framework::ClusterEvent> {
        Vec::new()
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _feasible: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        let Some(spec) = pod.pod.spec.as_ref() else {
            return Status::skip();
        };
        let total = snapshot.len().max(1) as f64;
        let containers: Vec<_> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .collect();
        let images: Vec<(String, f64)> = containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .map(|i| {
                let name = normalized_image_name(i);
                let spread = snapshot.image_num_nodes(&name) as f64 / total;
                (name, spread)
            })
            .collect();
        // No node has any of the images: every node would score 0, so Score need not
        // look at each one.
        if images.iter().all(|(_, spread)| *spread == 0.0) {
            return Status::skip();
        }
        state.write(
            PRE_SCORE_KEY,
            PreScoreState {
                images,
                containers: containers.len() as i64,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return Ok(0);
        };
        let sum: i64 = s
            .images
            .iter()
            .filter_map(|(name, spread)| {
                node.image_sizes
                    .get(name)
                    .map(|size| (*size as f64 * spread) as i64)
            })
            .sum();
        let max = MAX_CONTAINER_THRESHOLD * s.containers.max(1);
        let sum = sum.clamp(MIN_THRESHOLD, max);
        Ok(MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{pod, scores, snapshot};
    use serde_json::json;

    fn node(name: &str, images: serde_json::Value) -> NodeInfo {
        NodeInfo::new(
            serde_json::from_value(json!({"metadata": {"name": name},
                "status": {"allocatable": {"cpu": "8", "memory": "8Gi", "pods": "110"}, "images": images}}))
            .expect("node"),
        )
    }

    #[test]
    fn big_common_images_score() {
        let gb = 1024 * MB;
        let snap = snapshot(vec![
            (
                node(
                    "both",
                    json!([{"names": ["docker.io/library/img:latest", "img"], "sizeBytes": gb}]),
                ),
                vec![],
            ),
            (
                node("also", json!([{"names": ["img:latest"], "sizeBytes": gb}])),
                vec![],
            ),
            (
                node("small", json!([{"names": ["img"], "sizeBytes": 10 * MB}])),
                vec![],
            ),
            (node("none", json!([])), vec![]),
        ]);
        // "img" normalizes to "img:latest": on three of four nodes.
        let p = pod("p", "default", json!({}), serde_json::Value::Null);
        assert_eq!(
            scores(Arc::new(ImageLocality), &p, &snap),
            ["both=76", "also=76", "small=0", "none=0"]
        );
        // The pod's image on no node: every node scores 0 (Score is skipped altogether).
        let elsewhere = snapshot(vec![
            (
                node("a", json!([{"names": ["other:1"], "sizeBytes": gb}])),
                vec![],
            ),
            (node("b", json!([])), vec![]),
        ]);
        let mut state = CycleState::new();
        let s = ImageLocality.pre_score(&mut state, &p, elsewhere.nodes(), &elsewhere);
        assert!(s.is_skip(), "{s:?}");
        assert_eq!(
            scores(Arc::new(ImageLocality), &p, &elsewhere),
            ["a=0", "b=0"]
        );
    }
}
