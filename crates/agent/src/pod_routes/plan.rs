//! host-gw route planning (pure): which other nodes' podCIDRs this node routes to their
//! InternalIP, and what changes the kernel's table needs.
//!
//! Networking safety (DESIGN.md): a route is planned only for a podCIDR inside the
//! cluster CIDR, through the InternalIP of a node registered in this cluster that `ip route
//! get` says is a neighbour (no gateway, as with flannel's host-gw), inside the subnet of an
//! address of that interface (not merely behind a `dev` route), on a broadcast link (not a
//! point-to-point tunnel, whose far end could be anything), not on the pod bridge and not a
//! router of this machine (which would forward the packets on). The packets go to that
//! node and no further.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::routes::{parse_prefix, METRIC};

/// What a node's API object says about its pod network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub pod_cidr: Option<String>,
    pub internal_ip: Option<String>,
}

/// This node's view of the cluster's addresses.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub own_node: String,
    /// Pod CIDRs must lie inside it.
    pub cluster_cidr: (Ipv4Addr, u8),
    /// A next hop inside any of these (the cluster and service CIDRs) is refused, and so is
    /// a podCIDR overlapping one (its route could replace that range's `unreachable` one).
    pub no_gateway_in: Vec<(Ipv4Addr, u8)>,
    /// This node's own podCIDR as the agent configured its bridge: claimed even while the
    /// watch has no Node object of ours.
    pub own_pod_cidr: Option<(Ipv4Addr, u8)>,
}

/// A route this node wants: `prefix via gateway`, for `node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub node: String,
    pub gateway: Ipv4Addr,
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

/// Whether `inner` (a prefix) lies inside `outer`.
fn within(inner: (Ipv4Addr, u8), outer: (Ipv4Addr, u8)) -> bool {
    inner.1 >= outer.1 && u32::from(inner.0) & mask(outer.1) == u32::from(outer.0)
}

fn contains(net: (Ipv4Addr, u8), ip: Ipv4Addr) -> bool {
    within((ip, 32), net)
}

/// The routes worth checking for reachability, by podCIDR (`a.b.c.d/n`), and the nodes
/// skipped with why. Nodes without a podCIDR or InternalIP yet are left out silently
/// (they are still registering). A podCIDR must be a strict part of the cluster CIDR and
/// overlap no other node's (this node's included): such a route could shadow a bridge or
/// replace the `unreachable` route of the cluster CIDR itself.
pub fn candidates(
    cluster: &Cluster,
    nodes: &[NodeFacts],
) -> (BTreeMap<String, Wanted>, Vec<(String, String)>) {
    let mut skipped = Vec::new();
    let own_facts = NodeFacts {
        name: cluster.own_node.clone(),
        pod_cidr: None,
        internal_ip: None,
    };
    let mut claims: Vec<(&NodeFacts, (Ipv4Addr, u8), Option<Ipv4Addr>)> = Vec::new();
    if let Some(own) = cluster.own_pod_cidr {
        claims.push((&own_facts, own, None));
    }
    for n in nodes {
        let own = n.name == cluster.own_node;
        let Some(cidr) = &n.pod_cidr else {
            continue;
        };
        if !own && n.internal_ip.is_none() {
            continue;
        }
        let Some(prefix) = parse_prefix(cidr) else {
            if !own {
                skipped.push((
                    n.name.clone(),
                    format!("podCIDR {cidr:?} is not an IPv4 prefix"),
                ));
            }
            continue;
        };
        if own {
            if cluster.own_pod_cidr != Some(prefix) {
                claims.push((n, prefix, None));
            }
            continue;
        }
        let reserved = cluster
            .no_gateway_in
            .iter()
            .filter(|net| **net != cluster.cluster_cidr)
            .any(|net| within(prefix, *net) || within(*net, prefix));
        if reserved {
            skipped.push((
                n.name.clone(),
                format!("podCIDR {cidr} overlaps the service CIDR"),
            ));
            continue;
        }
        if prefix.1 <= cluster.cluster_cidr.1 || !within(prefix, cluster.cluster_cidr) {
            skipped.push((
                n.name.clone(),
                format!("podCIDR {cidr} is not a part of the cluster CIDR"),
            ));
            continue;
        }
        let ip = n.internal_ip.as_deref().unwrap_or_default();
        let Ok(gateway) = ip.parse::<Ipv4Addr>() else {
            skipped.push((n.name.clone(), format!("InternalIP {ip:?} is not IPv4")));
            continue;
        };
        if gateway.is_loopback()
            || gateway.is_unspecified()
            || gateway.is_multicast()
            || gateway.is_broadcast()
            || cluster
                .no_gateway_in
                .iter()
                .chain([&cluster.cluster_cidr])
                .any(|net| contains(*net, gateway))
        {
            skipped.push((
                n.name.clone(),
                format!("InternalIP {gateway} cannot be a next hop"),
            ));
            continue;
        }
        claims.push((n, prefix, Some(gateway)));
    }
    let mut wanted = BTreeMap::new();
    for (i, (n, prefix, gateway)) in claims.iter().enumerate() {
        let Some(gateway) = gateway else {
            continue;
        };
        let key = format!("{}/{}", prefix.0, prefix.1);
        let overlap = claims.iter().enumerate().find(|(j, (_, other, _))| {
            *j != i && (within(*prefix, *other) || within(*other, *prefix))
        });
        if let Some((_, (other, _, _))) = overlap {
            skipped.push((
                n.name.clone(),
                format!("podCIDR {key} overlaps node {}'s", other.name),
            ));
            continue;
        }
        wanted.insert(
            key,
            Wanted {
                node: n.name.clone(),
                gateway: *gateway,
            },
        );
    }
    (wanted, skipped)
}

