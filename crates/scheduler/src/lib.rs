//! The scheduler: binds each unscheduled pod to a node chosen by the framework's plugins,
//! or says why none fits. Reads cluster state through informer caches and writes through
//! the API (pod bindings, pod status conditions, events), like upstream's kube-scheduler.
//!
//! **Architecture Invariant:** the framework and plugins are pure functions of a pod and
//! node snapshots; only `scheduler.rs` talks to the API.

pub mod framework;
pub mod plugins;
pub mod resources;
mod scheduler;

pub use scheduler::{run, SCHEDULER_NAME};
