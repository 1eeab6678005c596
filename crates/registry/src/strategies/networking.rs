//! The `networking.k8s.io` group.

pub mod ingresses;
pub mod networkpolicies;
