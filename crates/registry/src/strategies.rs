//! One module per resource strategy, grouped by API group: `strategies/<group>/<plural>.rs`.

pub mod apps;
mod common;
pub mod core;
mod json;
mod quantity;
#[cfg(test)]
mod testing;

pub use apimachinery::validation::NameRule;

use crate::{DefaultStrategy, Strategy};

/// The strategy of a resource (`group` is "" for core), or the default strategy.
pub fn for_resource(group: &str, plural: &str) -> &'static dyn Strategy {
    match (group, plural) {
        ("", "pods") => &core::pods::PodStrategy,
        ("apps", "deployments") => &apps::deployments::DeploymentStrategy,
        ("apps", "replicasets") => &apps::replicasets::ReplicaSetStrategy,
        ("apps", "statefulsets") => &apps::statefulsets::StatefulSetStrategy,
        ("apps", "daemonsets") => &apps::daemonsets::DaemonSetStrategy,
        _ => &DefaultStrategy,
    }
}

/// The format `metadata.name` must have for a resource (`group` is "" for core).
pub fn name_rule(group: &str, plural: &str) -> NameRule {
    match (group, plural) {
        ("", "namespaces") | ("apps", "statefulsets") => NameRule::Label,
        ("", "services") => NameRule::Rfc1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}
