//! The NetworkPolicy ruleset: one nftables table, replaced whole in one transaction (as
//! the proxy's). Pods on this node's bridge are forwarded through the host (br_netfilter),
//! so one `forward` chain sees every pod's traffic: established flows pass, then an
//! egress-isolated source and an ingress-isolated destination each get a chain that
//! returns on an allowed connection and drops the rest. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::{Allow, PodRules, Proto};

fn chain_name(dir: &str, r: &PodRules) -> String {
    format!("{dir}-{}", r.ip.to_string().replace('.', "-"))
}

fn ports_by_proto(ports: &[(Proto, u16, u16)]) -> BTreeMap<Proto, Vec<String>> {
    let mut by: BTreeMap<Proto, Vec<String>> = BTreeMap::new();
    for (p, a, b) in ports {
        let v = by.entry(*p).or_default();
        if (*a, *b) == (0, 65535) {
            v.push("*".into());
        } else if a == b {
            v.push(a.to_string());
        } else {
            v.push(format!("{a}-{b}"));
        }
    }
    by
}

fn port_matches(ports: &[(Proto, u16, u16)]) -> Vec<String> {
    ports_by_proto(ports)
        .into_iter()
        .map(|(proto, list)| {
            if list.iter().any(|p| p == "*") {
                format!("meta l4proto {}", proto.nft())
            } else {
                format!(
                    "meta l4proto {} th dport {{ {} }}",
                    proto.nft(),
                    list.join(", ")
                )
            }
        })
        .collect()
}

fn block(field: &str, cidr: &str, except: &[String]) -> String {
    if except.is_empty() {
        format!("ip {field} {cidr}")
    } else {
        format!(
            "ip {field} {cidr} ip {field} != {{ {} }}",
            except.join(", ")
        )
    }
}

/// The rule lines of one allowance; `field` is `saddr` (ingress) or `daddr` (egress).
fn lines(a: &Allow, field: &str) -> Vec<String> {
    let ips = |ips: &[std::net::Ipv4Addr]| {
        ips.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match a {
        Allow::All => vec!["return".into()],
        Allow::Peers(p) if p.is_empty() => vec![],
        Allow::Peers(p) => vec![format!("ip {field} {{ {} }} return", ips(p))],
        Allow::Block { cidr, except } => vec![format!("{} return", block(field, cidr, except))],
        Allow::Ports(ports) => port_matches(ports)
            .into_iter()
            .map(|m| format!("{m} return"))
            .collect(),
        Allow::PeersPorts(p, _) if p.is_empty() => vec![],
        Allow::PeersPorts(p, ports) => port_matches(ports)
            .into_iter()
            .map(|m| format!("ip {field} {{ {} }} {m} return", ips(p)))
            .collect(),
        Allow::BlockPorts {
            cidr,
            except,
            ports,
        } => port_matches(ports)
            .into_iter()
            .map(|m| format!("{} {m} return", block(field, cidr, except)))
            .collect(),
        Allow::Triples(t) if t.is_empty() => vec![],
        Allow::Triples(t) => {
            let elems: Vec<String> = t
                .iter()
                .map(|(ip, p, port)| format!("{ip} . {} . {port}", p.nft()))
                .collect();
            vec![format!(
                "ip {field} . meta l4proto . th dport {{ {} }} return",
                elems.join(", ")
            )]
        }
    }
}

pub fn script(table: &str, rules: &[PodRules]) -> String {
    let mut chains = String::new();
    let mut ingress_map = Vec::new();
    let mut egress_map = Vec::new();
    for r in rules {
        for (dir, field, allows, map) in [
            ("in", "saddr", &r.ingress, &mut ingress_map),
            ("out", "daddr", &r.egress, &mut egress_map),
        ] {
            let Some(allows) = allows else { continue };
            let name = chain_name(dir, r);
            map.push(format!("{} : jump {name}", r.ip));
            let _ = writeln!(chains, "\tchain {name} {{");
            let _ = writeln!(chains, "\t\tcomment \"{} {dir}\"", r.pod.replace('"', "'"));
            for a in allows {
                for l in lines(a, field) {
                    let _ = writeln!(chains, "\t\t{l}");
                }
            }
            let _ = writeln!(chains, "\t\tdrop");
            let _ = writeln!(chains, "\t}}");
        }
    }
    let map = |name: &str, elements: &[String]| {
        let mut m = format!("\tmap {name} {{\n\t\ttype ipv4_addr : verdict\n");
        if !elements.is_empty() {
            let _ = writeln!(m, "\t\telements = {{ {} }}", elements.join(", "));
        }
        m.push_str("\t}\n");
        m
    };
    let mut out = format!("add table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n");
    out.push_str("\tcomment \"skiff network policy\"\n");
    out.push_str(&map("egress-isolated", &egress_map));
    out.push_str(&map("ingress-isolated", &ingress_map));
    out.push_str(
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tct state established,related accept\n\t\tip saddr vmap @egress-isolated\n\t\tip daddr vmap @ingress-isolated\n\t}\n",
    );
    out.push_str(&chains);
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ruleset() {
        let rules = vec![
            PodRules {
                ip: "10.42.0.2".parse().unwrap(),
                pod: "app/web".into(),
                ingress: Some(vec![
                    Allow::PeersPorts(
                        vec!["10.42.0.4".parse().unwrap()],
                        vec![(Proto::Tcp, 8080, 8080), (Proto::Udp, 9000, 9010)],
                    ),
                    Allow::Block {
                        cidr: "192.168.0.0/16".into(),
                        except: vec!["192.168.1.0/24".into()],
                    },
                ]),
                egress: None,
            },
            PodRules {
                ip: "10.42.0.3".parse().unwrap(),
                pod: "app/db".into(),
                ingress: Some(vec![]),
                egress: Some(vec![Allow::Triples(vec![(
                    "10.42.0.2".parse().unwrap(),
                    Proto::Tcp,
                    8080,
                )])]),
            },
        ];
        expect_test::expect_file!["../testdata/netpol.nft"]
            .assert_eq(&script("skiff-netpol-n1", &rules));
    }
}
