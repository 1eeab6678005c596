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

/// What one write took from the allocator, so that a write that fails, is a dry run, or
/// loses a race gives back exactly that and nothing another service holds.
#[derive(Debug, Default)]
#[must_use = "what a write took must be given back or kept"]
pub struct Taken {
    ips: Vec<u32>,
    ports: Vec<u16>,
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

    fn take_ip(&self, wanted: Option<Ipv4Addr>, taken: &mut Taken) -> Result<Ipv4Addr, String> {
        let ip = self.pick_ip(wanted)?;
        taken.ips.push(u32::from(ip));
        Ok(ip)
    }

    fn pick_ip(&self, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
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

    fn take_port(&self, wanted: Option<u16>, taken: &mut Taken) -> Result<u16, String> {
        let port = self.pick_port(wanted)?;
        taken.ports.push(port);
        Ok(port)
    }

    fn pick_port(&self, wanted: Option<u16>) -> Result<u16, String> {
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
        self.give_back(Taken {
            ips: ips_of(svc),
            ports: node_ports(svc),
        });
    }

    fn give_back(&self, taken: Taken) {
        if let Ok(mut s) = self.ips.lock() {
            for ip in &taken.ips {
                s.remove(ip);
            }
        }
        if let Ok(mut p) = self.ports.lock() {
            for port in &taken.ports {
                p.remove(port);
            }
        }
    }

    /// What `old` held and `new` no longer does (node ports a type change or a removed
    /// port dropped, the cluster IP of a service turned ExternalName).
    fn free_dropped(&self, old: &Value, new: &Value) {
        let (new_ips, new_ports) = (ips_of(new), node_ports(new));
        self.give_back(Taken {
            ips: ips_of(old)
                .into_iter()
                .filter(|ip| !new_ips.contains(ip))
                .collect(),
            ports: node_ports(old)
                .into_iter()
                .filter(|p| !new_ports.contains(p))
                .collect(),
        });
    }
}

fn ips_of(svc: &Value) -> Vec<u32> {
    cluster_ips(svc)
        .iter()
        .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .collect()
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
    allocate_for_create(&scope.api.alloc, obj)
}

/// A new service's cluster IP and node ports; a refusal takes nothing.
fn allocate_for_create(alloc: &Allocator, obj: &mut Value) -> ApiResult<()> {
    let name = crate::objects::name(obj).to_string();
    let mut taken = Taken::default();
    let allocated = allocate_cluster_ip(alloc, obj, &name, &mut taken).and_then(|()| {
        if wants_node_ports(obj) {
            assign_node_ports(alloc, obj, &name, false, &mut taken)
        } else {
            Ok(())
        }
    });
    if allocated.is_err() {
        // A node port refused after the cluster IP was taken: neither stays taken.
        alloc.give_back(taken);
    }
    allocated
}

fn needs_cluster_ip(svc: &Value) -> bool {
    svc.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")
}

/// The requested cluster IP, or one from the range; headless services (`None`) get none.
fn allocate_cluster_ip(
    alloc: &Allocator,
    obj: &mut Value,
    name: &str,
    taken: &mut Taken,
) -> ApiResult<()> {
    if !needs_cluster_ip(obj) {
        return Ok(());
    }
    let requested = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested == "None" {
        obj["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(());
    }
    let wanted = if requested.is_empty() {
        None
    } else {
        Some(requested.parse::<Ipv4Addr>().map_err(|_| {
            invalid(
                name,
                "spec.clusterIPs",
                json!([requested]),
                "must be a valid IP address".into(),
            )
        })?)
    };
    let ip = alloc
        .take_ip(wanted, taken)
        .map_err(|e| invalid(name, "spec.clusterIPs", json!([requested]), e))?;
    obj["spec"]["clusterIP"] = json!(ip.to_string());
    obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
    Ok(())
}

fn assign_node_ports(
    alloc: &Allocator,
    obj: &mut Value,
    name: &str,
    only_missing: bool,
    taken: &mut Taken,
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
            let port = alloc.take_port(wanted, taken).map_err(|e| {
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

/// Keeps what was allocated when an update leaves it out; allocates a cluster IP for a
/// service that stops being ExternalName, and node ports when the type starts needing
/// them. What it takes comes back to be settled by [`settle_update`] once the write's
/// outcome is known.
pub async fn on_update(scope: &Scope<'_>, new: &mut Value, old: &Value) -> ApiResult<Taken> {
    if !is_services(scope) {
        return Ok(Taken::default());
    }
    allocate_for_update(&scope.api.alloc, new, old)
}

fn allocate_for_update(alloc: &Allocator, new: &mut Value, old: &Value) -> ApiResult<Taken> {
    let name = crate::objects::name(new).to_string();
    let mut taken = Taken::default();
    match update_allocations(alloc, new, old, &name, &mut taken) {
        Ok(()) => Ok(taken),
        Err(e) => {
            alloc.give_back(taken);
            Err(e)
        }
    }
}

fn update_allocations(
    alloc: &Allocator,
    new: &mut Value,
    old: &Value,
    name: &str,
    taken: &mut Taken,
) -> ApiResult<()> {
    if needs_cluster_ip(new) && !needs_cluster_ip(old) {
        allocate_cluster_ip(alloc, new, name, taken)?;
    } else if needs_cluster_ip(new) {
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
            alloc
                .take_port(Some(*p), taken)
                .map_err(|e| invalid(name, "spec.ports.nodePort", json!(p), e))?;
        }
        let missing = new
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|p| p.get("nodePort").is_none()));
        if missing {
            assign_node_ports(alloc, new, name, true, taken)?;
        }
    }
    Ok(())
}

/// After an update's write: stored, what the old object held and the new one does not is
/// free again; not stored (a conflict to retry, an error, a dry run), what the update took
/// goes back. A write that deleted the object has released the new object's already.
pub fn settle_update(scope: &Scope<'_>, taken: Taken, old: &Value, stored: Option<&Value>) {
    if is_services(scope) {
        settle(
            &scope.api.alloc,
            taken,
            old,
            stored.filter(|_| !scope.dry_run()),
        );
    }
}

fn settle(alloc: &Allocator, taken: Taken, old: &Value, stored: Option<&Value>) {
    match stored {
        Some(new) => alloc.free_dropped(old, new),
        None => alloc.give_back(taken),
    }
}

pub async fn release(scope: &Scope<'_>, obj: &Value) {
    if is_services(scope) {
        scope.api.alloc.free(obj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, spec: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})
    }

    fn ip_of(svc: &Value) -> &str {
        svc["spec"]["clusterIP"].as_str().unwrap_or("")
    }

    /// Each step is one write's allocation; the log says what it got or why it was refused.
    #[test]
    fn writes_keep_or_give_back_exactly_what_they_took() {
        let alloc = Allocator::new("10.43.0.0/16").unwrap();
        let mut log = String::new();
        let mut note = |step: &str, r: ApiResult<&Value>| {
            let line = match r {
                Ok(v) => format!(
                    "{step}: ok clusterIP={} nodePorts={:?}",
                    v["spec"]["clusterIP"],
                    node_ports(v)
                ),
                Err(e) => format!("{step}: {} {}", e.code, e.message),
            };
            log.push_str(&line);
            log.push('\n');
        };

        let mut a = svc(
            "a",
            json!({"type": "NodePort", "clusterIP": "10.43.0.20", "ports": [{"port": 80, "nodePort": 30001}]}),
        );
        note("create a", allocate_for_create(&alloc, &mut a).map(|()| &a));
        // b wants a free IP but a's node port: refused, and its IP is not kept.
        let mut b = svc(
            "b",
            json!({"type": "NodePort", "clusterIP": "10.43.0.21", "ports": [{"port": 80, "nodePort": 30001}]}),
        );
        note("create b", allocate_for_create(&alloc, &mut b).map(|()| &b));
        let mut c = svc(
            "c",
            json!({"type": "ClusterIP", "clusterIP": "10.43.0.21", "ports": [{"port": 80}]}),
        );
        note(
            "create c, b's IP",
            allocate_for_create(&alloc, &mut c).map(|()| &c),
        );

        // An update adding a port whose write then loses a race: given back, and the
        // retry of the same update finds the port free.
        let mut more = a.clone();
        more["spec"]["ports"] =
            json!([{"port": 80, "nodePort": 30001}, {"port": 81, "nodePort": 30002}]);
        let mut first = more.clone();
        let taken = allocate_for_update(&alloc, &mut first, &a).unwrap();
        settle(&alloc, taken, &a, None);
        let mut retry = more.clone();
        let taken = allocate_for_update(&alloc, &mut retry, &a).map(|t| {
            settle(&alloc, t, &a, Some(&retry));
        });
        note("update a +30002, retried", taken.map(|()| &retry));
        let a = retry;

        // A dry run takes nothing.
        let mut dry = a.clone();
        dry["spec"]["ports"][1]["nodePort"] = json!(30003);
        let t = allocate_for_update(&alloc, &mut dry, &a).unwrap();
        settle(&alloc, t, &a, None);
        let mut d = svc(
            "d",
            json!({"type": "NodePort", "clusterIP": "10.43.0.30", "ports": [{"port": 80, "nodePort": 30003}]}),
        );
        note(
            "create d, the dry run's port",
            allocate_for_create(&alloc, &mut d).map(|()| &d),
        );

        // NodePort -> ClusterIP (the strategy has dropped the node ports): they are free.
        let mut plain = a.clone();
        plain["spec"]["type"] = json!("ClusterIP");
        plain["spec"]["ports"] = json!([{"port": 80}, {"port": 81}]);
        let t = allocate_for_update(&alloc, &mut plain, &a).unwrap();
        settle(&alloc, t, &a, Some(&plain));
        let mut e = svc(
            "e",
            json!({"type": "NodePort", "clusterIP": "10.43.0.31", "ports": [{"port": 80, "nodePort": 30001}, {"port": 81, "nodePort": 30002}]}),
        );
        note(
            "create e, a's old ports",
            allocate_for_create(&alloc, &mut e).map(|()| &e),
        );

        // ClusterIP -> ExternalName (the strategy has dropped the IP): it is free; and
        // back to ClusterIP: a cluster IP again.
        let mut named = svc(
            "a",
            json!({"type": "ExternalName", "externalName": "example.com"}),
        );
        let t = allocate_for_update(&alloc, &mut named, &plain).unwrap();
        settle(&alloc, t, &plain, Some(&named));
        note("a to ExternalName", Ok(&named));
        let mut f = svc(
            "f",
            json!({"type": "ClusterIP", "clusterIP": "10.43.0.20", "ports": [{"port": 80}]}),
        );
        note(
            "create f, a's old IP",
            allocate_for_create(&alloc, &mut f).map(|()| &f),
        );
        let mut back = svc(
            "a",
            json!({"type": "ClusterIP", "clusterIP": "10.43.0.22", "ports": [{"port": 80}]}),
        );
        let t = allocate_for_update(&alloc, &mut back, &named).unwrap();
        settle(&alloc, t, &named, Some(&back));
        note("a back to ClusterIP", Ok(&back));
        let mut g = svc(
            "g",
            json!({"type": "ClusterIP", "clusterIP": "10.43.0.22", "ports": [{"port": 80}]}),
        );
        note(
            "create g, a's new IP",
            allocate_for_create(&alloc, &mut g).map(|()| &g),
        );
        let mut h = svc("h", json!({"type": "ClusterIP", "ports": [{"port": 80}]}));
        allocate_for_create(&alloc, &mut h).unwrap();
        assert!(ip_of(&h).starts_with("10.43."), "{h}");

        expect_test::expect![[r#"
            create a: ok clusterIP="10.43.0.20" nodePorts=[30001]
            create b: 422 Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated
            create c, b's IP: ok clusterIP="10.43.0.21" nodePorts=[]
            update a +30002, retried: ok clusterIP="10.43.0.20" nodePorts=[30001, 30002]
            create d, the dry run's port: ok clusterIP="10.43.0.30" nodePorts=[30003]
            create e, a's old ports: ok clusterIP="10.43.0.31" nodePorts=[30001, 30002]
            a to ExternalName: ok clusterIP=null nodePorts=[]
            create f, a's old IP: ok clusterIP="10.43.0.20" nodePorts=[]
            a back to ClusterIP: ok clusterIP="10.43.0.22" nodePorts=[]
            create g, a's new IP: 422 Service "g" is invalid: spec.clusterIPs: Invalid value: ["10.43.0.22"]: failed to allocate IP 10.43.0.22: provided IP is already allocated
        "#]]
        .assert_eq(&log);
    }
}
