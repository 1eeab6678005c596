//! Attached HTTPRoutes into routing-table entries: every match of every rule under every
//! hostname the route serves on each listener it attached to, limited to that listener's
//! scheme. Pure.

use std::collections::HashSet;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::Method;
use k8s_openapi::api::networking::v1::{IngressBackend, IngressServiceBackend, ServiceBackendPort};

use super::attach::{Attachments, Backend, Verdict};
use super::types::{Filter, RouteRule};
use crate::backends::Resolver;
use crate::routes::{Action, Conditions, Forward, HeaderModifier, Match, Redirect, Route, Table};

/// Adds the attached routes to `table`, after any Ingresses (an Ingress keeps a host and
/// path an HTTPRoute also names).
pub fn add_routes(table: &mut Table, att: &Attachments<'_>, resolver: &mut Resolver<'_>) {
    for rs in &att.routes {
        let default_rules = [RouteRule::default()];
        let rules = rs.route.spec.rules.as_deref().unwrap_or(&default_rules);
        let no_backends = Vec::new();
        let actions: Vec<Arc<Action>> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let backends = rs.backends.get(i).unwrap_or(&no_backends);
                Arc::new(action(r, backends, resolver))
            })
            .collect();
        // A route reached through two listeners of one scheme and host goes in once.
        let mut placed: HashSet<(String, bool)> = HashSet::new();
        for parent in &rs.parents {
            for (i, hosts) in &parent.listeners {
                let https = att.listeners[*i].https;
                for host in hosts {
                    if !placed.insert((host.clone(), https)) {
                        continue;
                    }
                    for (rule, action) in rules.iter().zip(&actions) {
                        for (path, kind, mut conditions) in matches(rule) {
                            conditions.https = Some(https);
                            table.add(
                                host,
                                true,
                                Route::new(&path, kind, conditions, action.clone()),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A rule's matches as (path, kind, conditions); matches skiff cannot serve (regular
/// expressions) are left out, so they match nothing.
fn matches(rule: &RouteRule) -> Vec<(String, Match, Conditions)> {
    let all = [Default::default()];
    let list = rule
        .matches
        .as_deref()
        .filter(|m| !m.is_empty())
        .unwrap_or(&all);
    list.iter()
        .filter_map(|m| {
            let (kind, path) = match &m.path {
                None => (Match::Prefix, "/".to_string()),
                Some(p) => {
                    let kind = match p.type_.as_deref().unwrap_or("PathPrefix") {
                        "Exact" => Match::Exact,
                        "PathPrefix" => Match::Prefix,
                        _ => return None,
                    };
                    (kind, p.value.clone().unwrap_or_else(|| "/".into()))
                }
            };
            let method = match &m.method {
                Some(name) => Some(Method::from_bytes(name.as_bytes()).ok()?),
                None => None,
            };
            let mut headers = Vec::new();
            for h in &m.headers {
                if h.type_.as_deref().unwrap_or("Exact") != "Exact" {
                    return None;
                }
                headers.push((
                    HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                    h.value.clone(),
                ));
            }
            let mut query = Vec::new();
            for q in &m.query_params {
                if q.type_.as_deref().unwrap_or("Exact") != "Exact" {
                    return None;
                }
                query.push((q.name.clone(), q.value.clone()));
            }
            Some((
                path,
                kind,
                Conditions {
                    method,
                    headers,
                    query,
                    https: None,
                },
            ))
        })
        .collect()
}

fn header_list(list: &[super::types::NameValue]) -> Vec<(HeaderName, HeaderValue)> {
    list.iter()
        .filter_map(|h| {
            Some((
                HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                HeaderValue::from_str(&h.value).ok()?,
            ))
        })
        .collect()
}

/// What a rule does: a redirect, or forwarding to its valid backends by weight; a rule
/// skiff cannot serve answers 500 with the reason. Invalid backends are left out (Gateway
/// API would have their share of requests answered 500; here the valid ones take it).
fn action(
    rule: &RouteRule,
    backends: &[Result<Backend, Verdict>],
    resolver: &mut Resolver<'_>,
) -> Action {
    let mut headers = HeaderModifier::default();
    let mut redirect = None;
    for Filter {
        type_,
        request_header_modifier,
        request_redirect,
    } in &rule.filters
    {
        match (type_.as_str(), request_header_modifier, request_redirect) {
            ("RequestHeaderModifier", Some(m), _) => {
                headers.set.extend(header_list(&m.set));
                headers.add.extend(header_list(&m.add));
                headers.remove.extend(
                    m.remove
                        .iter()
                        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok()),
                );
            }
            ("RequestRedirect", _, Some(r)) => {
                if r.path.is_some() {
                    return Action::Fail("RequestRedirect with a path is not supported".into());
                }
                redirect = Some(Redirect {
                    scheme: r.scheme.clone(),
                    hostname: r.hostname.clone(),
                    port: r.port.and_then(|p| u16::try_from(p).ok()),
                    status: r.status_code.unwrap_or(302),
                });
            }
            (other, _, _) => return Action::Fail(format!("filter {other} is not supported")),
        }
    }
    if let Some(r) = redirect {
        return Action::Redirect(r);
    }
    if backends.is_empty() {
        return Action::Fail("the rule has no backendRefs".into());
    }
    let mut valid = Vec::new();
    let mut problems = Vec::new();
    for b in backends {
        match b {
            Ok(b) => {
                let backend = IngressBackend {
                    service: Some(IngressServiceBackend {
                        name: b.name.clone(),
                        port: Some(ServiceBackendPort {
                            number: Some(b.port),
                            name: None,
                        }),
                    }),
                    resource: None,
                };
                valid.push((resolver.resolve(&b.namespace, &backend), b.weight));
            }
            Err(v) => problems.push(v.message.clone()),
        }
    }
    if valid.is_empty() {
        return Action::Fail(format!("no valid backend: {}", problems.join("; ")));
    }
    let forward = Forward::weighted(valid, headers);
    if forward.backends().next().is_none() {
        return Action::Fail("every backend has weight 0".into());
    }
    Action::Forward(forward)
}

/// Adds the certificates of our HTTPS listeners whose references resolved, for the
/// listener's hostname (none: for names no other certificate covers).
pub fn add_certs(
    certs: &mut crate::tls::Certs,
    att: &Attachments<'_>,
    secrets: &std::collections::HashMap<String, &k8s_openapi::api::core::v1::Secret>,
    parsed: &mut crate::tls::ParsedSecrets,
) {
    for ls in att.listeners.iter().filter(|l| l.https && l.resolved.ok) {
        let ns = ls
            .gateway
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("default");
        let hosts: Vec<String> = ls.listener.hostname.iter().cloned().collect();
        for r in ls.listener.tls.iter().flat_map(|t| &t.certificate_refs) {
            let rns = r.namespace.as_deref().unwrap_or(ns);
            certs.add(&format!("{rns}/{}", r.name), &hosts, secrets, parsed);
        }
    }
}