/// How the kernel would reach a node's address (`ip -4 route get` output, first line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// On a directly connected subnet of this interface.
    Neighbour { dev: String },
    /// Through a gateway: host-gw cannot route to it.
    Gateway,
    /// One of this machine's own addresses (another node on the same machine).
    Local,
    /// unreachable, blackhole, broadcast, or an answer we do not understand.
    Other(String),
}

pub fn parse_route_get(out: &str) -> Reach {
    let line = out.lines().next().unwrap_or("").trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.first() {
        Some(&"local") => Reach::Local,
        Some(w) if w.parse::<Ipv4Addr>().is_ok() => {
            if words.contains(&"via") {
                return Reach::Gateway;
            }
            match words.iter().position(|w| *w == "dev") {
                Some(i) if i + 1 < words.len() => Reach::Neighbour {
                    dev: words[i + 1].to_string(),
                },
                _ => Reach::Other(line.to_string()),
            }
        }
        _ => Reach::Other(line.to_string()),
    }
}

/// Why a route through a node reached as `reach` is not installed, or None to install it.
pub fn refuse(reach: &Reach, bridge: &str) -> Option<String> {
    match reach {
        Reach::Neighbour { dev } if dev == bridge => {
            Some(format!("its InternalIP is on the pod bridge {bridge}"))
        }
        Reach::Neighbour { .. } => None,
        Reach::Gateway => Some(
            "its InternalIP is not on a directly connected subnet (host-gw needs the nodes on one L2 network)"
                .into(),
        ),
        // Another node of this machine: its pods are on a bridge here already.
        Reach::Local => Some("its InternalIP is an address of this machine".into()),
        Reach::Other(line) => Some(format!("its InternalIP is not routable here ({line})")),
    }
}

/// What this machine's links say about a neighbour (from `ip -4 -o addr show`,
/// `ip -4 route show` and the interfaces' flags).
#[derive(Clone, Debug, Default)]
pub struct Links {
    /// Each interface's addresses with their prefix length.
    pub addrs: Vec<(String, (Ipv4Addr, u8))>,
    /// Next hops of this machine's own routes (its routers).
    pub routers: Vec<Ipv4Addr>,
    /// Point-to-point or ARP-less interfaces (tunnels, ppp, WireGuard).
    pub not_broadcast: Vec<String>,
}

/// `ip -4 -o addr show` lines: `2: eth0    inet 192.0.2.2/24 brd ... scope global eth0 ...`.
pub fn parse_addrs(out: &str) -> Vec<(String, (Ipv4Addr, u8))> {
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "inet")?;
            let dev = w.get(1)?.trim_end_matches(':');
            let dev = dev.split('@').next().unwrap_or(dev).to_string();
            let (ip, len) = w.get(i + 1)?.split_once('/')?;
            Some((dev, (ip.parse().ok()?, len.parse().ok()?)))
        })
        .collect()
}

/// Every `via` of `ip -4 route show table all`, but those of our own pod routes (metric
/// [`METRIC`]): a node we route to is not thereby a router.
pub fn parse_routers(out: &str) -> Vec<Ipv4Addr> {
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let ours = w.windows(2).any(|p| p[0] == "metric" && p[1] == METRIC);
            if ours {
                return None;
            }
            let i = w.iter().position(|x| *x == "via")?;
            w.get(i + 1)?.parse().ok()
        })
        .collect()
}

