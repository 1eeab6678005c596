//! The endpoints a Service should have in EndpointSlices (pure), grouped by the ports
//! they serve: every slice carries one port list.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};

use crate::service_pods;

/// A port list in a canonical order, to group endpoints and to match existing slices.
pub type PortsKey = Vec<(String, i32, String, String)>;

pub fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: PortsKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.clone().unwrap_or_default(),
                p.app_protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

/// Endpoints sharing a port list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// What identifies one endpoint across syncs: the pod it stands for.
pub fn endpoint_key(ep: &Endpoint) -> String {
    match ep.target_ref.as_ref() {
        Some(r) => format!(
            "{}/{}",
            r.namespace.as_deref().unwrap_or(""),
            r.name.as_deref().unwrap_or("")
        ),
        None => ep.addresses.join(","),
    }
}

/// The endpoints of `svc` over pods of its namespace (unselected ones are skipped);
/// `zones` gives each node's `topology.kubernetes.io/zone`. Terminating pods stay, marked
/// not ready, as upstream keeps them for graceful connection draining.
pub fn desired(
    svc: &Service,
    pods: &[Pod],
    zones: &BTreeMap<String, String>,
) -> BTreeMap<PortsKey, Group> {
    let family = service_pods::address_type(svc);
    let publish = service_pods::publish_not_ready(svc);
    let mut groups: BTreeMap<PortsKey, Group> = BTreeMap::new();
    let mut sorted: Vec<&Pod> = pods
        .iter()
        .filter(|p| service_pods::selects(svc, p))
        .collect();
    sorted.sort_by_key(|p| p.metadata.name.clone());
    for pod in sorted {
        if !service_pods::should_be_endpoint(pod, true) {
            continue;
        }
        let Some(ip) = service_pods::pod_ip(pod, family) else {
            continue;
        };
        let ports: Vec<EndpointPort> = service_pods::ports(svc)
            .iter()
            .filter_map(|sp| {
                service_pods::find_port(pod, sp).map(|port| EndpointPort {
                    name: Some(sp.name.clone().unwrap_or_default()),
                    port: Some(port),
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        let serving = crate::podinfo::is_ready(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let node = crate::podinfo::node_name(pod);
        let endpoint = Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some(publish || (serving && !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: service_pods::hostname(pod, svc),
            node_name: Some(node.to_string()).filter(|n| !n.is_empty()),
            zone: zones.get(node).cloned(),
            target_ref: Some(service_pods::target_ref(pod)),
            ..Default::default()
        };
        let group = groups.entry(ports_key(&ports)).or_insert_with(|| Group {
            ports,
            endpoints: Vec::new(),
        });
        group.endpoints.push(endpoint);
    }
    groups
}
