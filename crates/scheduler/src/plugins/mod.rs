//! One module per plugin; `default_plugins` is the default profile, in upstream's order.

mod balanced_allocation;
mod node_affinity;
mod node_name;
mod node_ports;
mod node_resources_fit;
mod node_unschedulable;
mod taint_toleration;

use crate::framework::Plugin;

pub use taint_toleration::tolerates;

pub fn default_plugins() -> Vec<Box<dyn Plugin>> {
    vec![
        Box::new(node_unschedulable::NodeUnschedulable),
        Box::new(node_name::NodeName),
        Box::new(taint_toleration::TaintToleration),
        Box::new(node_affinity::NodeAffinity),
        Box::new(node_ports::NodePorts),
        Box::new(node_resources_fit::NodeResourcesFit),
        Box::new(balanced_allocation::BalancedAllocation),
    ]
}

/// Scales raw scores so the highest becomes MAX_SCORE (all zero stays zero); `reverse`
/// makes the lowest raw score the best.
pub(crate) fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores
                .iter_mut()
                .for_each(|s| *s = crate::framework::MAX_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = *s * crate::framework::MAX_SCORE / max;
        *s = if reverse {
            crate::framework::MAX_SCORE - scaled
        } else {
            scaled
        };
    }
}
