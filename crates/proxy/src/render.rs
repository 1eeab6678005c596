//! The nftables ruleset of the proxy, as one script `nft -f` applies atomically: either
//! the table is created (so the delete cannot fail), deleted and written whole in the same
//! transaction ([`script`]), or only what differs from the last ruleset applied is changed
//! ([`update_script`]); either way packets see the old rules or the new, never a mix. Pure.
//!
//! Shape (after upstream's nftables proxier): verdict maps from `ip . proto . port` (cluster,
//! external and load-balancer IPs) and from `proto . port` on local addresses (NodePorts) to
//! a chain per service port, which picks an endpoint chain at random (`numgen`), which
//! DNATs; external and load-balancer IPs and NodePorts go through an external chain first,
//! which applies externalTrafficPolicy. Traffic that must be masqueraded is marked and masqueraded on the way out. A
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

/// The maps of the table, in the order the script declares them, with their key types.
const MAPS: [(&str, &str); 4] = [
    ("service-ips", "ipv4_addr . inet_proto . inet_service"),
    ("service-nodeports", "inet_proto . inet_service"),
    (
        "no-endpoint-services",
        "ipv4_addr . inet_proto . inet_service",
    ),
    ("no-endpoint-nodeports", "inet_proto . inet_service"),
];
const SERVICE_IPS: usize = 0;
const SERVICE_NODEPORTS: usize = 1;
const NO_EP_IPS: usize = 2;
const NO_EP_NODEPORTS: usize = 3;

/// A regular chain the ruleset writes for a service port or endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub comment: Option<String>,
    pub rules: Vec<String>,
}

/// An affinity set: the clients sent to one endpoint, forgotten after `timeout_s`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub timeout_s: i32,
}

/// The part of the table that depends on the services, as named objects, so that two
/// versions can be compared and only their difference sent to the kernel (see
/// [`update_script`]): with 10k services, writing the table whole takes seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub sets: Vec<Set>,
    /// Elements (`key`, `verdict`) of each of [`MAPS`].
    pub maps: [Vec<(String, String)>; 4],
    pub chains: Vec<Chain>,
}

/// The service-dependent rules for `ports`.
pub fn ruleset(s: &Settings, ports: &[ServicePort]) -> Ruleset {
    let mut rs = Ruleset::default();
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
        // Cluster IPs go to the service chain; external and load-balancer IPs to the
        // external chain, as NodePorts.
        let (svc, ext) = (svc_chain(p), ext_chain(p));
        let by_ip = [
            (&p.ips, cluster_eps.is_empty(), &svc),
            (&p.external_ips, external_eps.is_empty(), &ext),
        ];
        for (ips, no_endpoints, chain) in by_ip {
            for ip in ips {
                let entry = format!("{ip} . {proto} . {}", p.port);
                if !taken.insert(entry.clone()) {
                    continue;
                }
                if no_endpoints {
                    rs.maps[NO_EP_IPS].push((entry, "goto reject-chain".into()));
                } else {
                    rs.maps[SERVICE_IPS].push((entry, format!("goto {chain}")));
                }
            }
        }
        if let Some(np) = p
            .node_port
            .filter(|np| node_ports_taken.insert((proto, *np)))
        {
            let entry = format!("{proto} . {np}");
            if external_eps.is_empty() {
                rs.maps[NO_EP_NODEPORTS].push((entry, "goto reject-chain".into()));
            } else {
                rs.maps[SERVICE_NODEPORTS].push((entry, format!("goto {ext}")));
            }
        }
        if p.endpoints.is_empty() {
            continue;
        }
        // The service chain: off-cluster sources are masqueraded; a client with affinity
        // returns to its endpoint; else one at random.
        let mut rules = vec![format!(
            "ip saddr != {} jump mark-for-masquerade",
            s.cluster_cidr
        )];
        pick(&mut rules, p, &cluster_eps);
        rs.chains.push(Chain {
            name: svc.clone(),
            comment: Some(quote(&format!("{} {proto}", p.key))),
            rules,
        });
        if p.node_port.is_some() || !p.external_ips.is_empty() {
            // Written even when another service took the port: nothing jumps to it then.
            let mut rules = Vec::new();
            if p.external_local {
                // Pods reaching the service's external address go anywhere, as to its
                // cluster IP (upstream's short cut); other sources keep their IP: only
                // this node's endpoints, no masquerade.
                if !cluster_eps.is_empty() {
                    rules.push(format!("ip saddr {} goto {svc}", s.cluster_cidr));
                }
                pick(&mut rules, p, &external_eps);
            } else {
                rules.push("jump mark-for-masquerade".into());
                if p.internal_local {
                    // internalTrafficPolicy narrows cluster IP traffic only.
                    let all: Vec<&Endpoint> = p.endpoints.iter().collect();
                    pick(&mut rules, p, &all);
                } else {
                    rules.push(format!("goto {svc}"));
                }
            }
            rs.chains.push(Chain {
                name: ext.clone(),
                comment: None,
                rules,
            });
        }
        for e in &p.endpoints {
            // Hairpin: a pod reaching itself through the service.
            let mut rules = vec![format!("ip saddr {} jump mark-for-masquerade", e.ip)];
            if let Some(timeout_s) = p.affinity_seconds {
                let set = affinity_set(p, e);
                rules.push(format!("update @{set} {{ ip saddr }}"));
                rs.sets.push(Set {
                    name: set,
                    timeout_s,
                });
            }
            rules.push(format!("meta l4proto {proto} dnat to {}:{}", e.ip, e.port));
            rs.chains.push(Chain {
                name: ep_chain(p, e),
                comment: None,
                rules,
            });
        }
    }
    rs
}

