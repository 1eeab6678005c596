//! The downward API: a pod's own fields (`fieldRef`) and a container's resources
//! (`resourceFieldRef`) as strings, for env vars and downwardAPI volume files. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::resources::milli_value;

/// What the node knows about a running pod besides its object.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub host_ip: String,
    pub pod_ip: String,
    /// The node's allocatable resources: the limits of a container without one.
    pub allocatable: BTreeMap<String, Quantity>,
}

/// `k="v"` lines in key order, values quoted as Go's `%q` does (what upstream writes for
/// `metadata.labels` and `metadata.annotations`).
pub fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `metadata.labels['k']` → ("metadata.labels", Some("k")).
fn subscript(path: &str) -> (&str, Option<&str>) {
    if let Some((head, rest)) = path.split_once("['") {
        if let Some(key) = rest.strip_suffix("']") {
            return (head, Some(key));
        }
    }
    (path, None)
}

/// A `fieldRef`'s value. `status.*` and `spec.*` paths are only valid for env vars (the
/// API server's validation keeps them out of volumes).
pub fn field(pod: &Pod, path: &str, f: &Facts) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let (head, key) = subscript(path);
    let map = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    Ok(match (head, key) {
        ("metadata.labels", Some(k)) => map(&meta.labels).get(k).cloned().unwrap_or_default(),
        ("metadata.annotations", Some(k)) => {
            map(&meta.annotations).get(k).cloned().unwrap_or_default()
        }
        ("metadata.labels", None) => format_map(&map(&meta.labels)),
        ("metadata.annotations", None) => format_map(&map(&meta.annotations)),
        ("metadata.name", None) => meta.name.clone().unwrap_or_default(),
        ("metadata.namespace", None) => meta.namespace.clone().unwrap_or_default(),
        ("metadata.uid", None) => meta.uid.clone().unwrap_or_default(),
        ("spec.nodeName", None) => spec.node_name.unwrap_or_default(),
        ("spec.serviceAccountName", None) => spec.service_account_name.unwrap_or_default(),
        ("status.hostIP" | "status.hostIPs", None) => f.host_ip.clone(),
        ("status.podIP" | "status.podIPs", None) => pod_ip(pod, f),
        _ => return Err(format!("unsupported fieldPath: {path}")),
    })
}

/// A host-network pod's IP is the node's.
fn pod_ip(pod: &Pod, f: &Facts) -> String {
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    if f.pod_ip.is_empty() && host_network {
        f.host_ip.clone()
    } else {
        f.pod_ip.clone()
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    if b <= 0 {
        return 0;
    }
    (a + b - 1).div_euclid(b)
}

/// A `resourceFieldRef`'s value: the container's request or limit (limits default to the
/// node's allocatable) divided by the divisor, rounded up, as upstream.
pub fn resource(
    pod: &Pod,
    container: &Container,
    container_name: Option<&str>,
    resource: &str,
    divisor: Option<&Quantity>,
    f: &Facts,
) -> Result<String, String> {
    let c = match container_name.filter(|n| !n.is_empty()) {
        None => container.clone(),
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| format!("container {name} not found"))?,
    };
    let res = c.resources.unwrap_or_default();
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    let supported =
        matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
    if !supported {
        return Err(format!("unsupported container resource : {resource}"));
    }
    let milli = match kind {
        "requests" => res
            .requests
            .as_ref()
            .and_then(|r| r.get(name))
            .map(|q| q.0.clone()),
        "limits" => res
            .limits
            .as_ref()
            .and_then(|l| l.get(name))
            .filter(|q| milli_value(&q.0).is_some_and(|v| v != 0))
            .or_else(|| f.allocatable.get(name))
            .map(|q| q.0.clone()),
        _ => return Err(format!("unsupported container resource : {resource}")),
    }
    .and_then(|q| milli_value(&q))
    .unwrap_or(0);
    let divisor = divisor
        .and_then(|d| milli_value(&d.0))
        .filter(|d| *d != 0)
        .unwrap_or(1000);
    let value = if name == "cpu" {
        ceil_div(milli, divisor)
    } else {
        // Whole units for bytes: a quantity's Value() rounds up.
        ceil_div(ceil_div(milli, 1000), ceil_div(divisor, 1000).max(1))
    };
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"note": "x\ny"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [
                {"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
                {"name": "d"},
            ]},
        }))
        .unwrap()
    }

    #[test]
    fn fields() {
        let f = Facts {
            host_ip: "192.0.2.2".into(),
            pod_ip: "10.42.0.7".into(),
            ..Default::default()
        };
        let cases = [
            ("metadata.name", "p"),
            ("metadata.namespace", "ns"),
            ("metadata.uid", "u-1"),
            ("metadata.labels['app']", "web"),
            ("metadata.labels['missing']", ""),
            ("metadata.annotations['note']", "x\ny"),
            ("metadata.labels", "app=\"web\"\ntier=\"a\\\"b\""),
            ("metadata.annotations", "note=\"x\\ny\""),
            ("spec.nodeName", "n1"),
            ("spec.serviceAccountName", "sa"),
            ("status.hostIP", "192.0.2.2"),
            ("status.hostIPs", "192.0.2.2"),
            ("status.podIP", "10.42.0.7"),
            ("status.podIPs", "10.42.0.7"),
            ("spec.bogus", "ERR unsupported fieldPath: spec.bogus"),
        ];
        for (path, want) in cases {
            let got = field(&pod(), path, &f).unwrap_or_else(|e| format!("ERR {e}"));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn resources() {
        let f = Facts {
            allocatable: [("cpu", "4"), ("memory", "8Gi")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.into())))
                .collect(),
            ..Default::default()
        };
        let p = pod();
        let spec = p.spec.clone().unwrap();
        let cases = [
            ("c", None, "requests.cpu", None, "1"),
            ("c", None, "requests.cpu", Some("1m"), "250"),
            ("c", None, "limits.cpu", None, "4"),
            ("c", None, "limits.cpu", Some("1m"), "4000"),
            ("c", None, "requests.memory", None, "67108864"),
            ("c", None, "limits.memory", Some("1Mi"), "128"),
            ("c", None, "limits.memory", Some("1M"), "135"),
            ("d", None, "limits.memory", Some("1Gi"), "8"),
            ("d", None, "requests.memory", None, "0"),
            ("d", Some("c"), "requests.cpu", Some("1m"), "250"),
            (
                "d",
                Some("x"),
                "requests.cpu",
                None,
                "ERR container x not found",
            ),
            (
                "c",
                None,
                "limits.gpu",
                None,
                "ERR unsupported container resource : limits.gpu",
            ),
        ];
        for (own, name, res, divisor, want) in cases {
            let c = spec.containers.iter().find(|c| c.name == own).unwrap();
            let d = divisor.map(|d| Quantity(d.into()));
            let got =
                resource(&p, c, name, res, d.as_ref(), &f).unwrap_or_else(|e| format!("ERR {e}"));
            assert_eq!(got, want, "{own} {name:?} {res} {divisor:?}");
        }
    }
}
