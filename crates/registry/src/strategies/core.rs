//! The core ("") group.

mod config_data;
pub mod configmaps;
pub mod endpoints;
pub mod events;
pub mod namespaces;
pub mod nodes;
pub mod persistentvolumeclaims;
pub mod pod_ephemeral;
pub mod pod_spec;
pub mod pods;
pub mod replicationcontrollers;
pub mod secrets;
pub mod services;