/// The script that replaces the table with `rs` (and the fixed chains) in one transaction.
pub fn script(s: &Settings, rs: &Ruleset) -> String {
    let t = s.table;
    let mut out = String::new();
    let _ = writeln!(out, "add table ip {t}");
    let _ = writeln!(out, "delete table ip {t}");
    let _ = writeln!(out, "table ip {t} {{");
    let _ = writeln!(out, "\tcomment \"skiff service proxy\"");
    for set in &rs.sets {
        let _ = writeln!(
            out,
            "\tset {} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {}s\n\t}}",
            set.name, set.timeout_s
        );
    }
    for ((name, key), elements) in MAPS.iter().zip(&rs.maps) {
        let _ = writeln!(out, "\tmap {name} {{\n\t\ttype {key} : verdict");
        if !elements.is_empty() {
            let elements: Vec<String> =
                elements.iter().map(|(k, v)| format!("{k} : {v}")).collect();
            let _ = writeln!(
                out,
                "\t\telements = {{\n\t\t\t{}\n\t\t}}",
                elements.join(",\n\t\t\t")
            );
        }
        out.push_str("\t}\n");
    }
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
    for c in &rs.chains {
        let _ = writeln!(out, "\tchain {} {{", c.name);
        if let Some(comment) = &c.comment {
            let _ = writeln!(out, "\t\tcomment \"{comment}\"");
        }
        for r in &c.rules {
            let _ = writeln!(out, "\t\t{r}");
        }
        let _ = writeln!(out, "\t}}");
    }
    out.push_str("}\n");
    out
}

