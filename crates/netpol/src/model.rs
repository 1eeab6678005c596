//! Which connections NetworkPolicies allow to and from this node's pods. Pure.
//!
//! A pod is isolated for ingress (egress) once a policy of its namespace selects it with
//! that policy type; an isolated pod accepts (opens) only what some rule of those policies
//! allows. Peers are resolved to pod IPs now (selectors over pods and namespaces) and to
//! CIDRs (ipBlock with except); ports by number, range (endPort) or name — a named port is
//! looked up on the pod that owns it (the protected pod for ingress, each peer for egress).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

type Labels = BTreeMap<String, String>;

/// Whether a label selector matches (an empty selector matches everything).
pub fn selects(sel: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expr = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        let have = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    by_labels && by_expr
}

pub use proxy::model::Proto;

/// One allowed kind of connection, seen from the protected pod: the other end and the
/// destination port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Allow {
    /// Anything (a rule with no peers and no ports).
    All,
    /// From/to these addresses, any port.
    Peers(Vec<Ipv4Addr>),
    /// From/to this CIDR minus the exceptions, any port.
    Block { cidr: String, except: Vec<String> },
    /// These ports with any peer.
    Ports(Vec<(Proto, u16, u16)>),
    /// These peers on these ports.
    PeersPorts(Vec<Ipv4Addr>, Vec<(Proto, u16, u16)>),
    /// A CIDR on these ports.
    BlockPorts {
        cidr: String,
        except: Vec<String>,
        ports: Vec<(Proto, u16, u16)>,
    },
    /// Exact (peer, proto, port) triples: named ports resolved per peer.
    Triples(Vec<(Ipv4Addr, Proto, u16)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRules {
    pub ip: Ipv4Addr,
    /// `namespace/name`, for comments.
    pub pod: String,
    /// None: not isolated for ingress.
    pub ingress: Option<Vec<Allow>>,
    pub egress: Option<Vec<Allow>>,
}

struct PodView<'a> {
    ns: &'a str,
    labels: Labels,
    ip: Option<Ipv4Addr>,
    pod: &'a Pod,
}

fn view(p: &Pod) -> PodView<'_> {
    PodView {
        ns: p.metadata.namespace.as_deref().unwrap_or("default"),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        ip: p
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok()),
        pod: p,
    }
}

fn named_port(pod: &Pod, name: &str, proto: Proto) -> Option<u16> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name) && Proto::parse(p.protocol.as_deref()) == proto)
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// Ports of a rule for a given pod owning named ports; None = every port.
fn ports_on(ports: &Option<Vec<NetworkPolicyPort>>, owner: &Pod) -> Option<Vec<(Proto, u16, u16)>> {
    let ports = ports.as_ref().filter(|p| !p.is_empty())?;
    let mut out = Vec::new();
    for p in ports {
        let proto = Proto::parse(p.protocol.as_deref());
        match &p.port {
            None => out.push((proto, 0, 65535)),
            Some(IntOrString::Int(n)) => {
                let start = u16::try_from(*n).unwrap_or(0);
                let end = p
                    .end_port
                    .and_then(|e| u16::try_from(e).ok())
                    .unwrap_or(start);
                out.push((proto, start, end.max(start)));
            }
            Some(IntOrString::String(name)) => {
                if let Some(n) = named_port(owner, name, proto) {
                    out.push((proto, n, n));
                }
            }
        }
    }
    Some(out)
}

fn has_named(ports: &Option<Vec<NetworkPolicyPort>>) -> bool {
    ports
        .iter()
        .flatten()
        .any(|p| matches!(p.port, Some(IntOrString::String(_))))
}

/// The pods (with IPs) a peer selects, or its ipBlock.
enum Resolved<'a> {
    Pods(Vec<&'a PodView<'a>>),
    Block(String, Vec<String>),
}

fn resolve<'a>(
    peer: &NetworkPolicyPeer,
    policy_ns: &str,
    pods: &'a [PodView<'a>],
    namespaces: &BTreeMap<String, Labels>,
) -> Resolved<'a> {
    if let Some(b) = &peer.ip_block {
        return Resolved::Block(b.cidr.clone(), b.except.clone().unwrap_or_default());
    }
    let selected = pods
        .iter()
        .filter(|p| p.ip.is_some())
        .filter(|p| match &peer.namespace_selector {
            Some(ns_sel) => namespaces
                .get(p.ns)
                .is_some_and(|labels| selects(ns_sel, labels)),
            None => p.ns == policy_ns,
        })
        .filter(|p| {
            peer.pod_selector
                .as_ref()
                .is_none_or(|sel| selects(sel, &p.labels))
        })
        .collect();
    Resolved::Pods(selected)
}

