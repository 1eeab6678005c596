//! The nftables ruleset of the proxy, as one script `nft -f` applies atomically: the
//! table is created (so the delete cannot fail), deleted and written whole in the same
//! transaction, so packets see the old rules or the new, never a mix. Pure.
//!
//! Shape (after upstream's nftables proxier): verdict maps from `ip . proto . port` (cluster,
//! external and load-balancer IPs) and from `proto . port` on local addresses (NodePorts) to
//! a chain per service port, which picks an endpoint chain at random (`numgen`), which
//! DNATs. Traffic that must be masqueraded is marked and masqueraded on the way out. A
//! service port without endpoints is rejected (connection refused) before NAT.

use std::fmt::Write;

use crate::model::{Endpoint, ServicePort};

const MASQ_MARK: &str = "0x4000";

pub struct Settings<'a> {
    pub table: &'a str,
    /// The pod network: traffic to a service from outside it is masqueraded, so that
    /// replies come back through this node.
    pub cluster_cidr: &'a str,
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn svc_chain(p: &ServicePort) -> String {
    format!(
        "svc-{:012x}",
        fnv(&format!("{}/{}", p.key, p.proto.nft())) & 0xffff_ffff_ffff
    )
}

fn ext_chain(p: &ServicePort) -> String {
    format!(
        "ext-{:012x}",
        fnv(&format!("{}/{}", p.key, p.proto.nft())) & 0xffff_ffff_ffff
    )
}

fn ep_chain(p: &ServicePort, e: &Endpoint) -> String {
    let id = format!("{}/{}/{}:{}", p.key, p.proto.nft(), e.ip, e.port);
    format!("ep-{:012x}", fnv(&id) & 0xffff_ffff_ffff)
}

fn affinity_set(p: &ServicePort, e: &Endpoint) -> String {
    format!("aff-{}", &ep_chain(p, e)[3..])
}

fn quote(s: &str) -> String {
    s.replace('"', "'")
}

/// The script that replaces the table with the ruleset for `ports`.
pub fn script(s: &Settings, ports: &[ServicePort]) -> String {
    let t = s.table;
    let mut service_ips = Vec::new();
    let mut node_ports = Vec::new();
    let mut no_ep_ips = Vec::new();
    let mut no_ep_node_ports = Vec::new();
    let mut chains = String::new();
    let mut sets = String::new();
    // An address and port two services claim (a load-balancer port on the node's address,
    // say) goes to the first; a duplicate key would fail the whole transaction.
    let mut taken = std::collections::HashSet::new();
    let mut node_ports_taken = std::collections::HashSet::new();
    for p in ports {
        let proto = p.proto.nft();
        let cluster_eps: Vec<&Endpoint> = p
            .endpoints
            .iter()
            .filter(|e| !p.internal_local || e.local)
            .collect();
        let external_eps: Vec<&Endpoint> = p
            .endpoints
            .iter()
            .filter(|e| !p.external_local || e.local)
            .collect();
        for ip in &p.ips {
            let entry = format!("{ip} . {proto} . {}", p.port);
            if !taken.insert(entry.clone()) {
                continue;
            }
            if cluster_eps.is_empty() {
                no_ep_ips.push(format!("{entry} : goto reject-chain"));
            } else {
                service_ips.push(format!("{entry} : goto {}", svc_chain(p)));
            }
        }
        if let Some(np) = p
            .node_port
            .filter(|np| node_ports_taken.insert((proto, *np)))
        {
            let entry = format!("{proto} . {np}");
            if external_eps.is_empty() {
                no_ep_node_ports.push(format!("{entry} : goto reject-chain"));
            } else {
                node_ports.push(format!("{entry} : goto {}", ext_chain(p)));
            }
        }
        if p.endpoints.is_empty() {
            continue;
        }
        // The service chain: off-cluster sources are masqueraded; a client with affinity
        // returns to its endpoint; else one at random.
        let _ = writeln!(chains, "\tchain {} {{", svc_chain(p));
        let _ = writeln!(
            chains,
            "\t\tcomment \"{}\"",
            quote(&format!("{} {proto}", p.key))
        );
        let _ = writeln!(
            chains,
            "\t\tip saddr != {} jump mark-for-masquerade",
            s.cluster_cidr
        );
        pick(&mut chains, p, &cluster_eps);
        let _ = writeln!(chains, "\t}}");
        if p.node_port.is_some() {
            // Written even when another service took the port: nothing jumps to it then.
            let _ = writeln!(chains, "\tchain {} {{", ext_chain(p));
            if p.external_local {
                // Source IPs are kept: only this node's endpoints, no masquerade.
                pick(&mut chains, p, &external_eps);
            } else {
                let _ = writeln!(chains, "\t\tjump mark-for-masquerade");
                let _ = writeln!(chains, "\t\tgoto {}", svc_chain(p));
            }
            let _ = writeln!(chains, "\t}}");
        }
        for e in &p.endpoints {
            let _ = writeln!(chains, "\tchain {} {{", ep_chain(p, e));
            // Hairpin: a pod reaching itself through the service.
            let _ = writeln!(chains, "\t\tip saddr {} jump mark-for-masquerade", e.ip);
            if let Some(timeout) = p.affinity_seconds {
                let set = affinity_set(p, e);
                let _ = writeln!(
                    sets,
                    "\tset {set} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {timeout}s\n\t}}"
                );
                let _ = writeln!(chains, "\t\tupdate @{set} {{ ip saddr }}");
            }
            let _ = writeln!(
                chains,
                "\t\tmeta l4proto {proto} dnat to {}:{}",
                e.ip, e.port
            );
            let _ = writeln!(chains, "\t}}");
        }
    }
    let map = |name: &str, key: &str, elements: &[String]| {
        let mut m = format!("\tmap {name} {{\n\t\ttype {key} : verdict\n");
        if !elements.is_empty() {
            let _ = writeln!(
                m,
                "\t\telements = {{\n\t\t\t{}\n\t\t}}",
                elements.join(",\n\t\t\t")
            );
        }
        m.push_str("\t}\n");
        m
    };
    let mut out = String::new();
    let _ = writeln!(out, "add table ip {t}");
    let _ = writeln!(out, "delete table ip {t}");
    let _ = writeln!(out, "table ip {t} {{");
    let _ = writeln!(out, "\tcomment \"skiff service proxy\"");
    out.push_str(&sets);
    out.push_str(&map(
        "service-ips",
        "ipv4_addr . inet_proto . inet_service",
        &service_ips,
    ));
    out.push_str(&map(
        "service-nodeports",
        "inet_proto . inet_service",
        &node_ports,
    ));
    out.push_str(&map(
        "no-endpoint-services",
        "ipv4_addr . inet_proto . inet_service",
        &no_ep_ips,
    ));
    out.push_str(&map(
        "no-endpoint-nodeports",
        "inet_proto . inet_service",
        &no_ep_node_ports,
    ));
    out.push_str(&format!(
        "\
\tchain filter-prerouting {{
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tct state new jump service-endpoints-check
\t}}
\tchain filter-output {{
\t\ttype filter hook output priority -110; policy accept;
\t\tct state new jump service-endpoints-check
\t}}
\tchain service-endpoints-check {{
\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services
\t\tfib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports
\t}}
\tchain reject-chain {{
\t\treject
\t}}
\tchain nat-prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}}
\tchain nat-output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tjump services
\t}}
\tchain nat-postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tjump masquerading
\t}}
\tchain services {{
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t\tfib daddr type local meta l4proto . th dport vmap @service-nodeports
\t}}
\tchain mark-for-masquerade {{
\t\tmeta mark set meta mark | {MASQ_MARK}
\t}}
\tchain masquerading {{
\t\tmeta mark & {MASQ_MARK} == 0 return
\t\tmeta mark set meta mark ^ {MASQ_MARK}
\t\tmasquerade fully-random
\t}}
"
    ));
    out.push_str(&chains);
    out.push_str("}\n");
    out
}

