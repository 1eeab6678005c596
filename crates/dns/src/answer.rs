//! Answers for names in the cluster domain and for reverse lookups of cluster addresses, as
//! CoreDNS's `kubernetes` plugin gives them (with `pods insecure`). Pure.
//!
//! Names: `<svc>.<ns>.svc.<domain>` (cluster IPs; headless: ready endpoints; ExternalName:
//! CNAME), `<host>.<svc>.<ns>.svc.<domain>` (one endpoint), `_<port>._<proto>.<svc>.<ns>.svc.
//! <domain>` (SRV), `<a-b-c-d>.<ns>.pod.<domain>` (the address in the name).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Index, Kind, Svc};

/// The TTL of every answer (CoreDNS's kubernetes plugin's default) and of negative answers
/// (the SOA's minimum).
pub const TTL: u32 = 5;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Authoritative: the cluster's own name.
    Reply(Reply),
    /// Not ours (or a reverse name we do not know): ask the host's resolvers.
    Forward,
}

#[derive(Debug, Default, PartialEq)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The zone's SOA, for NXDOMAIN and empty answers (negative caching).
    pub authority: Vec<Record>,
    /// An ExternalName's target, still to resolve for an address query.
    pub chase: Option<Name>,
}

/// The cluster zone: its apex and the SOA serial (changes with the data).
pub struct Zone {
    /// Lowercase, fully qualified.
    pub domain: Name,
    pub serial: u32,
}

impl Zone {
    pub fn new(domain: &str) -> Result<Zone, hickory_proto::ProtoError> {
        let mut domain = Name::from_ascii(domain.trim_end_matches('.'))?.to_lowercase();
        domain.set_fqdn(true);
        Ok(Zone { domain, serial: 0 })
    }

    fn sub(&self, labels: &[&str]) -> Option<Name> {
        let mut n = Name::from_labels(labels.iter().map(|l| l.as_bytes())).ok()?;
        n.set_fqdn(false);
        n.append_domain(&self.domain).ok()
    }

    pub fn soa(&self) -> Record {
        let mname = self
            .sub(&["ns", "dns"])
            .unwrap_or_else(|| self.domain.clone());
        let rname = self
            .sub(&["hostmaster"])
            .unwrap_or_else(|| self.domain.clone());
        Record::from_rdata(
            self.domain.clone(),
            TTL,
            RData::SOA(SOA::new(mname, rname, self.serial, 7200, 1800, 86400, TTL)),
        )
    }
}

fn record(name: &Name, data: RData) -> Record {
    Record::from_rdata(name.clone(), TTL, data)
}

fn address(name: &Name, ip: IpAddr) -> Record {
    match ip {
        IpAddr::V4(v4) => record(name, RData::A(A(v4))),
        IpAddr::V6(v6) => record(name, RData::AAAA(AAAA(v6))),
    }
}

fn wants(qtype: RecordType, ip: &IpAddr) -> bool {
    matches!(
        (qtype, ip),
        (RecordType::A | RecordType::ANY, IpAddr::V4(_))
            | (RecordType::AAAA | RecordType::ANY, IpAddr::V6(_))
    )
}

impl Reply {
    fn nxdomain(zone: &Zone) -> Reply {
        Reply {
            rcode: ResponseCode::NXDomain,
            authority: vec![zone.soa()],
            ..Reply::default()
        }
    }

    /// NOERROR; with no answers, the SOA goes in the authority section (NODATA).
    fn records(zone: &Zone, answers: Vec<Record>, additionals: Vec<Record>) -> Reply {
        let authority = if answers.is_empty() {
            vec![zone.soa()]
        } else {
            Vec::new()
        };
        Reply {
            rcode: ResponseCode::NoError,
            answers,
            additionals,
            authority,
            chase: None,
        }
    }
}

/// The answer to one question.
pub fn answer(index: &Index, zone: &Zone, qname: &Name, qtype: RecordType) -> Outcome {
    let mut lower = qname.to_lowercase();
    lower.set_fqdn(true);
    if !zone.domain.zone_of(&lower) {
        return reverse(index, zone, qname, &lower, qtype);
    }
    let n = usize::from(lower.num_labels()) - usize::from(zone.domain.num_labels());
    let labels: Vec<String> = lower
        .iter()
        .take(n)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let l: Vec<&str> = labels.iter().map(String::as_str).collect();
    Outcome::Reply(match l.as_slice() {
        [] => apex(zone, qname, qtype),
        ["svc"] | ["pod"] | [_, "pod"] => Reply::records(zone, vec![], vec![]),
        [ns, "svc"] => {
            if index.services.contains_key(*ns) {
                Reply::records(zone, vec![], vec![])
            } else {
                Reply::nxdomain(zone)
            }
        }
        [svc, ns, "svc"] => match index.service(ns, svc) {
            Some(s) => service(zone, qname, qtype, s, svc, ns),
            None => Reply::nxdomain(zone),
        },
        [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
            match index.service(ns, svc) {
                Some(s) => srv(
                    zone,
                    qname,
                    qtype,
                    s,
                    svc,
                    ns,
                    Some((&port[1..], &proto[1..])),
                ),
                None => Reply::nxdomain(zone),
            }
        }
        [host, svc, ns, "svc"] => match index.service(ns, svc) {
            Some(s) => endpoint(zone, qname, qtype, s, host),
            None => Reply::nxdomain(zone),
        },
        [ip, _, "pod"] => match undash(ip) {
            Some(ip) => {
                let answers = if wants(qtype, &ip) {
                    vec![address(qname, ip)]
                } else {
                    vec![]
                };
                Reply::records(zone, answers, vec![])
            }
            None => Reply::nxdomain(zone),
        },
        _ => Reply::nxdomain(zone),
    })
}