/// IFF_POINTOPOINT or IFF_NOARP in an interface's `flags` (`/sys/class/net/DEV/flags`).
pub fn not_broadcast_flags(flags: &str) -> bool {
    let v = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    v & (0x10 | 0x80) != 0
}

/// Why a neighbour `gateway` on `dev` is still refused, or None.
pub fn refuse_neighbour(gateway: Ipv4Addr, dev: &str, links: &Links) -> Option<String> {
    if links.not_broadcast.iter().any(|d| d == dev) {
        return Some(format!(
            "its InternalIP is reached over the point-to-point link {dev}"
        ));
    }
    if links.routers.contains(&gateway) {
        return Some(format!(
            "its InternalIP {gateway} is a router of this machine"
        ));
    }
    let on_subnet = links.addrs.iter().any(|(d, (ip, len))| {
        let net = Ipv4Addr::from(u32::from(*ip) & mask(*len));
        d == dev && *len < 32 && *ip != gateway && contains((net, *len), gateway)
    });
    if !on_subnet {
        return Some(format!(
            "its InternalIP {gateway} is not in the subnet of an address of {dev}"
        ));
    }
    None
}

/// Routes by podCIDR (`a.b.c.d/n`) to their gateway.
pub type Routes = BTreeMap<String, Ipv4Addr>;

/// What takes the installed routes to the wanted ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// New, or through another gateway.
    pub replace: Vec<(String, Ipv4Addr)>,
    pub delete: Vec<(String, Ipv4Addr)>,
}

pub fn diff(wanted: &Routes, installed: &Routes) -> Changes {
    let replace = wanted
        .iter()
        .filter(|(cidr, gw)| installed.get(*cidr) != Some(*gw))
        .map(|(c, g)| (c.clone(), *g))
        .collect();
    let delete = installed
        .iter()
        .filter(|(cidr, _)| !wanted.contains_key(*cidr))
        .map(|(c, g)| (c.clone(), *g))
        .collect();
    Changes { replace, delete }
}

/// The routes a state file lists (`<podCIDR> <gateway>` a line); bad lines are ignored.
pub fn parse_state(text: &str) -> Routes {
    text.lines()
        .filter_map(|l| {
            let (cidr, gw) = l.trim().split_once(' ')?;
            let (ip, len) = parse_prefix(cidr)?;
            Some((format!("{ip}/{len}"), gw.trim().parse().ok()?))
        })
        .collect()
}

