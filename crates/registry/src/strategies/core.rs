//! The core ("") group.

pub mod pod_spec;
pub mod pods;
