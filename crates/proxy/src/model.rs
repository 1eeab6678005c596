//! What the proxy programs, worked out from Services and EndpointSlices. Pure.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn parse(s: Option<&str>) -> Proto {
        match s {
            Some("UDP") => Proto::Udp,
            Some("SCTP") => Proto::Sctp,
            _ => Proto::Tcp,
        }
    }

    pub fn nft(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// The endpoint's pod runs on this node.
    pub local: bool,
}

/// One port of one Service, with the endpoints traffic may go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name:port-name` (the port name may be empty).
    pub key: String,
    pub proto: Proto,
    pub port: u16,
    /// The cluster IPs of the service.
    pub ips: Vec<Ipv4Addr>,
    /// Its external IPs and load-balancer ingress IPs: traffic to them follows
    /// externalTrafficPolicy, as NodePort traffic does.
    pub external_ips: Vec<Ipv4Addr>,
    pub node_port: Option<u16>,
    /// Ready endpoints, or serving-and-terminating ones when none is ready (upstream's
    /// fallback, so a rolling update does not drop connections).
    pub endpoints: Vec<Endpoint>,
    /// externalTrafficPolicy: Local — NodePort and load-balancer traffic only to this
    /// node's endpoints.
    pub external_local: bool,
    /// internalTrafficPolicy: Local — cluster IP traffic only to this node's endpoints.
    pub internal_local: bool,
    /// sessionAffinity: ClientIP, with its timeout in seconds.
    pub affinity_seconds: Option<i32>,
}

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The service ports to program on `node`. Headless and ExternalName services are not
/// proxied (DNS answers for them).
pub fn build(services: &[Service], slices: &[EndpointSlice], node: &str) -> Vec<ServicePort> {
    let mut by_service: BTreeMap<(String, String), Vec<&EndpointSlice>> = BTreeMap::new();
    for s in slices {
        if s.address_type != "IPv4" {
            continue;
        }
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        by_service.entry((ns, svc.clone())).or_default().push(s);
    }
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let cluster_ips: Vec<Ipv4Addr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if cluster_ips.is_empty() {
            continue; // headless (None) or not allocated yet
        }
        let mut external_ips: Vec<Ipv4Addr> = spec
            .external_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
            .collect();
        let lb_ips = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref()?.parse::<Ipv4Addr>().ok());
        external_ips.extend(lb_ips);
        external_ips.sort();
        external_ips.dedup();
        external_ips.retain(|ip| !cluster_ips.contains(ip));
        let mut ips = cluster_ips;
        ips.sort();
        ips.dedup();
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let slices = by_service.get(&(ns.clone(), name.clone()));
        let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(10_800)
        });
        for p in spec.ports.iter().flatten() {
            let proto = Proto::parse(p.protocol.as_deref());
            let port_name = p.name.clone().unwrap_or_default();
            let mut ready = Vec::new();
            let mut fallback = Vec::new();
            for slice in slices.into_iter().flatten() {
                let Some(sp) = slice.ports.iter().flatten().find(|sp| {
                    sp.name.clone().unwrap_or_default() == port_name
                        && Proto::parse(sp.protocol.as_deref()) == proto
                }) else {
                    continue;
                };
                let Some(port) = sp.port.and_then(|p| u16::try_from(p).ok()) else {
                    continue;
                };
                for e in slice.endpoints.iter().flatten() {
                    let c = e.conditions.clone().unwrap_or_default();
                    let local = e.node_name.as_deref() == Some(node);
                    for ip in e
                        .addresses
                        .iter()
                        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
                    {
                        let ep = Endpoint { ip, port, local };
                        // A missing condition counts as true, as upstream reads it.
                        if c.ready.unwrap_or(true) {
                            ready.push(ep);
                        } else if c.serving.unwrap_or(false) && c.terminating.unwrap_or(false) {
                            fallback.push(ep);
                        }
                    }
                }
            }
            let mut endpoints = if ready.is_empty() { fallback } else { ready };
            endpoints.sort();
            endpoints.dedup();
            out.push(ServicePort {
                key: format!("{ns}/{name}:{port_name}"),
                proto,
                port: u16::try_from(p.port).unwrap_or(0),
                ips: ips.clone(),
                external_ips: external_ips.clone(),
                node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                endpoints,
                external_local: spec.external_traffic_policy.as_deref() == Some("Local"),
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
                affinity_seconds,
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key).then(a.proto.cmp(&b.proto)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_and_slices() {
        let services: Vec<Service> = serde_json::from_value(json!([
            {"metadata": {"namespace": "default", "name": "web"},
             "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"], "type": "NodePort",
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}],
                      "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
                      "externalIPs": ["192.168.1.11", "10.43.0.20"]},
             "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}, {"hostname": "lb.example"}]}}},
            {"metadata": {"namespace": "default", "name": "headless"},
             "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
            {"metadata": {"namespace": "default", "name": "ext"},
             "spec": {"type": "ExternalName", "externalName": "example.com"}},
            {"metadata": {"namespace": "default", "name": "dns"},
             "spec": {"clusterIP": "10.43.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}},
        ]))
        .unwrap();
        let slices: Vec<EndpointSlice> = serde_json::from_value(json!([
            {"metadata": {"namespace": "default", "name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
             "addressType": "IPv4",
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
             "endpoints": [
                {"addresses": ["10.42.0.5"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.42.1.5"], "conditions": {"ready": true}, "nodeName": "n2"},
                {"addresses": ["10.42.0.6"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "n1"},
             ]},
            {"metadata": {"namespace": "default", "name": "dns-1", "labels": {"kubernetes.io/service-name": "dns"}},
             "addressType": "IPv4",
             "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
             "endpoints": [
                {"addresses": ["10.42.0.7"], "conditions": {"ready": false, "serving": true, "terminating": true}},
             ]},
        ]))
        .unwrap();
        let got: Vec<String> = build(&services, &slices, "n1")
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} {} ips={:?} external={:?} nodePort={:?} eps={:?} extLocal={} affinity={:?}",
                    p.key,
                    p.proto,
                    p.port,
                    p.ips,
                    p.external_ips,
                    p.node_port,
                    p.endpoints
                        .iter()
                        .map(|e| format!("{}:{}{}", e.ip, e.port, if e.local { "*" } else { "" }))
                        .collect::<Vec<_>>(),
                    p.external_local,
                    p.affinity_seconds
                )
            })
            .collect();
        expect_test::expect![[r#"
            default/dns:dns Udp 53 ips=[10.43.0.10] external=[] nodePort=None eps=["10.42.0.7:53"] extLocal=false affinity=None
            default/web:http Tcp 80 ips=[10.43.0.20] external=[192.168.1.10, 192.168.1.11] nodePort=Some(30080) eps=["10.42.0.5:8080*", "10.42.1.5:8080"] extLocal=true affinity=Some(10800)"#]]
        .assert_eq(&got.join("\n"));
    }
}
