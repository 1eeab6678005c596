//! Service cluster IPs and node ports, allocated by the apiserver as upstream's service REST
//! does: on create, kept across updates, released on delete.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::rest::Scope;

const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

pub struct Allocator {
    base: u32,
    size: u32,
    ips: Mutex<HashSet<u32>>,
    ports: Mutex<HashSet<u16>>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid service CIDR {0:?}: expected an IPv4 network such as 10.43.0.0/16")]
pub struct CidrError(String);

impl Allocator {
    pub fn new(cidr: &str) -> Result<Allocator, CidrError> {
        let err = || CidrError(cidr.to_string());
        let (ip, bits) = cidr.split_once('/').ok_or_else(err)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| err())?;
        let bits: u32 = bits.parse().map_err(|_| err())?;
        if !(8..=30).contains(&bits) {
            return Err(err());
        }
        let size = 1u32 << (32 - bits);
        let base = u32::from(ip) & !(size - 1);
        Ok(Allocator {
            base,
            size,
            ips: Mutex::new(HashSet::new()),
            ports: Mutex::new(HashSet::new()),
        })
    }

    /// The first usable address: the `kubernetes` service's cluster IP.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// The tenth address: the cluster DNS service's (upstream's convention).
    pub fn dns_ip(&self) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::from(self.base + 10)).filter(|ip| self.contains(*ip))
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        v > self.base && v < self.base + self.size - 1
    }

    /// Marks what existing services hold (at startup).
    pub fn seed(&self, svc: &Value) {
        for ip in cluster_ips(svc) {
            if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                if let Ok(mut s) = self.ips.lock() {
                    s.insert(u32::from(ip));
                }
            }
        }
        if let Ok(mut p) = self.ports.lock() {
            p.extend(node_ports(svc));
        }
    }

    fn take_ip(&self, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
        let mut used = self
            .ips
            .lock()
            .map_err(|_| "allocator poisoned".to_string())?;
        if let Some(ip) = wanted {
            if !self.contains(ip) {
                return Err(format!("failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}/{}", Ipv4Addr::from(self.base), 32 - self.size.trailing_zeros()));
            }
            if !used.insert(u32::from(ip)) {
                return Err(format!(
                    "failed to allocate IP {ip}: provided IP is already allocated"
                ));
            }
            return Ok(ip);
        }
        // Upstream prefers the upper part of the range for dynamic allocation, leaving the
        // lower part for static choices; we start at a random offset in the upper half.
        let span = self.size - 2;
        let start = span / 2 + rand::random::<u32>() % (span - span / 2).max(1);
        for i in 0..span {
            let off = 1 + (start + i) % span;
            if off == 1 {
                continue;
            }
            if used.insert(self.base + off) {
                return Ok(Ipv4Addr::from(self.base + off));
            }
        }
        Err("range is full".into())
    }

    fn take_port(&self, wanted: Option<u16>) -> Result<u16, String> {
        let mut used = self
            .ports
            .lock()
            .map_err(|_| "allocator poisoned".to_string())?;
        if let Some(p) = wanted {
            if !NODE_PORTS.contains(&p) {
                return Err(format!(
                    "provided port is not in the valid range. The range of valid ports is {}-{}",
                    NODE_PORTS.start(),
                    NODE_PORTS.end()
                ));
            }
            if !used.insert(p) {
                return Err("provided port is already allocated".into());
            }
            return Ok(p);
        }
        let n = NODE_PORTS.end() - NODE_PORTS.start() + 1;
        let start = rand::random::<u16>() % n;
        for i in 0..n {
            let p = NODE_PORTS.start() + (start + i) % n;
            if used.insert(p) {
                return Ok(p);
            }
        }
        Err("range is full".into())
    }

    fn free(&self, svc: &Value) {
        if let Ok(mut s) = self.ips.lock() {
            for ip in cluster_ips(svc) {
                if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                    s.remove(&u32::from(ip));
                }
            }
        }
        if let Ok(mut p) = self.ports.lock() {
            for port in node_ports(svc) {
                p.remove(&port);
            }
        }
    }
}

fn cluster_ips(svc: &Value) -> Vec<String> {
    let mut out: Vec<String> = svc
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
        if !out.iter().any(|x| x == ip) {
            out.push(ip.to_string());
        }
    }
    out.retain(|ip| !ip.is_empty() && ip != "None");
    out
}

