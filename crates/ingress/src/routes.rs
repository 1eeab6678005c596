//! The routing table compiled from our Ingresses and our Gateways' HTTPRoutes: per host
//! (exact names, `*.domain` wildcards, and rules without a host) a list of matches in
//! precedence order, and the default backend. A request for a host some rule names is
//! routed within that host's rules only (its exact name, else its wildcard), falling back to
//! the default backend of an Ingress that names the host, else none (404): another
//! Ingress's host-less rules never catch it. A host no rule names gets the host-less rules,
//! then the default backend.
//!
//! An Ingress wildcard matches exactly one more label; an HTTPRoute wildcard any number
//! (Gateway API's rule), the longest matching suffix first. Within a host, Gateway API's
//! precedence orders every match, which keeps Ingress's own (longest path first, Exact
//! before Prefix at equal length): Exact paths first, then the longest prefix, then a
//! match with a method, then the one with most header and then query matches; ties keep
//! the order added (older Ingresses, then older HTTPRoutes, then rule order).
//! Pure; rebuilt whole on every change and swapped in, so a request never sees half a
//! table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use k8s_openapi::api::networking::v1::Ingress;

use crate::backends::{Resolver, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Exact,
    /// Element-wise on `/`-separated segments: `/foo` matches `/foo`, `/foo/`, `/foo/bar`,
    /// not `/foobar`. ImplementationSpecific paths are treated as Prefix.
    Prefix,
}

/// What a matched request gets.
#[derive(Debug)]
pub enum Action {
    Forward(Forward),
    Redirect(Redirect),
    /// The rule cannot be served (say, none of its backends is valid); the text says why.
    /// Gateway API asks for a 500 here rather than a 404, so clients see a broken rule.
    Fail(String),
}

/// Backends sharing requests by weight, and the request header changes on the way.
#[derive(Debug, Default)]
pub struct Forward {
    backends: Vec<(Arc<Target>, u64)>,
    total: u64,
    /// Coprime with `total`: see [`Forward::pick`].
    step: u64,
    next: AtomicU64,
    pub headers: HeaderModifier,
}

impl Forward {
    /// One backend, as an Ingress path has.
    pub fn single(target: Arc<Target>) -> Forward {
        Forward::weighted(vec![(target, 1)], HeaderModifier::default())
    }

    /// Backends with weight 0 take no requests; none left, [`Forward::pick`] gives None.
    pub fn weighted(backends: Vec<(Arc<Target>, u64)>, headers: HeaderModifier) -> Forward {
        let backends: Vec<_> = backends.into_iter().filter(|(_, w)| *w > 0).collect();
        let total = backends.iter().map(|(_, w)| w).sum();
        // Near half the total, so consecutive requests land far apart in the slot order.
        let step = (1..=total / 2 + 1)
            .rev()
            .find(|s| gcd(*s, total) == 1)
            .unwrap_or(1);
        Forward {
            total,
            step,
            backends,
            next: AtomicU64::new(0),
            headers,
        }
    }

