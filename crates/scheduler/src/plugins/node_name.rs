//! A pod that names a node (without being bound to it yet) fits only there.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    Status,
};

pub const NAME: &str = "NodeName";
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(EventResource::Node, ActionType::ADD)]
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let want = pod.node_name();
        if want.is_empty() || want == node.name() {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}
