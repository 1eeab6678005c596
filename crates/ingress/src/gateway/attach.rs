//! Which HTTPRoutes attach to which listeners of our Gateways, with the hostnames they
//! serve there, and the reasons when they do not. Pure; the table compiler and the status
//! writer both read it, so what is served and what status says cannot drift apart.

use std::collections::HashMap;

use super::types::{BackendRef, Gateway, GatewayClass, HttpRoute, Listener, ParentRef, GROUP};
use super::CONTROLLER;

pub fn is_ours(class: &GatewayClass) -> bool {
    class.spec.controller_name == CONTROLLER
}

/// `namespace/name` of an object.
pub fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// A condition's status and reason, with a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub ok: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Verdict {
    fn yes(reason: &'static str, message: impl Into<String>) -> Verdict {
        Verdict {
            ok: true,
            reason,
            message: message.into(),
        }
    }
    fn no(reason: &'static str, message: impl Into<String>) -> Verdict {
        Verdict {
            ok: false,
            reason,
            message: message.into(),
        }
    }
}

/// One listener of one of our Gateways.
#[derive(Debug)]
pub struct ListenerState<'a> {
    pub gateway: &'a Gateway,
    pub listener: &'a Listener,
    /// HTTPS (served on the node's TLS port) rather than HTTP.
    pub https: bool,
    /// Accepted: the protocol is one skiff serves.
    pub accepted: Verdict,
    /// ResolvedRefs: the certificate Secrets exist.
    pub resolved: Verdict,
    pub attached_routes: i32,
}

/// One parentRef of a route that names one of our Gateways.
#[derive(Debug)]
pub struct ParentState<'a> {
    pub parent_ref: &'a ParentRef,
    /// `namespace/name` of the Gateway.
    pub gateway: String,
    pub accepted: Verdict,
    /// Indexes into [`Attachments::listeners`], each with the hostnames the route serves
    /// there (lowercase; "" is any host).
    pub listeners: Vec<(usize, Vec<String>)>,
}

#[derive(Debug)]
pub struct RouteState<'a> {
    pub route: &'a HttpRoute,
    pub parents: Vec<ParentState<'a>>,
    /// ResolvedRefs over all backendRefs.
    pub resolved: Verdict,
}

#[derive(Debug, Default)]
pub struct Attachments<'a> {
    /// Our live Gateways, by `namespace/name`.
    pub gateways: Vec<&'a Gateway>,
    pub listeners: Vec<ListenerState<'a>>,
    /// Routes naming at least one of our Gateways, in Gateway API's precedence order
    /// (oldest first, then by `namespace/name`).
    pub routes: Vec<RouteState<'a>>,
}

/// Why a backendRef cannot be served, or None when it can.
pub fn backend_problem(
    route_ns: &str,
    b: &BackendRef,
    service_exists: &dyn Fn(&str, &str) -> bool,
) -> Option<Verdict> {
    let group = b.group.as_deref().unwrap_or("");
    let kind = b.kind.as_deref().unwrap_or("Service");
    if !(group.is_empty() || group == "core") || kind != "Service" {
        return Some(Verdict::no(
            "InvalidKind",
            format!(
                "backend {group}/{kind} {:?}: only Services are served",
                b.name
            ),
        ));
    }
    let ns = b.namespace.as_deref().unwrap_or(route_ns);
    if ns != route_ns {
        return Some(Verdict::no(
            "RefNotPermitted",
            format!(
                "backend {ns}/{}: Services in other namespaces are not served (ReferenceGrants are not followed yet)",
                b.name
            ),
        ));
    }
    if b.port.is_none() {
        return Some(Verdict::no(
            "UnsupportedValue",
            format!("backend {ns}/{}: a Service backend needs a port", b.name),
        ));
    }
    if !service_exists(ns, &b.name) {
        return Some(Verdict::no(
            "BackendNotFound",
            format!("service {ns}/{} not found", b.name),
        ));
    }
    None
}

