//! One module per plugin. `registry()` is the default profile: plugins in upstream's
//! order (which is the order each extension point runs them) with their Score weights.
//! To add a plugin, add its module and one line to the list.

mod balanced_allocation;
mod default_binder;
pub mod default_preemption;
pub mod gang;
mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
mod node_name;
mod node_ports;
pub mod node_resources_fit;
mod node_unschedulable;
pub mod pod_topology_spread;
mod queue_sort;
mod taint_toleration;
#[cfg(test)]
pub(crate) mod testutil;
pub mod volume_binding;

use std::sync::Arc;

use crate::framework::{Handle, Plugin, Registration, MAX_NODE_SCORE};

pub use taint_toleration::tolerates;

const fn reg(
    name: &'static str,
    weight: i64,
    new: fn(&Arc<Handle>) -> Arc<dyn Plugin>,
) -> Registration {
    Registration { name, weight, new }
}

pub fn registry() -> Vec<Registration> {
    vec![
        reg(queue_sort::NAME, 0, |_| Arc::new(queue_sort::PrioritySort)),
        reg(node_unschedulable::NAME, 0, |_| {
            Arc::new(node_unschedulable::NodeUnschedulable)
        }),
        reg(node_name::NAME, 0, |_| Arc::new(node_name::NodeName)),
        reg(taint_toleration::NAME, 3, |_| {
            Arc::new(taint_toleration::TaintToleration)
        }),
        reg(node_affinity::NAME, 2, |_| {
            Arc::new(node_affinity::NodeAffinity)
        }),
        reg(node_ports::NAME, 0, |_| Arc::new(node_ports::NodePorts)),
        reg(node_resources_fit::NAME, 1, |_| {
            Arc::new(node_resources_fit::NodeResourcesFit)
        }),
        reg(volume_binding::NAME, 0, |h| {
            Arc::new(volume_binding::VolumeBinding::new(h))
        }),
        reg(pod_topology_spread::NAME, 2, |h| {
            Arc::new(pod_topology_spread::PodTopologySpread::new(h))
        }),
        reg(inter_pod_affinity::NAME, 2, |h| {
            Arc::new(inter_pod_affinity::InterPodAffinity::new(h))
        }),
        reg(balanced_allocation::NAME, 1, |_| {
            Arc::new(balanced_allocation::BalancedAllocation)
        }),
        reg(image_locality::NAME, 1, |_| {
            Arc::new(image_locality::ImageLocality)
        }),
        reg(default_preemption::NAME, 0, |h| {
            Arc::new(default_preemption::DefaultPreemption::new(h))
        }),
        reg(gang::NAME, 0, |h| Arc::new(gang::Gang::new(h))),
        reg(default_binder::NAME, 0, |h| {
            Arc::new(default_binder::DefaultBinder::new(h))
        }),
    ]
}

/// Scales raw scores so the highest becomes MAX_NODE_SCORE (all zero stays zero);
/// `reverse` makes the lowest raw score the best (upstream's DefaultNormalizeScore).
pub(crate) fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = *s * MAX_NODE_SCORE / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}