/// Sends the client to its remembered endpoint, else to one of `eps` at random.
fn pick(chains: &mut String, p: &ServicePort, eps: &[&Endpoint]) {
    if p.affinity_seconds.is_some() {
        for e in eps {
            let _ = writeln!(
                chains,
                "\t\tip saddr @{} goto {}",
                affinity_set(p, e),
                ep_chain(p, e)
            );
        }
    }
    match eps {
        [] => {
            let _ = writeln!(chains, "\t\tgoto reject-chain");
        }
        [one] => {
            let _ = writeln!(chains, "\t\tgoto {}", ep_chain(p, one));
        }
        many => {
            let arms: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{i} : goto {}", ep_chain(p, e)))
                .collect();
            let _ = writeln!(
                chains,
                "\t\tnumgen random mod {} vmap {{ {} }}",
                many.len(),
                arms.join(", ")
            );
        }
    }
}

/// The script that removes the table (the proxy's exit).
pub fn delete_script(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Proto;

    #[test]
    fn a_ruleset() {
        let ep = |ip: &str, local| Endpoint {
            ip: ip.parse().unwrap(),
            port: 8080,
            local,
        };
        let ports = vec![
            ServicePort {
                key: "default/web:http".into(),
                proto: Proto::Tcp,
                port: 80,
                ips: vec!["10.43.0.20".parse().unwrap()],
                node_port: Some(30080),
                endpoints: vec![ep("10.42.0.5", true), ep("10.42.0.6", false)],
                external_local: false,
                internal_local: false,
                affinity_seconds: None,
            },
            ServicePort {
                key: "default/sticky:".into(),
                proto: Proto::Udp,
                port: 53,
                ips: vec!["10.43.0.30".parse().unwrap()],
                node_port: None,
                endpoints: vec![ep("10.42.0.7", true)],
                external_local: false,
                internal_local: false,
                affinity_seconds: Some(60),
            },
            ServicePort {
                key: "default/empty:".into(),
                proto: Proto::Tcp,
                port: 80,
                ips: vec!["10.43.0.40".parse().unwrap()],
                node_port: Some(30040),
                endpoints: vec![],
                external_local: false,
                internal_local: false,
                affinity_seconds: None,
            },
        ];
        let s = Settings {
            table: "skiff-proxy",
            cluster_cidr: "10.42.0.0/16",
        };
        expect_test::expect_file!["../testdata/ruleset.nft"].assert_eq(&script(&s, &ports));
    }
}
