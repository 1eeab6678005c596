//! Services and networking: services, endpoints, endpointslices, ingresses,
//! ingressclasses, networkpolicies, servicecidrs, ipaddresses.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    arr_at, creation_age, docs, format_label_selector, format_labels, get, int_at, list_with_more,
    name_cell, opt_int, opt_str, s, str_at, Column, Printer, AGE, NAME,
};

pub static SERVICES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Type", "string", docs::SERVICE_SPEC_TYPE),
        Column::new("Cluster-IP", "string", docs::SERVICE_SPEC_CLUSTER_IP),
        Column::new("External-IP", "string", docs::SERVICE_SPEC_EXTERNAL_IPS),
        Column::new("Port(s)", "string", docs::SERVICE_SPEC_PORTS),
        AGE,
        Column::new("Selector", "string", docs::SERVICE_SPEC_SELECTOR).wide(),
    ],
    row: |svc, now| {
        let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
            .first()
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        let ports = service_ports(svc);
        vec![
            name_cell(svc),
            s(str_at(svc, &["spec", "type"])),
            s(cluster_ip),
            s(service_external_ip(svc)),
            s(if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports
            }),
            creation_age(svc, now),
            s(format_labels(get(svc, &["spec", "selector"]))),
        ]
    },
};

/// `port/protocol`, or `port:nodePort/protocol` when a node port is allocated.
pub(crate) fn service_ports(svc: &Value) -> String {
    arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let protocol = str_at(p, &["protocol"]);
            match int_at(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Load-balancer ingress points (IP, else hostname), sorted and de-duplicated. The server
/// prints wide, so the list is never clipped.
fn load_balancer_ingress(obj: &Value) -> String {
    let points: BTreeSet<&str> = arr_at(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| match (str_at(i, &["ip"]), str_at(i, &["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    points.into_iter().collect::<Vec<_>>().join(",")
}

pub(crate) fn service_external_ip(svc: &Value) -> String {
    let external: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match str_at(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc);
            if !external.is_empty() {
                let mut all: Vec<&str> = lb.split(',').filter(|p| !p.is_empty()).collect();
                all.extend(external);
                all.join(",")
            } else if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

pub static ENDPOINTS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Endpoints", "string", docs::ENDPOINTS_SUBSETS),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(format_endpoints(obj)),
            creation_age(obj, now),
        ]
    },
};

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Up to three `ip:port` endpoints (bare IPs for port-less subsets), then "+ N more...".
fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    let mut more = false;
    for subset in subsets {
        let addresses = arr_at(subset, &["addresses"]);
        let ports = arr_at(subset, &["ports"]);
        // Headless services may have no ports: list the bare addresses.
        let port_numbers: Vec<Option<i64>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.iter().map(|p| Some(int_at(p, &["port"]))).collect()
        };
        for port in port_numbers {
            count += addresses.len();
            for address in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let ip = str_at(address, &["ip"]);
                list.push(match port {
                    Some(port) => join_host_port(ip, port),
                    None => ip.to_string(),
                });
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

pub static ENDPOINT_SLICES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("AddressType", "string", docs::ENDPOINTSLICE_ADDRESS_TYPE),
        Column::new("Ports", "string", docs::ENDPOINTSLICE_PORTS),
        Column::new("Endpoints", "string", docs::ENDPOINTSLICE_ENDPOINTS),
        AGE,
    ],
    row: |obj, now| {
        let ports: Vec<String> = arr_at(obj, &["ports"])
            .iter()
            .map(|p| match (opt_int(p, &["port"]), opt_str(p, &["name"])) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            })
            .collect();
        let addresses: Vec<String> = arr_at(obj, &["endpoints"])
            .iter()
            .flat_map(|e| arr_at(e, &["addresses"]))
            .map(|a| a.as_str().unwrap_or("").to_string())
            .collect();
        vec![
            name_cell(obj),
            s(str_at(obj, &["addressType"])),
            s(list_with_more(&ports, 3)),
            s(list_with_more(&addresses, 3)),
            creation_age(obj, now),
        ]
    },
};

pub static INGRESSES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        Column::new(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        Column::new(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        Column::new("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ],
    row: |obj, now| {
        let ports = if arr_at(obj, &["spec", "tls"]).is_empty() { "80" } else { "80, 443" };
        vec![
            name_cell(obj),
            s(opt_str(obj, &["spec", "ingressClassName"]).unwrap_or("<none>")),
            s(ingress_hosts(obj)),
            s(load_balancer_ingress(obj)),
            s(ports),
            creation_age(obj, now),
        ]
    },
};

/// Up to three rule hosts, `*` when no rule names a host.
fn ingress_hosts(obj: &Value) -> String {
    const MAX: usize = 3;
    let rules = arr_at(obj, &["spec", "rules"]);
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

pub static INGRESS_CLASSES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Controller",
            "string",
            "Controller that is responsible for handling this class",
        ),
        Column::new(
            "Parameters",
            "string",
            "A reference to a resource with additional parameters",
        ),
        AGE,
    ],
    row: |obj, now| {
        let parameters = match get(obj, &["spec", "parameters"]) {
            None => "<none>".to_string(),
            Some(p) => {
                let kind = match opt_str(p, &["apiGroup"]) {
                    Some(group) => format!("{}.{group}", str_at(p, &["kind"])),
                    None => str_at(p, &["kind"]).to_string(),
                };
                format!("{kind}/{}", str_at(p, &["name"]))
            }
        };
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "controller"])),
            s(parameters),
            creation_age(obj, now),
        ]
    },
};

pub static NETWORK_POLICIES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Pod-Selector",
            "string",
            docs::NETWORK_POLICY_SPEC_POD_SELECTOR,
        ),
        AGE,
    ],
    row: |obj, now| {
        // podSelector is a struct upstream, so an absent one means "select everything".
        let selector = get(obj, &["spec", "podSelector"])
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        vec![
            name_cell(obj),
            s(format_label_selector(Some(&selector))),
            creation_age(obj, now),
        ]
    },
};

pub static SERVICE_CIDRS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("CIDRs", "string", docs::SERVICE_CIDR_SPEC_CIDRS),
        AGE,
    ],
    row: |obj, now| {
        let cidrs: Vec<&str> = arr_at(obj, &["spec", "cidrs"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        vec![name_cell(obj), s(cidrs.join(",")), creation_age(obj, now)]
    },
};

pub static IP_ADDRESSES: Printer = Printer {
    // Upstream also appends an age cell that no column describes; rows here keep one cell
    // per column.
    columns: &[
        NAME,
        Column::new("ParentRef", "string", docs::IP_ADDRESS_SPEC_PARENT_REF),
    ],
    row: |obj, _now| {
        let parent = match get(obj, &["spec", "parentRef"]) {
            None => "<none>".to_string(),
            Some(p) => {
                let resource = str_at(p, &["resource"]);
                let group = str_at(p, &["group"]);
                let mut text = if group.is_empty() {
                    resource.to_lowercase()
                } else {
                    format!("{resource}.{group}").to_lowercase()
                };
                let namespace = str_at(p, &["namespace"]);
                if !namespace.is_empty() {
                    text = format!("{text}/{namespace}");
                }
                format!("{text}/{}", str_at(p, &["name"]))
            }
        };
        vec![name_cell(obj), s(parent)]
    },
};