fn apex(zone: &Zone, qname: &Name, qtype: RecordType) -> Reply {
    let answers = match qtype {
        RecordType::SOA => vec![Record::from_rdata(qname.clone(), TTL, zone.soa().data)],
        RecordType::NS => zone
            .sub(&["ns", "dns"])
            .map(|ns| record(qname, RData::NS(NS(ns))))
            .into_iter()
            .collect(),
        _ => vec![],
    };
    Reply::records(zone, answers, vec![])
}

fn service(zone: &Zone, qname: &Name, qtype: RecordType, s: &Svc, svc: &str, ns: &str) -> Reply {
    match &s.kind {
        Kind::External(target) => {
            let Ok(mut t) = Name::from_ascii(target) else {
                return Reply::records(zone, vec![], vec![]);
            };
            t.set_fqdn(true);
            let chase = matches!(qtype, RecordType::A | RecordType::AAAA).then(|| t.clone());
            Reply {
                chase,
                ..Reply::records(zone, vec![record(qname, RData::CNAME(CNAME(t)))], vec![])
            }
        }
        _ if qtype == RecordType::SRV => srv(zone, qname, qtype, s, svc, ns, None),
        Kind::ClusterIp(ips) => {
            let answers = ips
                .iter()
                .filter(|ip| wants(qtype, ip))
                .map(|ip| address(qname, *ip))
                .collect();
            Reply::records(zone, answers, vec![])
        }
        Kind::Headless => {
            let mut answers: Vec<Record> = Vec::new();
            for e in s.endpoints.iter().filter(|e| wants(qtype, &e.ip)) {
                let r = address(qname, e.ip);
                if !answers.contains(&r) {
                    answers.push(r);
                }
            }
            Reply::records(zone, answers, vec![])
        }
    }
}

/// SRV records for the service's named ports (`filter`: only the one asked for by
/// `_<port>._<proto>`): the service's name and port, or for a headless service each ready
/// endpoint's name and port, with their addresses as additional records.
fn srv(
    zone: &Zone,
    qname: &Name,
    qtype: RecordType,
    s: &Svc,
    svc: &str,
    ns: &str,
    filter: Option<(&str, &str)>,
) -> Reply {
    let matches = |p: &crate::index::Port| {
        !p.name.is_empty() && filter.is_none_or(|(name, proto)| p.name == name && p.proto == proto)
    };
    let mut targets: Vec<(Name, u16, Vec<IpAddr>)> = Vec::new();
    match &s.kind {
        Kind::External(_) => {}
        Kind::ClusterIp(ips) => {
            if let Some(name) = zone.sub(&[svc, ns, "svc"]) {
                for p in s.ports.iter().filter(|p| matches(p)) {
                    targets.push((name.clone(), p.port, ips.clone()));
                }
            }
        }
        Kind::Headless => {
            for e in &s.endpoints {
                let Some(name) = zone.sub(&[&e.host, svc, ns, "svc"]) else {
                    continue;
                };
                for p in e.ports.iter().filter(|p| matches(p)) {
                    targets.push((name.clone(), p.port, vec![e.ip]));
                }
            }
        }
    }
    if targets.is_empty() && filter.is_some() && !s.ports.iter().any(matches) {
        return Reply::nxdomain(zone);
    }
    if qtype != RecordType::SRV && qtype != RecordType::ANY {
        return Reply::records(zone, vec![], vec![]);
    }
    // CoreDNS spreads the weight over the records of one answer.
    let weight = u16::try_from(100 / targets.len().max(1)).unwrap_or(100);
    let mut answers = Vec::new();
    let mut additionals: Vec<Record> = Vec::new();
    for (target, port, ips) in targets {
        answers.push(record(
            qname,
            RData::SRV(SRV::new(0, weight, port, target.clone())),
        ));
        for ip in ips {
            let r = address(&target, ip);
            if !additionals.contains(&r) {
                additionals.push(r);
            }
        }
    }
    Reply::records(zone, answers, additionals)
}

fn endpoint(zone: &Zone, qname: &Name, qtype: RecordType, s: &Svc, host: &str) -> Reply {
    let found: Vec<IpAddr> = s
        .endpoints
        .iter()
        .filter(|e| e.host == host)
        .map(|e| e.ip)
        .collect();
    if found.is_empty() {
        return Reply::nxdomain(zone);
    }
    let answers = found
        .into_iter()
        .filter(|ip| wants(qtype, ip))
        .map(|ip| address(qname, ip))
        .collect();
    Reply::records(zone, answers, vec![])
}

/// `10-42-0-5` or an IPv6 address with dashes for colons.
fn undash(label: &str) -> Option<IpAddr> {
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// PTR for a service's cluster IP or an endpoint's address; any other name is forwarded.
fn reverse(index: &Index, zone: &Zone, qname: &Name, lower: &Name, qtype: RecordType) -> Outcome {
    if qtype != RecordType::PTR {
        return Outcome::Forward;
    }
    let Ok(net) = lower.parse_arpa_name() else {
        return Outcome::Forward;
    };
    if net.prefix_len() != net.max_prefix_len() {
        return Outcome::Forward;
    }
    let Some(names) = index.reverse.get(&net.addr()) else {
        return Outcome::Forward;
    };
    let answers = names
        .iter()
        .filter_map(|(ns, svc, host)| match host {
            Some(h) => zone.sub(&[h, svc, ns, "svc"]),
            None => zone.sub(&[svc, ns, "svc"]),
        })
        .map(|target| record(qname, RData::PTR(PTR(target))))
        .collect();
    Outcome::Reply(Reply::records(zone, answers, vec![]))
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
