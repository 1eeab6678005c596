//! The `apps` group.

pub mod daemonsets;
pub mod deployments;
pub mod replicasets;
pub mod statefulsets;
mod workload;
