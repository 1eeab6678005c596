//! A pod that names a node (without being bound to it yet) fits only there.

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{NodeInfo, Plugin, Unfit};

pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }
    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Result<(), Unfit> {
        match pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            Some(n) if n != node.name() => {
                Err(Unfit::one("node(s) didn't match the requested node name"))
            }
            _ => Ok(()),
        }
    }
}