pub fn render_state(routes: &Routes) -> String {
    routes.iter().map(|(c, g)| format!("{c} {g}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    fn node(spec: &str) -> NodeFacts {
        // `name cidr ip`, `-` for absent.
        let mut w = spec.split_whitespace();
        let mut next = || w.next().filter(|s| *s != "-").map(str::to_string);
        NodeFacts {
            name: next().unwrap_or_default(),
            pod_cidr: next(),
            internal_ip: next(),
        }
    }

    #[test]
    fn candidates_table() {
        let cluster = Cluster {
            own_node: "a".into(),
            cluster_cidr: parse_prefix("10.42.0.0/16").unwrap(),
            no_gateway_in: vec![parse_prefix("10.43.0.0/16").unwrap()],
            own_pod_cidr: parse_prefix("10.42.0.0/24"),
        };
        let cases: &[&[&str]] = &[
            &["a 10.42.0.0/24 192.168.1.1", "b 10.42.1.0/24 192.168.1.2"],
            &["b - 192.168.1.2", "c 10.42.2.0/24 -"],
            &["b 10.50.1.0/24 192.168.1.2", "c 10.42.2.0/23 192.168.1.3"],
            &[
                "b 10.42.1.0/24 10.42.7.1",
                "c 10.42.2.0/24 10.43.0.10",
                "d 10.42.3.0/24 127.0.0.1",
            ],
            &[
                "b 10.42.1.0/24 fd00::1",
                "c 10.42.1.1/24 192.168.1.3",
                "d 10.42.0.0/16 192.168.1.4",
            ],
            &[
                "b 10.42.1.0/24 192.168.1.2",
                "c 10.42.1.0/24 192.168.1.3",
                "d 10.42.4.0/24 192.168.1.4",
            ],
            &[
                "a 10.42.0.0/24 -",
                "b 10.42.0.0/25 192.168.1.2",
                "c 10.42.4.0/22 192.168.1.3",
                "d 10.42.5.0/24 192.168.1.4",
            ],
            // Our own Node object not (yet) in the watch: our bridge's range is still ours.
            &["b 10.42.0.128/25 192.168.1.2"],
        ];
        let mut out = String::new();
        for nodes in cases {
            let facts: Vec<NodeFacts> = nodes.iter().map(|s| node(s)).collect();
            let (wanted, skipped) = candidates(&cluster, &facts);
            let _ = writeln!(out, "{nodes:?}");
            for (cidr, w) in wanted {
                let _ = writeln!(out, "  route {cidr} via {} ({})", w.gateway, w.node);
            }
            for (n, why) in skipped {
                let _ = writeln!(out, "  skip {n}: {why}");
            }
        }
        expect_test::expect![[r#"
            ["a 10.42.0.0/24 192.168.1.1", "b 10.42.1.0/24 192.168.1.2"]
              route 10.42.1.0/24 via 192.168.1.2 (b)
            ["b - 192.168.1.2", "c 10.42.2.0/24 -"]
            ["b 10.50.1.0/24 192.168.1.2", "c 10.42.2.0/23 192.168.1.3"]
              route 10.42.2.0/23 via 192.168.1.3 (c)
              skip b: podCIDR 10.50.1.0/24 is not a part of the cluster CIDR
            ["b 10.42.1.0/24 10.42.7.1", "c 10.42.2.0/24 10.43.0.10", "d 10.42.3.0/24 127.0.0.1"]
              skip b: InternalIP 10.42.7.1 cannot be a next hop
              skip c: InternalIP 10.43.0.10 cannot be a next hop
              skip d: InternalIP 127.0.0.1 cannot be a next hop
            ["b 10.42.1.0/24 fd00::1", "c 10.42.1.1/24 192.168.1.3", "d 10.42.0.0/16 192.168.1.4"]
              skip b: InternalIP "fd00::1" is not IPv4
              skip c: podCIDR "10.42.1.1/24" is not an IPv4 prefix
              skip d: podCIDR 10.42.0.0/16 is not a part of the cluster CIDR
            ["b 10.42.1.0/24 192.168.1.2", "c 10.42.1.0/24 192.168.1.3", "d 10.42.4.0/24 192.168.1.4"]
              route 10.42.4.0/24 via 192.168.1.4 (d)
              skip b: podCIDR 10.42.1.0/24 overlaps node c's
              skip c: podCIDR 10.42.1.0/24 overlaps node b's
            ["a 10.42.0.0/24 -", "b 10.42.0.0/25 192.168.1.2", "c 10.42.4.0/22 192.168.1.3", "d 10.42.5.0/24 192.168.1.4"]
              skip b: podCIDR 10.42.0.0/25 overlaps node a's
              skip c: podCIDR 10.42.4.0/22 overlaps node d's
              skip d: podCIDR 10.42.5.0/24 overlaps node c's
            ["b 10.42.0.128/25 192.168.1.2"]
              skip b: podCIDR 10.42.0.128/25 overlaps node a's
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn route_get_table() {
        let cases = [
            "10.199.3.2 dev sktv3h src 10.199.3.1 uid 0 \n    cache ",
            "8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0",
            "local 10.199.3.1 dev lo table local src 10.199.3.1 uid 0",
            "unreachable 10.42.9.9 table main src 192.0.2.2 uid 0",
            "broadcast 10.199.3.3 dev sktv3h table local src 10.199.3.1",
            "10.42.8.7 dev skt1 src 10.42.8.1 uid 0",
            "",
        ];
        let mut out = String::new();
        for c in cases {
            let reach = parse_route_get(c);
            let _ = writeln!(
                out,
                "{:?} -> {reach:?} -> {}",
                c.lines().next().unwrap_or(""),
                refuse(&reach, "skt1").unwrap_or_else(|| "route".into())
            );
        }
        expect_test::expect![[r#"
            "10.199.3.2 dev sktv3h src 10.199.3.1 uid 0 " -> Neighbour { dev: "sktv3h" } -> route
            "8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0" -> Gateway -> its InternalIP is not on a directly connected subnet (host-gw needs the nodes on one L2 network)
            "local 10.199.3.1 dev lo table local src 10.199.3.1 uid 0" -> Local -> its InternalIP is an address of this machine
            "unreachable 10.42.9.9 table main src 192.0.2.2 uid 0" -> Other("unreachable 10.42.9.9 table main src 192.0.2.2 uid 0") -> its InternalIP is not routable here (unreachable 10.42.9.9 table main src 192.0.2.2 uid 0)
            "broadcast 10.199.3.3 dev sktv3h table local src 10.199.3.1" -> Other("broadcast 10.199.3.3 dev sktv3h table local src 10.199.3.1") -> its InternalIP is not routable here (broadcast 10.199.3.3 dev sktv3h table local src 10.199.3.1)
            "10.42.8.7 dev skt1 src 10.42.8.1 uid 0" -> Neighbour { dev: "skt1" } -> its InternalIP is on the pod bridge skt1
            "" -> Other("") -> its InternalIP is not routable here ()
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn neighbours_on_a_broadcast_subnet_only() {
        let addrs = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                     2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n\
                     5: sktv3h    inet 10.199.3.1/30 scope global sktv3h\n\
                     7: wg0    inet 100.64.0.1/32 scope global wg0\n";
        let routes = "default via 192.0.2.1 dev eth0\n\
                      10.42.1.0/24 via 10.199.3.2 dev sktv3h metric 4242\n\
                      192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n\
                      default dev wg0 scope link\n";
        let links = Links {
            addrs: parse_addrs(addrs),
            routers: parse_routers(routes),
            not_broadcast: ["wg0", "tun0"]
                .into_iter()
                .filter(|_| not_broadcast_flags("0x1091") && !not_broadcast_flags("0x1003"))
                .map(String::from)
                .collect(),
        };
        let cases = [
            ("10.199.3.2", "sktv3h"),
            ("192.0.2.7", "eth0"),
            ("192.0.2.1", "eth0"),
            ("198.18.0.5", "wg0"),
            ("198.18.0.5", "eth0"),
            ("10.199.3.1", "sktv3h"),
        ];
        let mut out = String::new();
        for (gw, dev) in cases {
            let why = refuse_neighbour(gw.parse().unwrap(), dev, &links);
            let _ = writeln!(
                out,
                "{gw} on {dev}: {}",
                why.unwrap_or_else(|| "route".into())
            );
        }
        expect_test::expect![[r#"
            10.199.3.2 on sktv3h: route
            192.0.2.7 on eth0: route
            192.0.2.1 on eth0: its InternalIP 192.0.2.1 is a router of this machine
            198.18.0.5 on wg0: its InternalIP is reached over the point-to-point link wg0
            198.18.0.5 on eth0: its InternalIP 198.18.0.5 is not in the subnet of an address of eth0
            10.199.3.1 on sktv3h: its InternalIP 10.199.3.1 is not in the subnet of an address of sktv3h
        "#]].assert_eq(&out);
    }

    #[test]
    fn diff_and_state() {
        let routes = |s: &str| parse_state(&s.replace(", ", "\n"));
        let cases = [
            ("", ""),
            ("10.42.1.0/24 10.0.0.2, 10.42.2.0/24 10.0.0.3", ""),
            (
                "10.42.1.0/24 10.0.0.2",
                "10.42.1.0/24 10.0.0.2, 10.42.2.0/24 10.0.0.3",
            ),
            ("10.42.1.0/24 10.0.0.9", "10.42.1.0/24 10.0.0.2"),
            ("", "10.42.1.0/24 10.0.0.2, bad line, 10.42.2.1/24 10.0.0.3"),
        ];
        let mut out = String::new();
        for (wanted, installed) in cases {
            let Changes { replace, delete } = diff(&routes(wanted), &routes(installed));
            let _ = writeln!(
                out,
                "want [{wanted}] have [{installed}] -> replace {replace:?} delete {delete:?}"
            );
        }
        let _ = write!(out, "{}", render_state(&routes("10.42.1.0/24 10.0.0.2")));
        expect_test::expect![[r#"
            want [] have [] -> replace [] delete []
            want [10.42.1.0/24 10.0.0.2, 10.42.2.0/24 10.0.0.3] have [] -> replace [("10.42.1.0/24", 10.0.0.2), ("10.42.2.0/24", 10.0.0.3)] delete []
            want [10.42.1.0/24 10.0.0.2] have [10.42.1.0/24 10.0.0.2, 10.42.2.0/24 10.0.0.3] -> replace [] delete [("10.42.2.0/24", 10.0.0.3)]
            want [10.42.1.0/24 10.0.0.9] have [10.42.1.0/24 10.0.0.2] -> replace [("10.42.1.0/24", 10.0.0.9)] delete []
            want [] have [10.42.1.0/24 10.0.0.2, bad line, 10.42.2.1/24 10.0.0.3] -> replace [] delete [("10.42.1.0/24", 10.0.0.2)]
            10.42.1.0/24 10.0.0.2
        "#]]
        .assert_eq(&out);
    }
}