/// The transaction that turns table `table`, holding `old` (as [`script`] wrote it, then
/// updated by earlier calls), into `new`: only the chains, sets and map elements that
/// differ, in an order the kernel accepts inside one transaction — new objects first,
/// then changed chains and map elements, then what nothing refers to any more. Empty when
/// nothing changed; `None` when the difference cannot be written as an update (a chain's
/// comment or a set's timeout changed under the same name) and the table must be
/// written whole.
pub fn update_script(table: &str, old: &Ruleset, new: &Ruleset) -> Option<String> {
    use std::collections::HashMap;
    let t = table;
    let old_sets: HashMap<&str, &Set> = old.sets.iter().map(|x| (x.name.as_str(), x)).collect();
    let new_sets: HashMap<&str, &Set> = new.sets.iter().map(|x| (x.name.as_str(), x)).collect();
    let old_chains: HashMap<&str, &Chain> =
        old.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let new_chains: HashMap<&str, &Chain> =
        new.chains.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut out = String::new();
    for set in &new.sets {
        match old_sets.get(set.name.as_str()) {
            Some(o) if o.timeout_s != set.timeout_s => return None,
            Some(_) => {}
            None => {
                let _ = writeln!(
                    out,
                    "add set ip {t} {} {{ type ipv4_addr; flags dynamic,timeout; timeout {}s; }}",
                    set.name, set.timeout_s
                );
            }
        }
    }
    // Every new chain exists before any rule jumps to it.
    for c in &new.chains {
        match old_chains.get(c.name.as_str()) {
            Some(o) if o.comment != c.comment => return None,
            Some(_) => {}
            None => match &c.comment {
                Some(comment) => {
                    let _ = writeln!(
                        out,
                        "add chain ip {t} {} {{ comment \"{comment}\"; }}",
                        c.name
                    );
                }
                None => {
                    let _ = writeln!(out, "add chain ip {t} {}", c.name);
                }
            },
        }
    }
    for c in &new.chains {
        match old_chains.get(c.name.as_str()) {
            Some(o) if o.rules == c.rules => continue,
            Some(_) => {
                let _ = writeln!(out, "flush chain ip {t} {}", c.name);
            }
            None => {}
        }
        for r in &c.rules {
            let _ = writeln!(out, "add rule ip {t} {} {r}", c.name);
        }
    }
    for (i, (map, _)) in MAPS.iter().enumerate() {
        let old_elements: HashMap<&str, &str> = old.maps[i]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let new_elements: HashMap<&str, &str> = new.maps[i]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // A changed verdict is deleted and added again: `add` keeps an existing element.
        for (k, v) in &old.maps[i] {
            if new_elements.get(k.as_str()) != Some(&v.as_str()) {
                let _ = writeln!(out, "delete element ip {t} {map} {{ {k} }}");
            }
        }
        for (k, v) in &new.maps[i] {
            if old_elements.get(k.as_str()) != Some(&v.as_str()) {
                let _ = writeln!(out, "add element ip {t} {map} {{ {k} : {v} }}");
            }
        }
    }
    // Chains that go may refer to each other (a service chain to its endpoints'): all are
    // emptied before any is deleted.
    let gone: Vec<&Chain> = old
        .chains
        .iter()
        .filter(|c| !new_chains.contains_key(c.name.as_str()))
        .collect();
    for c in &gone {
        let _ = writeln!(out, "flush chain ip {t} {}", c.name);
    }
    for c in &gone {
        let _ = writeln!(out, "delete chain ip {t} {}", c.name);
    }
    for set in &old.sets {
        if !new_sets.contains_key(set.name.as_str()) {
            let _ = writeln!(out, "delete set ip {t} {}", set.name);
        }
    }
    Some(out)
}

