//! What the cluster's names stand for, worked out from Services and EndpointSlices. Pure;
//! rebuilt whole on every change (cheap next to a watch event, and lock-free to read).

use std::collections::HashMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A service with cluster IPs: its name stands for them.
    ClusterIp(Vec<IpAddr>),
    /// clusterIP None: its name stands for the ready endpoints.
    Headless,
    /// An alias (CNAME) for this name, lowercased, without the final dot.
    External(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Empty for an unnamed port (no SRV record).
    pub name: String,
    /// Lowercase: `tcp`, `udp`, `sctp`.
    pub proto: String,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// The endpoint's hostname, or its address with dashes (`10-42-0-5`) as CoreDNS names
    /// an endpoint without one.
    pub host: String,
    /// The ports of the slice the endpoint came from.
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svc {
    pub kind: Kind,
    pub ports: Vec<Port>,
    /// Ready endpoints (serving, for publishNotReadyAddresses the controller marks all
    /// ready), first by address.
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, Default)]
pub struct Index {
    /// By namespace, then name (looked up with borrowed labels, no allocation per query).
    pub services: HashMap<String, HashMap<String, Svc>>,
    /// Address to (namespace, service, endpoint host or None for a cluster IP).
    pub reverse: HashMap<IpAddr, Vec<(String, String, Option<String>)>>,
}

impl Index {
    pub fn service(&self, ns: &str, name: &str) -> Option<&Svc> {
        self.services.get(ns)?.get(name)
    }

    pub fn len(&self) -> usize {
        self.services.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

pub fn dashed(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

fn ports_of<'a>(
    it: impl Iterator<Item = (Option<&'a String>, Option<&'a String>, Option<i32>)>,
) -> Vec<Port> {
    it.filter_map(|(name, proto, port)| {
        Some(Port {
            name: name.cloned().unwrap_or_default().to_lowercase(),
            proto: proto.map_or("TCP", |p| p.as_str()).to_lowercase(),
            port: u16::try_from(port?).ok()?,
        })
    })
    .collect()
}

pub fn build(services: &[Service], slices: &[EndpointSlice]) -> Index {
    let mut endpoints: HashMap<(String, String), Vec<Endpoint>> = HashMap::new();
    for s in slices {
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let ports = ports_of(
            s.ports
                .iter()
                .flatten()
                .map(|p| (p.name.as_ref(), p.protocol.as_ref(), p.port)),
        );
        let list = endpoints.entry((ns, svc.clone())).or_default();
        for e in s.endpoints.iter().flatten() {
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for a in &e.addresses {
                let Ok(ip) = a.parse::<IpAddr>() else {
                    continue;
                };
                let host = e
                    .hostname
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| dashed(&ip))
                    .to_lowercase();
                list.push(Endpoint {
                    ip,
                    host,
                    ports: ports.clone(),
                });
            }
        }
    }
    let mut index = Index::default();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            let target = spec.external_name.clone().unwrap_or_default();
            Kind::External(target.trim_end_matches('.').to_lowercase())
        } else {
            let ips: Vec<IpAddr> = spec
                .cluster_ips
                .iter()
                .flatten()
                .chain(spec.cluster_ip.iter())
                .filter_map(|ip| ip.parse().ok())
                .fold(Vec::new(), |mut v, ip| {
                    if !v.contains(&ip) {
                        v.push(ip);
                    }
                    v
                });
            let headless = spec.cluster_ip.as_deref() == Some("None");
            if headless {
                Kind::Headless
            } else if ips.is_empty() {
                continue; // not allocated yet
            } else {
                Kind::ClusterIp(ips)
            }
        };
        let ports = ports_of(
            spec.ports
                .iter()
                .flatten()
                .map(|p| (p.name.as_ref(), p.protocol.as_ref(), Some(p.port))),
        );
        let mut eps = endpoints
            .remove(&(ns.clone(), name.clone()))
            .unwrap_or_default();
        eps.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| a.host.cmp(&b.host)));
        eps.dedup_by(|a, b| a.ip == b.ip && a.host == b.host);
        if let Kind::ClusterIp(ips) = &kind {
            for ip in ips {
                index
                    .reverse
                    .entry(*ip)
                    .or_default()
                    .push((ns.clone(), name.clone(), None));
            }
        }
        if !matches!(kind, Kind::External(_)) {
            for e in &eps {
                index.reverse.entry(e.ip).or_default().push((
                    ns.clone(),
                    name.clone(),
                    Some(e.host.clone()),
                ));
            }
        }
        index.services.entry(ns).or_default().insert(
            name,
            Svc {
                kind,
                ports,
                endpoints: eps,
            },
        );
    }
    for names in index.reverse.values_mut() {
        names.sort();
        names.dedup();
    }
    index
}
