//! Which HTTPRoutes attach to which listeners of our Gateways, with the hostnames they
//! serve there, and the reasons when they do not. Pure; the table compiler and the status
//! writer both read it, so what is served and what status says cannot drift apart.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::types::{
    BackendRef, Gateway, GatewayClass, HttpRoute, Listener, ParentRef, ReferenceGrant, GROUP,
};
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

/// What attachment looks up besides the Gateway API objects.
pub struct Lookup<'a> {
    /// Whether a `kubernetes.io/tls` Secret `(namespace, name)` exists.
    pub secret_exists: &'a dyn Fn(&str, &str) -> bool,
    /// Whether a Service `(namespace, name)` exists.
    pub service_exists: &'a dyn Fn(&str, &str) -> bool,
    /// A namespace's labels; None for a namespace not known.
    pub namespace_labels: &'a dyn Fn(&str) -> Option<BTreeMap<String, String>>,
    pub grants: &'a [&'a ReferenceGrant],
}

/// Whether a ReferenceGrant in `to_ns` lets a `from_kind` in `from_ns` refer to the core
/// `to_kind` named `to_name` there.
fn granted(
    grants: &[&ReferenceGrant],
    from_kind: &str,
    from_ns: &str,
    to_kind: &str,
    to_ns: &str,
    to_name: &str,
) -> bool {
    grants
        .iter()
        .filter(|g| g.metadata.namespace.as_deref() == Some(to_ns))
        .any(|g| {
            g.spec
                .from
                .iter()
                .any(|f| f.group == GROUP && f.kind == from_kind && f.namespace == from_ns)
                && g.spec.to.iter().any(|t| {
                    (t.group.is_empty() || t.group == "core")
                        && t.kind == to_kind
                        && t.name
                            .as_deref()
                            .is_none_or(|n| n.is_empty() || n == to_name)
                })
        })
}

/// Whether `labels` satisfy `selector` (an empty selector takes every namespace).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // An operator the API would have refused: select nothing rather than all.
                _ => false,
            }
        })
}

/// A backendRef that can be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub namespace: String,
    pub name: String,
    pub port: i32,
    /// 0 takes no requests.
    pub weight: u64,
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
    /// Per rule, per backendRef: the backend, or why it cannot be served.
    pub backends: Vec<Vec<Result<Backend, Verdict>>>,
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

/// A backendRef of a route in `route_ns` as a [`Backend`], or why it cannot be served.
pub fn resolve_backend(
    route_ns: &str,
    b: &BackendRef,
    lookup: &Lookup<'_>,
) -> Result<Backend, Verdict> {
    let group = b.group.as_deref().unwrap_or("");
    let kind = b.kind.as_deref().unwrap_or("Service");
    if !(group.is_empty() || group == "core") || kind != "Service" {
        return Err(Verdict::no(
            "InvalidKind",
            format!(
                "backend {group}/{kind} {:?}: only Services are served",
                b.name
            ),
        ));
    }
    let ns = b.namespace.as_deref().unwrap_or(route_ns);
    if ns != route_ns && !granted(lookup.grants, "HTTPRoute", route_ns, "Service", ns, &b.name) {
        return Err(Verdict::no(
            "RefNotPermitted",
            format!("backend {ns}/{}: no ReferenceGrant in {ns} lets HTTPRoutes of {route_ns} refer to it", b.name),
        ));
    }
    let Some(port) = b.port else {
        return Err(Verdict::no(
            "UnsupportedValue",
            format!("backend {ns}/{}: a Service backend needs a port", b.name),
        ));
    };
    if !(lookup.service_exists)(ns, &b.name) {
        return Err(Verdict::no(
            "BackendNotFound",
            format!("service {ns}/{} not found", b.name),
        ));
    }
    Ok(Backend {
        namespace: ns.to_string(),
        name: b.name.clone(),
        port,
        weight: u64::try_from(b.weight.unwrap_or(1)).unwrap_or(0),
    })
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

fn allows(listener: &Listener, gateway_ns: &str, route_ns: &str, lookup: &Lookup<'_>) -> bool {
    let allowed = listener.allowed_routes.as_ref();
    let kinds_ok = allowed.and_then(|a| a.kinds.as_ref()).is_none_or(|kinds| {
        kinds.is_empty()
            || kinds
                .iter()
                .any(|k| k.kind == "HTTPRoute" && k.group.as_deref().unwrap_or(GROUP) == GROUP)
    });
    let namespaces = allowed.and_then(|a| a.namespaces.as_ref());
    let from = namespaces.and_then(|n| n.from.as_deref()).unwrap_or("Same");
    let ns_ok = match from {
        "All" => true,
        "Same" => gateway_ns == route_ns,
        // A Selector listener without a selector takes nothing: the API requires one.
        "Selector" => match (
            namespaces.and_then(|n| n.selector.as_ref()),
            (lookup.namespace_labels)(route_ns),
        ) {
            (Some(selector), Some(labels)) => selects(selector, &labels),
            _ => false,
        },
        _ => false,
    };
    kinds_ok && ns_ok
}

/// Works out the attachments.
pub fn attach<'a>(
    classes: &[&'a GatewayClass],
    gateways: &[&'a Gateway],
    routes: &[&'a HttpRoute],
    lookup: &Lookup<'_>,
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
                        if kind != "Secret" || !(group.is_empty() || group == "core") {
                            Some(format!("certificate {group}/{kind} {:?}: only Secrets are served", r.name))
                        } else if rns != ns && !granted(lookup.grants, "Gateway", ns, "Secret", rns, &r.name) {
                            Some(format!("certificate {rns}/{}: no ReferenceGrant in {rns} lets Gateways of {ns} refer to it", r.name))
                        } else if !(lookup.secret_exists)(rns, &r.name) {
                            Some(format!("certificate Secret {rns}/{} (type kubernetes.io/tls) not found", r.name))
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
                if !allows(l, gw_ns, route_ns, lookup) {
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
        let backends: Vec<Vec<Result<Backend, Verdict>>> = route
            .spec
            .rules
            .iter()
            .flatten()
            .map(|r| {
                r.backend_refs
                    .iter()
                    .map(|b| resolve_backend(route_ns, b, lookup))
                    .collect()
            })
            .collect();
        let problem = backends.iter().flatten().find_map(|b| b.as_ref().err());
        let resolved = problem
            .cloned()
            .unwrap_or_else(|| Verdict::yes("ResolvedRefs", "all backends resolved"));
        out.routes.push(RouteState {
            route,
            parents,
            backends,
            resolved,
        });
    }
    out
}
