//! The Deployment's status, summed from its ReplicaSets (upstream `calculateStatus`).

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::Timestamp;

use super::conditions::{self, AVAILABLE, MIN_AVAILABLE, MIN_UNAVAILABLE};
use super::rolling::max_unavailable;
use super::rsinfo::{self, desired, sum};

/// Counts from every ReplicaSet (`updated` from the new one), the Available condition,
/// and the other conditions carried over from `current` (the status this sync has built
/// so far).
pub fn calculate(
    d: &Deployment,
    current: &DeploymentStatus,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = sum(all, rsinfo::available);
    let unavailable = (sum(all, rsinfo::replicas) - available).max(0);
    let nonzero = |n: i32| (n != 0).then_some(n);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(sum(all, rsinfo::status_replicas)),
        updated_replicas: nonzero(new.map_or(0, rsinfo::status_replicas)),
        ready_replicas: nonzero(sum(all, rsinfo::ready)),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero(unavailable),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: terminating(all),
    };
    let cond = if available >= desired(d) - max_unavailable(d) {
        conditions::new(
            AVAILABLE,
            "True",
            MIN_AVAILABLE,
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        conditions::new(
            AVAILABLE,
            "False",
            MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    conditions::set(&mut status, cond);
    status
}

/// Pods being deleted, summed; unknown (`None`) if any ReplicaSet does not report them.
fn terminating(all: &[&ReplicaSet]) -> Option<i32> {
    all.iter()
        .map(|rs| rs.status.as_ref().and_then(|s| s.terminating_replicas))
        .sum()
}
