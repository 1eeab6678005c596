//! The Recreate strategy (upstream `recreate.go`): every old pod goes before any new one
//! starts.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

use super::rolling::ScaleTo;
use super::rsinfo::{self, replicas};
use crate::podinfo;

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Scale these old ReplicaSets to 0.
    ScaleDownOld(Vec<ScaleTo>),
    /// Old pods are still there (running or terminating): look again later.
    WaitForOldPods,
    /// Create the new ReplicaSet if needed and give it every replica.
    ScaleUpNew,
}

/// Whether any old ReplicaSet still reports pods, or any pod controlled by one has not
/// finished (a terminating pod counts until it is gone) (upstream `oldPodsRunning`).
pub fn old_pods_running(old: &[&ReplicaSet], pods: &[Pod]) -> bool {
    if old.iter().any(|rs| rsinfo::status_replicas(rs) > 0) {
        return true;
    }
    let uids: Vec<&str> = old
        .iter()
        .filter_map(|rs| rs.metadata.uid.as_deref())
        .collect();
    pods.iter()
        .filter(|p| podinfo::controller_uid(p).is_some_and(|u| uids.contains(&u)))
        .any(|p| !podinfo::is_terminal(p))
}

pub fn step(old: &[&ReplicaSet], pods: &[Pod]) -> Step {
    let active: Vec<ScaleTo> = old
        .iter()
        .filter(|rs| replicas(rs) > 0)
        .map(|rs| ScaleTo {
            name: rsinfo::name(rs).to_string(),
            replicas: 0,
        })
        .collect();
    if !active.is_empty() {
        return Step::ScaleDownOld(active);
    }
    if old_pods_running(old, pods) {
        return Step::WaitForOldPods;
    }
    Step::ScaleUpNew
}
