//! `lookup NAME [TYPE] [TRIES]`: a tiny stub resolver as glibc's, for DNS tests. It reads
//! /etc/resolv.conf (nameserver, search, options ndots), tries the search list the way
//! glibc orders it, asks over UDP and prints each answer as `NAME TYPE DATA`, or
//! `NXDOMAIN`, `NODATA` or `error: ...`. TRIES (default 1) repeats the whole lookup a second
//! apart until something is found.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
];

struct Conf {
    servers: Vec<IpAddr>,
    search: Vec<String>,
    ndots: usize,
}

fn conf() -> Conf {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut c = Conf {
        servers: vec![],
        search: vec![],
        ndots: 1,
    };
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => c
                .servers
                .extend(w.next().and_then(|a| a.parse::<IpAddr>().ok())),
            Some("search") | Some("domain") => c.search = w.map(str::to_string).collect(),
            Some("options") => {
                for o in w {
                    if let Some(n) = o.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        c.ndots = n;
                    }
                }
            }
            _ => {}
        }
    }
    c
}

/// The names glibc tries, in order.
fn candidates(name: &str, c: &Conf) -> Vec<String> {
    if let Some(abs) = name.strip_suffix('.') {
        return vec![abs.to_string()];
    }
    let searched: Vec<String> = c
        .search
        .iter()
        .map(|s| format!("{name}.{}", s.trim_end_matches('.')))
        .collect();
    if name.matches('.').count() >= c.ndots {
        std::iter::once(name.to_string()).chain(searched).collect()
    } else {
        searched.into_iter().chain([name.to_string()]).collect()
    }
}

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    q
}

/// A (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((
                if out.is_empty() { ".".into() } else { out },
                end.unwrap_or(pos + 1),
            ));
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        out.push_str(&String::from_utf8_lossy(msg.get(pos + 1..pos + 1 + len)?));
        out.push('.');
        pos += 1 + len;
    }
    None
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// The rcode and the answer section as lines.
fn parse(msg: &[u8]) -> Option<(u8, Vec<String>)> {
    let rcode = msg.get(3)? & 0x0f;
    let (qd, an) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut lines = Vec::new();
    for _ in 0..an {
        let (name, p) = read_name(msg, pos)?;
        let rtype = u16_at(msg, p)?;
        let rdlen = u16_at(msg, p + 8)? as usize;
        let rd = p + 10;
        let data = msg.get(rd..rd + rdlen)?;
        let type_name = TYPES
            .iter()
            .find(|t| t.1 == rtype)
            .map_or(format!("TYPE{rtype}"), |t| t.0.to_string());
        let text = match rtype {
            1 if rdlen == 4 => Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
            28 if rdlen == 16 => {
                let b: [u8; 16] = data.try_into().ok()?;
                Ipv6Addr::from(b).to_string()
            }
            2 | 5 | 12 => read_name(msg, rd)?.0,
            33 => format!(
                "{} {} {} {}",
                u16_at(msg, rd)?,
                u16_at(msg, rd + 2)?,
                u16_at(msg, rd + 4)?,
                read_name(msg, rd + 6)?.0
            ),
            _ => format!("({rdlen} bytes)"),
        };
        lines.push(format!("{name} {type_name} {text}"));
        pos = rd + rdlen;
    }
    Some((rcode, lines))
}

fn ask(servers: &[IpAddr], name: &str, qtype: u16) -> Result<(u8, Vec<String>), String> {
    let mut last = "no nameserver in /etc/resolv.conf".to_string();
    for (i, server) in servers.iter().enumerate() {
        let id = (std::process::id() as u16) ^ (i as u16) ^ 0x5a5a;
        let sock = UdpSocket::bind(if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .map_err(|e| e.to_string())?;
        let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
        for _ in 0..2 {
            if let Err(e) = sock.send_to(&query(id, name, qtype), SocketAddr::new(*server, 53)) {
                last = format!("{server}: {e}");
                continue;
            }
            let mut buf = [0u8; 4096];
            match sock.recv(&mut buf) {
                Ok(n) if u16_at(&buf, 0) == Some(id) => {
                    return parse(&buf[..n]).ok_or_else(|| "malformed answer".into())
                }
                Ok(_) => last = format!("{server}: unexpected answer"),
                Err(e) => last = format!("{server}: {e}"),
            }
        }
    }
    Err(last)
}

fn lookup_once(name: &str, qtype: u16, c: &Conf) -> (bool, Vec<String>) {
    let mut last = vec!["NXDOMAIN".to_string()];
    for candidate in candidates(name, c) {
        match ask(&c.servers, &candidate, qtype) {
            Ok((0, lines)) if !lines.is_empty() => return (true, lines),
            Ok((0, _)) => last = vec!["NODATA".into()],
            Ok((3, _)) => {}
            Ok((rcode, _)) => last = vec![format!("error: rcode {rcode}")],
            Err(e) => last = vec![format!("error: {e}")],
        }
    }
    (false, last)
}

/// The first IPv4 address `name` resolves to through /etc/resolv.conf and its search list.
pub fn resolve_v4(name: &str) -> Result<Ipv4Addr, String> {
    let (found, lines) = lookup_once(name, 1, &conf());
    if !found {
        return Err(format!("resolving {name}: {}", lines.join("; ")));
    }
    lines
        .iter()
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .ok_or_else(|| format!("resolving {name}: no address in {lines:?}"))
}

pub fn run(args: &[&str]) -> Result<(), String> {
    let name = args.first().ok_or("usage: lookup NAME [TYPE] [TRIES]")?;
    let type_name = args.get(1).copied().unwrap_or("A").to_uppercase();
    let qtype = TYPES
        .iter()
        .find(|t| t.0 == type_name)
        .ok_or_else(|| format!("lookup: unknown type {type_name}"))?
        .1;
    let tries: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1);
    let c = conf();
    let mut lines = Vec::new();
    for attempt in 0..tries.max(1) {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let (found, l) = lookup_once(name, qtype, &c);
        lines = l;
        if found {
            break;
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
