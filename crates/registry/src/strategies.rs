//! One module per resource strategy, grouped by API group: `strategies/<group>/<plural>.rs`.
//! [`for_resource`] picks the strategy; kinds without one get [`DefaultStrategy`].

pub mod apiextensions;
pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod certificates;
mod common;
pub mod coordination;
pub mod core;
pub mod custom_resources;
pub mod discovery;
pub mod events;
mod json;
pub mod networking;
pub mod policy;
pub mod rbac;
pub mod scheduling;
pub mod storage;
#[cfg(test)]
mod testing;

pub use apimachinery::validation::NameRule;

use crate::{DefaultStrategy, Strategy};

/// The strategy of a resource (`group` is "" for core), or the default strategy.
pub fn for_resource(group: &str, plural: &str) -> &'static dyn Strategy {
    match (group, plural) {
        ("", "pods") => &core::pods::PodStrategy,
        ("", "services") => &core::services::ServiceStrategy,
        ("", "configmaps") => &core::configmaps::ConfigMapStrategy,
        ("", "secrets") => &core::secrets::SecretStrategy,
        ("", "namespaces") => &core::namespaces::NamespaceStrategy,
        ("", "nodes") => &core::nodes::NodeStrategy,
        ("", "persistentvolumeclaims") => {
            &core::persistentvolumeclaims::PersistentVolumeClaimStrategy
        }
        ("", "persistentvolumes") => &core::persistentvolumeclaims::PersistentVolumeStrategy,
        ("", "events") => &core::events::EventStrategy,
        ("", "replicationcontrollers") => {
            &core::replicationcontrollers::ReplicationControllerStrategy
        }
        ("", "endpoints") => &core::endpoints::EndpointsStrategy,
        ("discovery.k8s.io", "endpointslices") => &discovery::endpointslices::EndpointSliceStrategy,
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            &apiextensions::customresourcedefinitions::CustomResourceDefinitionStrategy
        }
        ("apps", "deployments") => &apps::deployments::DeploymentStrategy,
        ("apps", "replicasets") => &apps::replicasets::ReplicaSetStrategy,
        ("apps", "statefulsets") => &apps::statefulsets::StatefulSetStrategy,
        ("apps", "daemonsets") => &apps::daemonsets::DaemonSetStrategy,
        ("batch", "jobs") => &batch::jobs::JobStrategy,
        ("batch", "cronjobs") => &batch::cronjobs::CronJobStrategy,
        ("networking.k8s.io", "ingresses") => &networking::ingresses::IngressStrategy,
        ("networking.k8s.io", "networkpolicies") => {
            &networking::networkpolicies::NetworkPolicyStrategy
        }
        ("autoscaling", "horizontalpodautoscalers") => {
            &autoscaling::horizontalpodautoscalers::HorizontalPodAutoscalerStrategy
        }
        ("policy", "poddisruptionbudgets") => {
            &policy::poddisruptionbudgets::PodDisruptionBudgetStrategy
        }
        ("rbac.authorization.k8s.io", "roles") => &rbac::roles::RoleStrategy,
        ("rbac.authorization.k8s.io", "clusterroles") => &rbac::roles::ClusterRoleStrategy,
        ("rbac.authorization.k8s.io", "rolebindings") => &rbac::rolebindings::RoleBindingStrategy,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            &rbac::rolebindings::ClusterRoleBindingStrategy
        }
        ("storage.k8s.io", "storageclasses") => &storage::storageclasses::StorageClassStrategy,
        ("coordination.k8s.io", "leases") => &coordination::leases::LeaseStrategy,
        ("scheduling.k8s.io", "priorityclasses") => {
            &scheduling::priorityclasses::PriorityClassStrategy
        }
        ("events.k8s.io", "events") => &events::events::EventStrategy,
        ("certificates.k8s.io", "certificatesigningrequests") => {
            &certificates::certificatesigningrequests::CertificateSigningRequestStrategy
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_and_name_rules() {
        let cases = [
            ("", "pods", true, true),
            ("apps", "deployments", true, true),
            ("", "configmaps", false, false),
            ("networking.k8s.io", "networkpolicies", false, true),
            ("example.com", "widgets", false, false),
        ];
        for (group, plural, status, generation) in cases {
            let s = for_resource(group, plural);
            assert_eq!(
                (s.has_status(), s.tracks_generation()),
                (status, generation),
                "{group}/{plural}"
            );
        }
        assert_eq!(name_rule("", "services"), NameRule::Rfc1035Label);
        assert_eq!(name_rule("apps", "statefulsets"), NameRule::Label);
        assert_eq!(
            name_rule("rbac.authorization.k8s.io", "roles"),
            NameRule::PathSegment
        );
        assert_eq!(name_rule("", "pods"), NameRule::Subdomain);
    }
}