    /// The backend for the next request: a rotating counter spread over the weights, so
    /// the shares are exact over every `total` requests without a random source.
    pub fn pick(&self) -> Option<&Arc<Target>> {
        if self.total == 0 {
            return None;
        }
        if let [(only, _)] = self.backends.as_slice() {
            return Some(only);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // A step coprime with `total` visits every slot once per round but interleaves the
        // backends instead of sending `weight` requests in a row to each.
        let mut slot = (n % self.total).wrapping_mul(self.step) % self.total;
        for (target, weight) in &self.backends {
            if slot < *weight {
                return Some(target);
            }
            slot -= weight;
        }
        self.backends.last().map(|(t, _)| t)
    }

    pub fn backends(&self) -> impl Iterator<Item = (&Arc<Target>, u64)> {
        self.backends.iter().map(|(t, w)| (t, *w))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Gateway API's RequestHeaderModifier: set replaces, add appends, remove drops.
#[derive(Debug, Default, Clone)]
pub struct HeaderModifier {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderModifier {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

/// Gateway API's RequestRedirect: unset parts keep the request's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    /// 301 or 302.
    pub status: u16,
}

impl Redirect {
    /// The Location for a request: the request's port is kept unless the redirect names a
    /// port or changes the scheme (then the new scheme's well-known port, left out).
    pub fn location(
        &self,
        scheme: &str,
        host: &str,
        port: Option<u16>,
        path_and_query: &str,
    ) -> String {
        let new_scheme = self.scheme.as_deref().unwrap_or(scheme);
        let port = match (self.port, &self.scheme) {
            (Some(p), _) => Some(p),
            (None, Some(_)) => None,
            (None, None) => port,
        };
        let well_known = match new_scheme {
            "https" => 443,
            _ => 80,
        };
        let host = self.hostname.as_deref().unwrap_or(host);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        match port.filter(|p| *p != well_known) {
            Some(p) => format!("{new_scheme}://{host}:{p}{path_and_query}"),
            None => format!("{new_scheme}://{host}{path_and_query}"),
        }
    }
}

/// What a route matches beyond the path: all must hold.
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    pub method: Option<Method>,
    /// Exact values; names are case-insensitive as HTTP's are.
    pub headers: Vec<(HeaderName, String)>,
    /// Exact values of query parameters (the first occurrence counts).
    pub query: Vec<(String, String)>,
    /// Only over TLS (Some(true)) or only plain (Some(false)): an HTTPRoute serves on the
    /// scheme of the listeners it attached to.
    pub https: Option<bool>,
}

impl Conditions {
    fn hold(&self, req: &RequestHead<'_>) -> bool {
        if self.https.is_some_and(|https| https != req.https) {
            return false;
        }
        if self.method.as_ref().is_some_and(|m| m != req.method) {
            return false;
        }
        let headers = self.headers.iter().all(|(name, want)| {
            req.headers
                .get(name)
                .is_some_and(|v| v.as_bytes() == want.as_bytes())
        });
        headers
            && self.query.iter().all(|(name, want)| {
                let found = req.query.unwrap_or("").split('&').find_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (k == name).then_some(v)
                });
                found == Some(want.as_str())
            })
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    /// For Prefix: without a trailing `/` (the root prefix is the empty string).
    path: String,
    kind: Match,
    conditions: Conditions,
    action: Arc<Action>,
}

impl Route {
    pub fn new(path: &str, kind: Match, conditions: Conditions, action: Arc<Action>) -> Route {
        let path = match kind {
            Match::Exact => path.to_string(),
            Match::Prefix => path.trim_end_matches('/').to_string(),
        };
        Route {
            path,
            kind,
            conditions,
            action,
        }
    }

    fn matches(&self, req: &RequestHead<'_>) -> bool {
        let path = req.path;
        let on_path = match self.kind {
            Match::Exact => path == self.path,
            Match::Prefix => {
                path.starts_with(self.path.as_str())
                    && matches!(path.as_bytes().get(self.path.len()), None | Some(b'/'))
            }
        };
        on_path && self.conditions.hold(req)
    }
}

/// One host's routes, and the default backend of the (oldest) Ingress naming it that has one.
#[derive(Debug, Default)]
struct Host {
    routes: Vec<Route>,
    default_backend: Option<Arc<Action>>,
}

/// The parts of a request routing looks at.
#[derive(Debug)]
pub struct RequestHead<'a> {
    /// Lowercase, without a port.
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// Arrived on the TLS listener.
    pub https: bool,
}

#[derive(Debug, Default)]
pub struct Table {
    exact: HashMap<String, Host>,
    /// Keyed by the part after `*.`: matches one more label.
    wildcard: HashMap<String, Host>,
    /// HTTPRoute wildcards again, for hosts two or more labels below.
    deep_wildcard: HashMap<String, Host>,
    any_host: Vec<Route>,
    default_backend: Option<Arc<Action>>,
    /// False until every watch has listed once: a miss then means "not known yet".
    pub listed: bool,
}

impl Table {
    /// What a request gets; None: no rule (404).
    pub fn route(&self, req: &RequestHead<'_>) -> Option<&Arc<Action>> {
        let find =
            |routes: &'_ [Route]| -> Option<usize> { routes.iter().position(|r| r.matches(req)) };
        match self.named(req.host) {
            Some(h) => find(&h.routes)
                .map(|i| &h.routes[i].action)
                .or(h.default_backend.as_ref()),
            None => find(&self.any_host)
                .map(|i| &self.any_host[i].action)
                .or(self.default_backend.as_ref()),
        }
    }