fn node_ports(svc: &Value) -> Vec<u16> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

fn is_services(scope: &Scope<'_>) -> bool {
    scope.info.group.is_empty() && scope.info.plural == "services"
}

fn wants_node_ports(svc: &Value) -> bool {
    matches!(
        svc.pointer("/spec/type").and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    )
}

fn invalid(name: &str, field: &str, value: Value, detail: String) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        name,
        &[apimachinery::field::FieldError::invalid(
            field, value, detail,
        )],
    )
}

pub async fn on_create(scope: &Scope<'_>, obj: &mut Value) -> ApiResult<()> {
    if !is_services(scope) {
        return Ok(());
    }
    let alloc = &scope.api.alloc;
    let name = crate::objects::name(obj).to_string();
    let ty = obj
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty != "ExternalName" {
        let requested = obj
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if requested != "None" {
            let wanted = if requested.is_empty() {
                None
            } else {
                Some(requested.parse::<Ipv4Addr>().map_err(|_| {
                    invalid(
                        &name,
                        "spec.clusterIPs",
                        json!([requested]),
                        "must be a valid IP address".into(),
                    )
                })?)
            };
            let ip = alloc
                .take_ip(wanted)
                .map_err(|e| invalid(&name, "spec.clusterIPs", json!([requested]), e))?;
            obj["spec"]["clusterIP"] = json!(ip.to_string());
            obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
        } else {
            obj["spec"]["clusterIPs"] = json!(["None"]);
        }
    }
    if wants_node_ports(obj) {
        assign_node_ports(alloc, obj, &name, false)?;
    }
    Ok(())
}

fn assign_node_ports(
    alloc: &Allocator,
    obj: &mut Value,
    name: &str,
    only_missing: bool,
) -> ApiResult<()> {
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for (i, p) in ports.iter_mut().enumerate() {
            if only_missing && p.get("nodePort").is_some() {
                continue;
            }
            let wanted = p
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v != 0);
            let port = alloc.take_port(wanted).map_err(|e| {
                invalid(
                    name,
                    &format!("spec.ports[{i}].nodePort"),
                    json!(wanted.unwrap_or(0)),
                    e,
                )
            })?;
            p["nodePort"] = json!(port);
        }
    }
    Ok(())
}

/// Keeps what was allocated when an update leaves it out; allocates node ports when the
/// type starts needing them.
pub async fn on_update(scope: &Scope<'_>, new: &mut Value, old: &Value) -> ApiResult<()> {
    if !is_services(scope) {
        return Ok(());
    }
    let name = crate::objects::name(new).to_string();
    for f in ["clusterIP", "clusterIPs"] {
        let empty = new.pointer(&format!("/spec/{f}")).is_none_or(|v| {
            v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty())
        });
        if empty {
            if let Some(v) = old.pointer(&format!("/spec/{f}")) {
                new["spec"][f] = v.clone();
            }
        }
    }
    if wants_node_ports(new) {
        let old_ports = node_ports(old);
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            let old_list = old
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for p in ports.iter_mut() {
                if p.get("nodePort").and_then(Value::as_u64).unwrap_or(0) == 0 {
                    let same = old_list
                        .iter()
                        .find(|o| o.get("port") == p.get("port"))
                        .and_then(|o| o.get("nodePort"))
                        .cloned();
                    if let Some(np) = same {
                        p["nodePort"] = np;
                    }
                }
            }
        }
        let wanted: Vec<u16> = node_ports(new)
            .into_iter()
            .filter(|p| !old_ports.contains(p))
            .collect();
        for p in &wanted {
            scope
                .api
                .alloc
                .take_port(Some(*p))
                .map_err(|e| invalid(&name, "spec.ports.nodePort", json!(p), e))?;
        }
        let missing = new
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|p| p.get("nodePort").is_none()));
        if missing {
            assign_node_ports(&scope.api.alloc, new, &name, true)?;
        }
    }
    Ok(())
}

pub async fn release(scope: &Scope<'_>, obj: &Value) {
    if is_services(scope) {
        scope.api.alloc.free(obj);
    }
}