/// Sends the client to its remembered endpoint, else to one of `eps` at random: rule i of
/// n takes the packet with probability 1/(n-i), so each endpoint gets 1/n. (One anonymous
/// `numgen ... vmap` per service would be shorter, but the kernel creates anonymous sets in
/// time growing with their number: 10k services took 20 s to load instead of 2.)
fn pick(rules: &mut Vec<String>, p: &ServicePort, eps: &[&Endpoint]) {
    if p.affinity_seconds.is_some() {
        for e in eps {
            rules.push(format!(
                "ip saddr @{} goto {}",
                affinity_set(p, e),
                ep_chain(p, e)
            ));
        }
    }
    if eps.is_empty() {
        rules.push("goto reject-chain".into());
    }
    for (i, e) in eps.iter().enumerate() {
        let left = eps.len() - i;
        if left == 1 {
            rules.push(format!("goto {}", ep_chain(p, e)));
        } else {
            rules.push(format!(
                "numgen random mod {left} == 0 goto {}",
                ep_chain(p, e)
            ));
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

    const SETTINGS: Settings = Settings {
        table: "skiff-proxy",
        cluster_cidr: "10.42.0.0/16",
    };

    fn ep(ip: &str, local: bool) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port: 8080,
            local,
        }
    }

    fn port(key: &str, ip: &str, endpoints: Vec<Endpoint>) -> ServicePort {
        ServicePort {
            key: key.into(),
            proto: Proto::Tcp,
            port: 80,
            ips: vec![ip.parse().unwrap()],
            external_ips: Vec::new(),
            node_port: None,
            endpoints,
            external_local: false,
            internal_local: false,
            affinity_seconds: None,
        }
    }

    #[test]
    fn a_ruleset() {
        let ports = vec![
            ServicePort {
                node_port: Some(30080),
                ..port(
                    "default/web:http",
                    "10.43.0.20",
                    vec![ep("10.42.0.5", true), ep("10.42.0.6", false)],
                )
            },
            ServicePort {
                proto: Proto::Udp,
                port: 53,
                affinity_seconds: Some(60),
                ..port("default/sticky:", "10.43.0.30", vec![ep("10.42.0.7", true)])
            },
            ServicePort {
                node_port: Some(30040),
                ..port("default/empty:", "10.43.0.40", vec![])
            },
            port(
                "default/three:",
                "10.43.0.50",
                vec![
                    ep("10.42.0.8", false),
                    ep("10.42.0.9", false),
                    ep("10.42.0.10", false),
                ],
            ),
        ];
        expect_test::expect_file!["../testdata/ruleset.nft"]
            .assert_eq(&script(&SETTINGS, &ruleset(&SETTINGS, &ports)));
    }

    /// The maps' elements and the chains of `ports`' ruleset, a line each.
    fn outline(ports: &[ServicePort]) -> String {
        let rs = ruleset(&SETTINGS, ports);
        let mut out = String::new();
        for ((name, _), elements) in MAPS.iter().zip(&rs.maps) {
            for (k, v) in elements {
                let _ = writeln!(out, "{name}: {k} : {v}");
            }
        }
        for c in &rs.chains {
            let _ = writeln!(out, "{}: {}", c.name, c.rules.join("; "));
        }
        out
    }

    #[test]
    fn external_addresses_follow_the_external_policy() {
        let lb = |external_local, internal_local, eps| ServicePort {
            external_ips: vec!["192.168.1.10".parse().unwrap()],
            node_port: Some(30080),
            external_local,
            internal_local,
            ..port("default/web:", "10.43.0.20", eps)
        };
        let mixed = || vec![ep("10.42.0.5", true), ep("10.42.1.5", false)];
        let mut got = String::new();
        for (case, p) in [
            ("Cluster", lb(false, false, mixed())),
            ("Local", lb(true, false, mixed())),
            (
                "Local, no endpoint here",
                lb(true, false, vec![ep("10.42.1.5", false)]),
            ),
            ("Cluster, internal Local", lb(false, true, mixed())),
        ] {
            let _ = writeln!(got, "== {case}\n{}", outline(&[p]));
        }
        expect_test::expect![[r#"
            == Cluster
            service-ips: 10.43.0.20 . tcp . 80 : goto svc-f88fd7d31eab
            service-ips: 192.168.1.10 . tcp . 80 : goto ext-f88fd7d31eab
            service-nodeports: tcp . 30080 : goto ext-f88fd7d31eab
            svc-f88fd7d31eab: ip saddr != 10.42.0.0/16 jump mark-for-masquerade; numgen random mod 2 == 0 goto ep-c31bf42271a6; goto ep-94b30f4e008f
            ext-f88fd7d31eab: jump mark-for-masquerade; goto svc-f88fd7d31eab
            ep-c31bf42271a6: ip saddr 10.42.0.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.0.5:8080
            ep-94b30f4e008f: ip saddr 10.42.1.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.1.5:8080

            == Local
            service-ips: 10.43.0.20 . tcp . 80 : goto svc-f88fd7d31eab
            service-ips: 192.168.1.10 . tcp . 80 : goto ext-f88fd7d31eab
            service-nodeports: tcp . 30080 : goto ext-f88fd7d31eab
            svc-f88fd7d31eab: ip saddr != 10.42.0.0/16 jump mark-for-masquerade; numgen random mod 2 == 0 goto ep-c31bf42271a6; goto ep-94b30f4e008f
            ext-f88fd7d31eab: ip saddr 10.42.0.0/16 goto svc-f88fd7d31eab; goto ep-c31bf42271a6
            ep-c31bf42271a6: ip saddr 10.42.0.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.0.5:8080
            ep-94b30f4e008f: ip saddr 10.42.1.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.1.5:8080

            == Local, no endpoint here
            service-ips: 10.43.0.20 . tcp . 80 : goto svc-f88fd7d31eab
            no-endpoint-services: 192.168.1.10 . tcp . 80 : goto reject-chain
            no-endpoint-nodeports: tcp . 30080 : goto reject-chain
            svc-f88fd7d31eab: ip saddr != 10.42.0.0/16 jump mark-for-masquerade; goto ep-94b30f4e008f
            ext-f88fd7d31eab: ip saddr 10.42.0.0/16 goto svc-f88fd7d31eab; goto reject-chain
            ep-94b30f4e008f: ip saddr 10.42.1.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.1.5:8080

            == Cluster, internal Local
            service-ips: 10.43.0.20 . tcp . 80 : goto svc-f88fd7d31eab
            service-ips: 192.168.1.10 . tcp . 80 : goto ext-f88fd7d31eab
            service-nodeports: tcp . 30080 : goto ext-f88fd7d31eab
            svc-f88fd7d31eab: ip saddr != 10.42.0.0/16 jump mark-for-masquerade; goto ep-c31bf42271a6
            ext-f88fd7d31eab: jump mark-for-masquerade; numgen random mod 2 == 0 goto ep-c31bf42271a6; goto ep-94b30f4e008f
            ep-c31bf42271a6: ip saddr 10.42.0.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.0.5:8080
            ep-94b30f4e008f: ip saddr 10.42.1.5 jump mark-for-masquerade; meta l4proto tcp dnat to 10.42.1.5:8080

        "#]].assert_eq(&got);
    }

    /// The update from `old` to `new`, or `WHOLE` when the table must be written whole.
    fn check_update(old: &[ServicePort], new: &[ServicePort], expect: expect_test::Expect) {
        let got = update_script(
            SETTINGS.table,
            &ruleset(&SETTINGS, old),
            &ruleset(&SETTINGS, new),
        );
        expect.assert_eq(got.as_deref().unwrap_or("WHOLE\n"));
    }

    fn two() -> Vec<Endpoint> {
        vec![ep("10.42.0.5", false), ep("10.42.0.6", false)]
    }

    #[test]
    fn nothing_changed() {
        let ports = [port("default/web:", "10.43.0.20", two())];
        check_update(&ports, &ports, expect_test::expect![[""]]);
    }

    #[test]
    fn an_endpoint_added() {
        let mut three = two();
        three.push(ep("10.42.0.7", false));
        check_update(
            &[port("default/web:", "10.43.0.20", two())],
            &[port("default/web:", "10.43.0.20", three)],
            expect_test::expect![[r#"
                add chain ip skiff-proxy ep-68f1cbd228ac
                flush chain ip skiff-proxy svc-f88fd7d31eab
                add rule ip skiff-proxy svc-f88fd7d31eab ip saddr != 10.42.0.0/16 jump mark-for-masquerade
                add rule ip skiff-proxy svc-f88fd7d31eab numgen random mod 3 == 0 goto ep-c31bf42271a6
                add rule ip skiff-proxy svc-f88fd7d31eab numgen random mod 2 == 0 goto ep-ee074b0b0271
                add rule ip skiff-proxy svc-f88fd7d31eab goto ep-68f1cbd228ac
                add rule ip skiff-proxy ep-68f1cbd228ac ip saddr 10.42.0.7 jump mark-for-masquerade
                add rule ip skiff-proxy ep-68f1cbd228ac meta l4proto tcp dnat to 10.42.0.7:8080
            "#]],
        );
    }

    #[test]
    fn an_endpoint_removed() {
        check_update(
            &[port("default/web:", "10.43.0.20", two())],
            &[port(
                "default/web:",
                "10.43.0.20",
                vec![ep("10.42.0.6", false)],
            )],
            expect_test::expect![[r#"
                flush chain ip skiff-proxy svc-f88fd7d31eab
                add rule ip skiff-proxy svc-f88fd7d31eab ip saddr != 10.42.0.0/16 jump mark-for-masquerade
                add rule ip skiff-proxy svc-f88fd7d31eab goto ep-ee074b0b0271
                flush chain ip skiff-proxy ep-c31bf42271a6
                delete chain ip skiff-proxy ep-c31bf42271a6
            "#]],
        );
    }

    #[test]
    fn the_last_endpoint_gone() {
        check_update(
            &[port(
                "default/web:",
                "10.43.0.20",
                vec![ep("10.42.0.6", false)],
            )],
            &[port("default/web:", "10.43.0.20", vec![])],
            expect_test::expect![[r#"
                delete element ip skiff-proxy service-ips { 10.43.0.20 . tcp . 80 }
                add element ip skiff-proxy no-endpoint-services { 10.43.0.20 . tcp . 80 : goto reject-chain }
                flush chain ip skiff-proxy svc-f88fd7d31eab
                flush chain ip skiff-proxy ep-ee074b0b0271
                delete chain ip skiff-proxy svc-f88fd7d31eab
                delete chain ip skiff-proxy ep-ee074b0b0271
            "#]],
        );
    }

    #[test]
    fn a_service_added_with_affinity() {
        let web = port("default/web:", "10.43.0.20", two());
        let sticky = ServicePort {
            affinity_seconds: Some(60),
            node_port: Some(30053),
            ..port(
                "default/sticky:",
                "10.43.0.30",
                vec![ep("10.42.0.7", false)],
            )
        };
        check_update(
            std::slice::from_ref(&web),
            &[web.clone(), sticky],
            expect_test::expect![[r#"
                add set ip skiff-proxy aff-5717035580f3 { type ipv4_addr; flags dynamic,timeout; timeout 60s; }
                add chain ip skiff-proxy svc-00480dffc88a { comment "default/sticky: tcp"; }
                add chain ip skiff-proxy ext-00480dffc88a
                add chain ip skiff-proxy ep-5717035580f3
                add rule ip skiff-proxy svc-00480dffc88a ip saddr != 10.42.0.0/16 jump mark-for-masquerade
                add rule ip skiff-proxy svc-00480dffc88a ip saddr @aff-5717035580f3 goto ep-5717035580f3
                add rule ip skiff-proxy svc-00480dffc88a goto ep-5717035580f3
                add rule ip skiff-proxy ext-00480dffc88a jump mark-for-masquerade
                add rule ip skiff-proxy ext-00480dffc88a goto svc-00480dffc88a
                add rule ip skiff-proxy ep-5717035580f3 ip saddr 10.42.0.7 jump mark-for-masquerade
                add rule ip skiff-proxy ep-5717035580f3 update @aff-5717035580f3 { ip saddr }
                add rule ip skiff-proxy ep-5717035580f3 meta l4proto tcp dnat to 10.42.0.7:8080
                add element ip skiff-proxy service-ips { 10.43.0.30 . tcp . 80 : goto svc-00480dffc88a }
                add element ip skiff-proxy service-nodeports { tcp . 30053 : goto ext-00480dffc88a }
            "#]],
        );
    }

    #[test]
    fn a_service_with_affinity_removed() {
        let web = port("default/web:", "10.43.0.20", two());
        let sticky = ServicePort {
            affinity_seconds: Some(60),
            ..port(
                "default/sticky:",
                "10.43.0.30",
                vec![ep("10.42.0.7", false)],
            )
        };
        check_update(
            &[sticky, web.clone()],
            &[web],
            expect_test::expect![[r#"
                delete element ip skiff-proxy service-ips { 10.43.0.30 . tcp . 80 }
                flush chain ip skiff-proxy svc-00480dffc88a
                flush chain ip skiff-proxy ep-5717035580f3
                delete chain ip skiff-proxy svc-00480dffc88a
                delete chain ip skiff-proxy ep-5717035580f3
                delete set ip skiff-proxy aff-5717035580f3
            "#]],
        );
    }

    #[test]
    fn an_affinity_timeout_changed_writes_the_table_whole() {
        let sticky = |s| ServicePort {
            affinity_seconds: Some(s),
            ..port(
                "default/sticky:",
                "10.43.0.30",
                vec![ep("10.42.0.7", false)],
            )
        };
        check_update(
            &[sticky(60)],
            &[sticky(30)],
            expect_test::expect![[r#"
            WHOLE
        "#]],
        );
    }
}
