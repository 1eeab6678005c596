//! The scheduler: binds each unscheduled pod to a node chosen by the framework's plugins,
//! or says why none fits. Reads cluster state through informer caches and writes through
//! the API (pod bindings, pod status conditions, events), like upstream's kube-scheduler.
//!
//! **Architecture Invariant:** the framework and plugins are functions of a pod, a snapshot
//! and the cycle state; only `scheduler.rs`, `api.rs` and Bind/PreBind plugins (through the
//! framework handle's client) talk to the API.

mod api;
pub mod cache;
pub mod framework;
mod heap;
pub mod plugins;
pub mod queue;
pub mod resources;
mod scheduler;

pub use scheduler::{run, MAX_CONCURRENT_BINDS, SCHEDULER_NAME};
