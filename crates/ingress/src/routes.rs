//! The routing table compiled from all our Ingresses: per host (exact names, `*.domain`
//! wildcards that match exactly one more label, and rules without a host) a list of paths
//! in precedence order — longest first, Exact before Prefix at equal length — and the
//! default backend. A request for a host some rule names is routed within that host's
//! rules only (its exact name, else its wildcard), falling back to the default backend of
//! an Ingress that names the host, else none (404): another Ingress's host-less rules never
//! catch it. A host no rule names gets the host-less rules, then the default backend.
//! Pure; rebuilt whole on every change and swapped in, so a request never sees half a
//! table.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::Ingress;

use crate::backends::{Resolver, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    Exact,
    /// Element-wise on `/`-separated segments: `/foo` matches `/foo`, `/foo/`, `/foo/bar`,
    /// not `/foobar`. ImplementationSpecific paths are treated as Prefix.
    Prefix,
}

#[derive(Debug)]
struct Route {
    /// For Prefix: without a trailing `/` (the root prefix is the empty string).
    path: String,
    kind: Match,
    target: Arc<Target>,
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            Match::Exact => path == self.path,
            Match::Prefix => {
                path.starts_with(self.path.as_str())
                    && matches!(path.as_bytes().get(self.path.len()), None | Some(b'/'))
            }
        }
    }
}

/// One host's paths, and the default backend of the (oldest) Ingress naming it that has one.
#[derive(Debug, Default)]
struct Host {
    routes: Vec<Route>,
    default_backend: Option<Arc<Target>>,
}

#[derive(Debug, Default)]
pub struct Table {
    exact: HashMap<String, Host>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Host>,
    any_host: Vec<Route>,
    default_backend: Option<Arc<Target>>,
    /// False until every watch has listed once: a miss then means "not known yet".
    pub listed: bool,
}

impl Table {
    /// The backend for a request; `host` is lowercase without a port.
    pub fn route(&self, host: &str, path: &str) -> Option<&Arc<Target>> {
        fn find<'t>(routes: &'t [Route], path: &str) -> Option<&'t Arc<Target>> {
            routes.iter().find(|r| r.matches(path)).map(|r| &r.target)
        }
        let named = self.exact.get(host).or_else(|| {
            let (label, parent) = host.split_once('.')?;
            (!label.is_empty()).then(|| self.wildcard.get(parent))?
        });
        match named {
            Some(h) => find(&h.routes, path).or(h.default_backend.as_ref()),
            None => find(&self.any_host, path).or(self.default_backend.as_ref()),
        }
    }
}

/// Compiles `ingresses` (ours, oldest first: the older Ingress keeps a host and path two
/// of them claim, and the default backend).
pub fn compile(ingresses: &[&Ingress], resolver: &mut Resolver<'_>) -> Table {
    let mut table = Table::default();
    for ing in ingresses {
        let ns = ing.metadata.namespace.as_deref().unwrap_or("default");
        let Some(spec) = &ing.spec else { continue };
        if let (None, Some(b)) = (&table.default_backend, &spec.default_backend) {
            table.default_backend = Some(resolver.resolve(ns, b));
        }
        for rule in spec.rules.iter().flatten() {
            let host = rule.host.as_deref().unwrap_or("").to_ascii_lowercase();
            let named = if host.is_empty() {
                None
            } else if let Some(parent) = host.strip_prefix("*.") {
                Some(table.wildcard.entry(parent.to_string()).or_default())
            } else {
                Some(table.exact.entry(host).or_default())
            };
            let routes = match named {
                Some(h) => {
                    if let (None, Some(b)) = (&h.default_backend, &spec.default_backend) {
                        h.default_backend = Some(resolver.resolve(ns, b));
                    }
                    &mut h.routes
                }
                None => &mut table.any_host,
            };
            for p in rule.http.iter().flat_map(|h| &h.paths) {
                let kind = if p.path_type == "Exact" {
                    Match::Exact
                } else {
                    Match::Prefix
                };
                let raw = p.path.as_deref().unwrap_or("/");
                let path = match kind {
                    Match::Exact => raw.to_string(),
                    Match::Prefix => raw.trim_end_matches('/').to_string(),
                };
                if routes.iter().any(|r| r.kind == kind && r.path == path) {
                    continue;
                }
                routes.push(Route {
                    path,
                    kind,
                    target: resolver.resolve(ns, &p.backend),
                });
            }
        }
    }
    let order = |routes: &mut Vec<Route>| {
        // Stable: among equals the older Ingress's route stays first.
        routes.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| (a.kind == Match::Prefix).cmp(&(b.kind == Match::Prefix)))
        })
    };
    table.exact.values_mut().for_each(|h| order(&mut h.routes));
    table
        .wildcard
        .values_mut()
        .for_each(|h| order(&mut h.routes));
    order(&mut table.any_host);
    table
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