/// Turns one rule (peers × ports) into allowances for the protected pod `me`.
fn allowances(
    peers: &Option<Vec<NetworkPolicyPeer>>,
    ports: &Option<Vec<NetworkPolicyPort>>,
    ingress: bool,
    me: &Pod,
    policy_ns: &str,
    pods: &[PodView<'_>],
    namespaces: &BTreeMap<String, Labels>,
) -> Vec<Allow> {
    let peers = peers.as_ref().filter(|p| !p.is_empty());
    // Ingress: named ports are the protected pod's. Egress: each peer's.
    let per_peer_named = !ingress && has_named(ports);
    let mut out = Vec::new();
    match peers {
        None => match ports_on(ports, me) {
            None => out.push(Allow::All),
            Some(p) if per_peer_named => {
                // Any destination, named ports: resolved on every known pod.
                let mut triples = Vec::new();
                for peer in pods {
                    if let (Some(ip), Some(ps)) = (peer.ip, ports_on(ports, peer.pod)) {
                        triples.extend(
                            ps.iter()
                                .filter(|(_, a, b)| a == b)
                                .map(|(pr, a, _)| (ip, *pr, *a)),
                        );
                    }
                }
                let numeric: Vec<_> = p;
                if !numeric.is_empty() {
                    out.push(Allow::Ports(numeric));
                }
                out.push(Allow::Triples(triples));
            }
            Some(p) => out.push(Allow::Ports(p)),
        },
        Some(peers) => {
            for peer in peers {
                match resolve(peer, policy_ns, pods, namespaces) {
                    Resolved::Block(cidr, except) => match ports_on(ports, me) {
                        None => out.push(Allow::Block { cidr, except }),
                        Some(p) => out.push(Allow::BlockPorts {
                            cidr,
                            except,
                            ports: p,
                        }),
                    },
                    Resolved::Pods(selected) => {
                        if per_peer_named {
                            let mut triples = Vec::new();
                            for s in &selected {
                                if let (Some(ip), Some(ps)) = (s.ip, ports_on(ports, s.pod)) {
                                    for (pr, a, b) in ps {
                                        if a == b {
                                            triples.push((ip, pr, a));
                                        }
                                    }
                                }
                            }
                            out.push(Allow::Triples(triples));
                            continue;
                        }
                        let ips: Vec<Ipv4Addr> = selected.iter().filter_map(|s| s.ip).collect();
                        match ports_on(ports, me) {
                            None => out.push(Allow::Peers(ips)),
                            Some(p) => out.push(Allow::PeersPorts(ips, p)),
                        }
                    }
                }
            }
        }
    }
    out
}

/// The rules for every pod on `node` that some policy isolates.
pub fn build(
    policies: &[NetworkPolicy],
    pods: &[Pod],
    namespaces: &[Namespace],
    node: &str,
) -> Vec<PodRules> {
    let ns_labels: BTreeMap<String, Labels> = namespaces
        .iter()
        .map(|n| {
            let mut labels = n.metadata.labels.clone().unwrap_or_default();
            // Every namespace carries its name as a label (upstream's API server adds it).
            let name = n.metadata.name.clone().unwrap_or_default();
            labels.insert("kubernetes.io/metadata.name".into(), name.clone());
            (name, labels)
        })
        .collect();
    let views: Vec<PodView> = pods.iter().map(view).collect();
    let mut out = Vec::new();
    for me in views.iter().filter(|p| {
        p.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
            && !p
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false)
    }) {
        let Some(ip) = me.ip else { continue };
        let mut ingress: Option<Vec<Allow>> = None;
        let mut egress: Option<Vec<Allow>> = None;
        for pol in policies {
            let pol_ns = pol.metadata.namespace.as_deref().unwrap_or("default");
            let Some(spec) = &pol.spec else { continue };
            if pol_ns != me.ns
                || !selects(&spec.pod_selector.clone().unwrap_or_default(), &me.labels)
            {
                continue;
            }
            let types: BTreeSet<String> = match &spec.policy_types {
                Some(t) if !t.is_empty() => t.iter().cloned().collect(),
                _ => {
                    let mut t = BTreeSet::from(["Ingress".to_string()]);
                    if spec.egress.is_some() {
                        t.insert("Egress".into());
                    }
                    t
                }
            };
            if types.contains("Ingress") {
                let list = ingress.get_or_insert_with(Vec::new);
                for r in spec.ingress.iter().flatten() {
                    list.extend(allowances(
                        &r.from, &r.ports, true, me.pod, pol_ns, &views, &ns_labels,
                    ));
                }
            }
            if types.contains("Egress") {
                let list = egress.get_or_insert_with(Vec::new);
                for r in spec.egress.iter().flatten() {
                    list.extend(allowances(
                        &r.to, &r.ports, false, me.pod, pol_ns, &views, &ns_labels,
                    ));
                }
            }
        }
        if ingress.is_some() || egress.is_some() {
            for list in [&mut ingress, &mut egress].into_iter().flatten() {
                list.sort();
                list.dedup();
            }
            out.push(PodRules {
                ip,
                pod: format!(
                    "{}/{}",
                    me.ns,
                    me.pod.metadata.name.as_deref().unwrap_or("")
                ),
                ingress,
                egress,
            });
        }
    }
    out.sort_by_key(|r| r.ip);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(
        ns: &str,
        name: &str,
        ip: &str,
        labels: serde_json::Value,
        node: &str,
    ) -> serde_json::Value {
        json!({"metadata": {"namespace": ns, "name": name, "labels": labels},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                 "ports": [{"name": "http", "containerPort": 8080}]}]},
               "status": {"podIP": ip}})
    }

    #[test]
    fn policies_to_rules() {
        let pods: Vec<Pod> = serde_json::from_value(json!([
            pod("app", "web", "10.42.0.2", json!({"app": "web"}), "n1"),
            pod("app", "db", "10.42.0.3", json!({"app": "db"}), "n1"),
            pod("app", "elsewhere", "10.42.1.2", json!({"app": "web"}), "n2"),
            pod(
                "friends",
                "client",
                "10.42.0.4",
                json!({"app": "client"}),
                "n1"
            ),
            pod(
                "strangers",
                "client",
                "10.42.0.5",
                json!({"app": "client"}),
                "n1"
            ),
        ]))
        .unwrap();
        let namespaces: Vec<Namespace> = serde_json::from_value(json!([
            {"metadata": {"name": "app"}},
            {"metadata": {"name": "friends", "labels": {"team": "friends"}}},
            {"metadata": {"name": "strangers"}},
        ]))
        .unwrap();
        let policies: Vec<NetworkPolicy> = serde_json::from_value(json!([
            {"metadata": {"namespace": "app", "name": "default-deny"},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
            {"metadata": {"namespace": "app", "name": "web-from-friends"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                      "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "friends"}}},
                                            {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}],
                                   "ports": [{"port": "http"}, {"port": 9000, "endPort": 9010, "protocol": "UDP"}]}]}},
            {"metadata": {"namespace": "app", "name": "db-egress"},
             "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Egress"],
                      "egress": [{"to": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}}],
                                  "ports": [{"port": "http"}]}]}},
        ]))
        .unwrap();
        let got: Vec<String> = build(&policies, &pods, &namespaces, "n1")
            .iter()
            .map(|r| {
                format!(
                    "{} {}\n  in={:?}\n  out={:?}",
                    r.ip, r.pod, r.ingress, r.egress
                )
            })
            .collect();
        expect_test::expect![[r#"
            10.42.0.2 app/web
              in=Some([PeersPorts([10.42.0.4], [(Tcp, 8080, 8080), (Udp, 9000, 9010)]), BlockPorts { cidr: "192.168.0.0/16", except: ["192.168.1.0/24"], ports: [(Tcp, 8080, 8080), (Udp, 9000, 9010)] }])
              out=None
            10.42.0.3 app/db
              in=Some([])
              out=Some([Triples([(10.42.0.2, Tcp, 8080), (10.42.1.2, Tcp, 8080)])])"#]]
        .assert_eq(&got.join("\n"));
    }

    #[test]
    fn selectors() {
        let labels: Labels = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "1".to_string()),
        ]
        .into();
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["2"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
                false,
            ),
        ];
        for (sel, want) in cases {
            let s: LabelSelector = serde_json::from_value(sel.clone()).unwrap();
            assert_eq!(selects(&s, &labels), want, "{sel}");
        }
    }
}
