//! The Endpoints a Service should have (pure): its pods' addresses grouped by the ports
//! they serve, ready and not ready apart, truncated at 1000 addresses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Pod, Service};

use crate::service_pods;

/// Upstream's `maxCapacity`: beyond it the Endpoints object is truncated and annotated.
pub const MAX_ADDRESSES: usize = 1000;
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
pub const TRUNCATED: &str = "truncated";

type PortsKey = Vec<(String, i32, String, String)>;

fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: PortsKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port,
                p.protocol.clone().unwrap_or_default(),
                p.app_protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

/// The subsets for `svc` over the pods of its namespace (those it does not select are
/// skipped). Addresses serving the same ports share a subset; everything is sorted so
/// equal inputs give equal output.
pub fn subsets(svc: &Service, pods: &[Pod]) -> Vec<EndpointSubset> {
    let tolerate_unready = service_pods::publish_not_ready(svc);
    let family = service_pods::address_type(svc);
    let svc_ports = service_pods::ports(svc);
    // ports → (ready, not ready)
    type Group = (Vec<EndpointAddress>, Vec<EndpointAddress>);
    let mut groups: BTreeMap<PortsKey, (Vec<EndpointPort>, Group)> = BTreeMap::new();
    for pod in pods.iter().filter(|p| service_pods::selects(svc, p)) {
        if !service_pods::should_be_endpoint(pod, tolerate_unready) {
            continue;
        }
        let Some(ip) = service_pods::pod_ip(pod, family) else {
            continue;
        };
        let ports: Vec<EndpointPort> = svc_ports
            .iter()
            .filter_map(|sp| {
                service_pods::find_port(pod, sp).map(|port| EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        // A pod serving none of the service's ports is no endpoint; a headless service
        // without ports still lists its pods (for DNS).
        if ports.is_empty() && !(svc_ports.is_empty() && service_pods::is_headless(svc)) {
            continue;
        }
        let addr = EndpointAddress {
            ip,
            hostname: service_pods::hostname(pod, svc),
            node_name: Some(crate::podinfo::node_name(pod).to_string()).filter(|n| !n.is_empty()),
            target_ref: Some(service_pods::target_ref(pod)),
        };
        let entry = groups
            .entry(ports_key(&ports))
            .or_insert_with(|| (ports, (Vec::new(), Vec::new())));
        if tolerate_unready || crate::podinfo::is_ready(pod) {
            entry.1 .0.push(addr);
        } else {
            entry.1 .1.push(addr);
        }
    }
    groups
        .into_values()
        .map(|(mut ports, (mut ready, mut not_ready))| {
            ports.sort_by_key(|p| (p.name.clone(), p.port));
            sort_addresses(&mut ready);
            sort_addresses(&mut not_ready);
            EndpointSubset {
                addresses: Some(ready).filter(|a| !a.is_empty()),
                not_ready_addresses: Some(not_ready).filter(|a| !a.is_empty()),
                ports: Some(ports).filter(|p| !p.is_empty()),
            }
        })
        .collect()
}

fn sort_addresses(addrs: &mut [EndpointAddress]) {
    addrs.sort_by(|a, b| {
        let uid = |x: &EndpointAddress| x.target_ref.as_ref().and_then(|r| r.uid.clone());
        a.ip.cmp(&b.ip).then_with(|| uid(a).cmp(&uid(b)))
    });
}

fn count(subsets: &[EndpointSubset]) -> (usize, usize) {
    subsets.iter().fold((0, 0), |(r, n), s| {
        (
            r + s.addresses.as_ref().map_or(0, Vec::len),
            n + s.not_ready_addresses.as_ref().map_or(0, Vec::len),
        )
    })
}

/// Cuts the subsets down to `MAX_ADDRESSES`, as upstream: when the ready addresses alone
/// are too many, only ready ones are kept; otherwise every ready one and as many not-ready
/// ones as fit. Each subset keeps its share, rounded up, so the last ones may get fewer.
/// Returns whether anything was cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let (ready, not_ready) = count(subsets);
    if ready + not_ready <= MAX_ADDRESSES {
        return false;
    }
    let cut_ready = ready > MAX_ADDRESSES;
    let (room, total) = if cut_ready {
        (MAX_ADDRESSES, ready)
    } else {
        (MAX_ADDRESSES - ready, not_ready)
    };
    let mut left = room;
    for s in subsets.iter_mut() {
        let list = if cut_ready {
            s.not_ready_addresses = None;
            &mut s.addresses
        } else {
            &mut s.not_ready_addresses
        };
        let have = list.as_ref().map_or(0, Vec::len);
        let share = (have * room).div_ceil(total).min(left);
        if let Some(l) = list.as_mut() {
            l.truncate(share);
        }
        if list.as_ref().is_some_and(Vec::is_empty) {
            *list = None;
        }
        left -= share.min(have);
    }
    true
}

#[cfg(test)]
mod tests;
