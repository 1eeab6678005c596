//! The `rbac.authorization.k8s.io` group.

pub mod rolebindings;
pub mod roles;
mod rules;
