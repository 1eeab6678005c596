//! A cordoned node (`spec.unschedulable`) takes only pods that tolerate its taint.

use k8s_openapi::api::core::v1::{Pod, Taint};

use crate::framework::{NodeInfo, Plugin, Unfit};

pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Result<(), Unfit> {
        let cordoned = node
            .node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if !cordoned {
            return Ok(());
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or(&[]);
        if tolerations.iter().any(|t| super::tolerates(t, &taint)) {
            Ok(())
        } else {
            Err(Unfit::one("node(s) were unschedulable"))
        }
    }
}