/// The hostnames a route serves on a listener: the more specific of each intersecting
/// pair; `[""]` when neither names a host; None when they name only disjoint hosts.
pub fn intersect(listener: Option<&str>, route: &[String]) -> Option<Vec<String>> {
    let listener = listener
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase);
    let route: Vec<String> = route.iter().map(|h| h.to_ascii_lowercase()).collect();
    let Some(l) = listener else {
        return Some(if route.is_empty() {
            vec![String::new()]
        } else {
            route
        });
    };
    if route.is_empty() {
        return Some(vec![l]);
    }
    // `name` lies under the wildcard `*.{parent}`.
    let under = |name: &str, parent: &str| {
        name.strip_suffix(parent)
            .and_then(|p| p.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && label != "*")
    };
    let mut out: Vec<String> = Vec::new();
    for r in &route {
        let found = if *r == l {
            Some(r.clone())
        } else {
            match (l.strip_prefix("*."), r.strip_prefix("*.")) {
                (Some(lp), _) if under(r, lp) => Some(r.clone()),
                (_, Some(rp)) if under(&l, rp) => Some(l.clone()),
                _ => None,
            }
        };
        if let Some(h) = found.filter(|h| !out.contains(h)) {
            out.push(h);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn allows(listener: &Listener, gateway_ns: &str, route_ns: &str) -> bool {
    let allowed = listener.allowed_routes.as_ref();
    let kinds_ok = allowed.and_then(|a| a.kinds.as_ref()).is_none_or(|kinds| {
        kinds.is_empty()
            || kinds
                .iter()
                .any(|k| k.kind == "HTTPRoute" && k.group.as_deref().unwrap_or(GROUP) == GROUP)
    });
    let from = allowed
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_deref())
        .unwrap_or("Same");
    // Selector needs Namespace labels, which the data path does not watch: such a listener
    // takes no routes (and says so in its status) rather than the wrong ones.
    let ns_ok = match from {
        "All" => true,
        "Same" => gateway_ns == route_ns,
        _ => false,
    };
    kinds_ok && ns_ok
}

/// Works out the attachments. `secret_exists(ns, name)` says whether a
/// `kubernetes.io/tls` Secret exists; `service_exists(ns, name)` a Service.
pub fn attach<'a>(
    classes: &[&'a GatewayClass],
    gateways: &[&'a Gateway],
    routes: &[&'a HttpRoute],
    secret_exists: &dyn Fn(&str, &str) -> bool,
    service_exists: &dyn Fn(&str, &str) -> bool,
) -> Attachments<'a> {
    let ours_by_class: HashMap<&str, bool> = classes
        .iter()
        .filter_map(|c| Some((c.metadata.name.as_deref()?, is_ours(c))))
        .collect();
    let mut out = Attachments::default();
    let mut gateways: Vec<&Gateway> = gateways
        .iter()
        .copied()
        .filter(|g| g.metadata.deletion_timestamp.is_none())
        .filter(|g| {
            ours_by_class
                .get(g.spec.gateway_class_name.as_str())
                .copied()
                .unwrap_or(false)
        })
        .collect();
    gateways.sort_by_key(|g| key(&g.metadata));
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for g in &gateways {
        let ns = g.metadata.namespace.as_deref().unwrap_or("");
        for l in &g.spec.listeners {
            let https = l.protocol == "HTTPS";
            let accepted = match l.protocol.as_str() {
                "HTTP" | "HTTPS" => Verdict::yes("Accepted", "served on the node's ingress port"),
                other => Verdict::no(
                    "UnsupportedProtocol",
                    format!("protocol {other:?} is not served; use HTTP or HTTPS"),
                ),
            };
            let resolved = match (&l.tls, https) {
                (Some(tls), true) if tls.mode.as_deref().unwrap_or("Terminate") != "Terminate" => {
                    Verdict::no("UnsupportedValue", "only TLS mode Terminate is served")
                }
                (tls, true) => {
                    let refs = tls
                        .as_ref()
                        .map(|t| t.certificate_refs.as_slice())
                        .unwrap_or_default();
                    match refs.iter().find_map(|r| {
                        let kind = r.kind.as_deref().unwrap_or("Secret");
                        let group = r.group.as_deref().unwrap_or("");
                        let rns = r.namespace.as_deref().unwrap_or(ns);
                        if kind != "Secret" || !group.is_empty() || rns != ns {
                            Some(format!("certificate {rns}/{}: only Secrets in the Gateway's namespace are served", r.name))
                        } else if !secret_exists(ns, &r.name) {
                            Some(format!("certificate Secret {ns}/{} (type kubernetes.io/tls) not found", r.name))
                        } else {
                            None
                        }
                    }) {
                        Some(why) => Verdict::no("InvalidCertificateRef", why),
                        None if refs.is_empty() => {
                            Verdict::no("InvalidCertificateRef", "an HTTPS listener needs tls.certificateRefs")
                        }
                        None => Verdict::yes("ResolvedRefs", "certificates found"),
                    }
                }
                _ => Verdict::yes("ResolvedRefs", "nothing to resolve"),
            };
            by_key
                .entry(key(&g.metadata))
                .or_default()
                .push(out.listeners.len());
            out.listeners.push(ListenerState {
                gateway: g,
                listener: l,
                https,
                accepted,
                resolved,
                attached_routes: 0,
            });
        }
    }
    out.gateways = gateways;

    let mut routes: Vec<&HttpRoute> = routes
        .iter()
        .copied()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .collect();
    routes.sort_by_key(|r| {
        (
            r.metadata.creation_timestamp.clone().map(|t| t.0),
            key(&r.metadata),
        )
    });
    for route in routes {
        let route_ns = route.metadata.namespace.as_deref().unwrap_or("");
        let mut parents = Vec::new();
        for p in &route.spec.parent_refs {
            if p.group.as_deref().unwrap_or(GROUP) != GROUP
                || p.kind.as_deref().unwrap_or("Gateway") != "Gateway"
            {
                continue;
            }
            let gw_key = format!("{}/{}", p.namespace.as_deref().unwrap_or(route_ns), p.name);
            // Gateways that are not ours (or do not exist) are some other controller's to report on.
            let Some(candidates) = by_key.get(&gw_key) else {
                continue;
            };
            let mut named = 0;
            let mut allowed = 0;
            let mut listeners = Vec::new();
            for &i in candidates {
                let ls = &out.listeners[i];
                let l = ls.listener;
                if p.section_name.as_deref().is_some_and(|s| s != l.name)
                    || p.port.is_some_and(|port| port != l.port)
                {
                    continue;
                }
                named += 1;
                if !ls.accepted.ok {
                    continue;
                }
                let gw_ns = ls.gateway.metadata.namespace.as_deref().unwrap_or("");
                if !allows(l, gw_ns, route_ns) {
                    continue;
                }
                allowed += 1;
                if let Some(hosts) = intersect(l.hostname.as_deref(), &route.spec.hostnames) {
                    listeners.push((i, hosts));
                }
            }
            let accepted = if named == 0 {
                Verdict::no(
                    "NoMatchingParent",
                    format!("gateway {gw_key} has no listener named by the parentRef"),
                )
            } else if allowed == 0 {
                Verdict::no(
                    "NotAllowedByListeners",
                    format!("no listener of gateway {gw_key} allows this route"),
                )
            } else if listeners.is_empty() {
                Verdict::no(
                    "NoMatchingListenerHostname",
                    format!("no listener of gateway {gw_key} shares a hostname with the route"),
                )
            } else {
                Verdict::yes("Accepted", format!("attached to gateway {gw_key}"))
            };
            for (i, _) in &listeners {
                out.listeners[*i].attached_routes += 1;
            }
            parents.push(ParentState {
                parent_ref: p,
                gateway: gw_key,
                accepted,
                listeners,
            });
        }
        if parents.is_empty() {
            continue;
        }
        let problem = route
            .spec
            .rules
            .iter()
            .flatten()
            .flat_map(|r| &r.backend_refs)
            .find_map(|b| backend_problem(route_ns, b, service_exists));
        let resolved =
            problem.unwrap_or_else(|| Verdict::yes("ResolvedRefs", "all backends resolved"));
        out.routes.push(RouteState {
            route,
            parents,
            resolved,
        });
    }
    out
}