    /// The most specific host entry naming `host`.
    fn named(&self, host: &str) -> Option<&Host> {
        if let Some(h) = self.exact.get(host) {
            return Some(h);
        }
        let (label, parent) = host.split_once('.')?;
        if label.is_empty() {
            return None;
        }
        if let Some(h) = self.wildcard.get(parent) {
            return Some(h);
        }
        let mut rest = parent;
        while let Some((_, shorter)) = rest.split_once('.') {
            if let Some(h) = self.deep_wildcard.get(shorter) {
                return Some(h);
            }
            rest = shorter;
        }
        None
    }

    /// Adds a route under `host` (lowercase; empty: any host). `deep` wildcards (HTTPRoute's)
    /// also match hosts more than one label below.
    pub(crate) fn add(&mut self, host: &str, deep: bool, route: Route) {
        if host.is_empty() {
            self.any_host.push(route);
        } else if let Some(parent) = host.strip_prefix("*.") {
            if deep {
                self.deep_wildcard
                    .entry(parent.to_string())
                    .or_default()
                    .routes
                    .push(route.clone());
            }
            self.wildcard
                .entry(parent.to_string())
                .or_default()
                .routes
                .push(route);
        } else {
            self.exact
                .entry(host.to_string())
                .or_default()
                .routes
                .push(route);
        }
    }

    /// Puts every host's routes in precedence order (stable: equals keep the order added).
    pub(crate) fn order(&mut self) {
        let order = |routes: &mut Vec<Route>| {
            routes.sort_by_key(|r| {
                (
                    r.kind == Match::Prefix,
                    std::cmp::Reverse(r.path.len()),
                    r.conditions.method.is_none(),
                    std::cmp::Reverse(r.conditions.headers.len()),
                    std::cmp::Reverse(r.conditions.query.len()),
                )
            })
        };
        for h in self
            .exact
            .values_mut()
            .chain(self.wildcard.values_mut())
            .chain(self.deep_wildcard.values_mut())
        {
            order(&mut h.routes);
        }
        order(&mut self.any_host);
    }
}

/// Compiles `ingresses` (ours, oldest first: the older Ingress keeps a host and path two
/// of them claim, and the default backend). Call [`Table::order`] once everything is in.
pub fn compile(ingresses: &[&Ingress], resolver: &mut Resolver<'_>) -> Table {
    let mut table = Table::default();
    add_ingresses(&mut table, ingresses, resolver);
    table.order();
    table
}

pub(crate) fn add_ingresses(
    table: &mut Table,
    ingresses: &[&Ingress],
    resolver: &mut Resolver<'_>,
) {
    let forward = |resolver: &mut Resolver<'_>, ns: &str, b| {
        Arc::new(Action::Forward(Forward::single(resolver.resolve(ns, b))))
    };
    for ing in ingresses {
        let ns = ing.metadata.namespace.as_deref().unwrap_or("default");
        let Some(spec) = &ing.spec else { continue };
        if let (None, Some(b)) = (&table.default_backend, &spec.default_backend) {
            table.default_backend = Some(forward(resolver, ns, b));
        }
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.as_deref().unwrap_or("").to_ascii_lowercase();
            if !host.is_empty() {
                let entry = match host.strip_prefix("*.") {
                    Some(parent) => table.wildcard.entry(parent.to_string()),
                    None => table.exact.entry(host.clone()),
                };
                let h = entry.or_default();
                if let (None, Some(b)) = (&h.default_backend, &spec.default_backend) {
                    h.default_backend = Some(forward(resolver, ns, b));
                }
            }
            for p in rule.http.iter().flat_map(|h| &h.paths) {
                let kind = if p.path_type == "Exact" {
                    Match::Exact
                } else {
                    Match::Prefix
                };
                let route = Route::new(
                    p.path.as_deref().unwrap_or("/"),
                    kind,
                    Conditions::default(),
                    forward(resolver, ns, &p.backend),
                );
                // The older Ingress keeps a host and path two of them name.
                let existing = match host.strip_prefix("*.") {
                    _ if host.is_empty() => Some(&table.any_host),
                    Some(parent) => table.wildcard.get(parent).map(|h| &h.routes),
                    None => table.exact.get(&host).map(|h| &h.routes),
                };
                if existing
                    .is_some_and(|rs| rs.iter().any(|r| r.kind == kind && r.path == route.path))
                {
                    continue;
                }
                table.add(&host, false, route);
            }
        }
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
pub(crate) mod tests;
