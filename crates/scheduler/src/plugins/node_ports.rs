//! A pod asking for a host port fits only where that port is free.

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{NodeInfo, Plugin, Unfit};

pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }
    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Result<(), Unfit> {
        let wanted = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                p.host_port
                    .filter(|hp| *hp > 0)
                    .map(|hp| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), hp))
            });
        for w in wanted {
            if node.used_ports.contains(&w) {
                return Err(Unfit::one(
                    "node(s) didn't have free ports for the requested pod ports",
                ));
            }
        }
        Ok(())
    }
}
