//! Turns a request path and method into what it asks for, as upstream's RequestInfo does.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api`, `/apis`: group lists (and aggregated discovery).
    ApiRoot { legacy: bool },
    /// `/apis/{group}`.
    Group { group: String },
    /// `/api/v1`, `/apis/{group}/{version}`.
    GroupVersion { group: String, version: String },
    /// A resource, optionally one object, optionally a subresource.
    Resource(ResourceRequest),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

/// Splits `/api/...` and `/apis/...` paths; `None` for anything else.
pub fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (legacy, rest) = match parts.first() {
        Some(&"api") => (true, &parts[1..]),
        Some(&"apis") => (false, &parts[1..]),
        _ => return None,
    };
    let (group, version, rest) = if legacy {
        match rest {
            [] => return Some(Target::ApiRoot { legacy: true }),
            [v, tail @ ..] => (String::new(), v.to_string(), tail),
        }
    } else {
        match rest {
            [] => return Some(Target::ApiRoot { legacy: false }),
            [g] => {
                return Some(Target::Group {
                    group: g.to_string(),
                })
            }
            [g, v, tail @ ..] => (g.to_string(), v.to_string(), tail),
        }
    };
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let mut req = ResourceRequest {
        group,
        version,
        namespace: None,
        resource: String::new(),
        name: None,
        subresource: None,
        watch_prefix,
    };
    match rest {
        [] => {
            return if watch_prefix {
                None
            } else {
                Some(Target::GroupVersion {
                    group: req.group,
                    version: req.version,
                })
            }
        }
        // `/namespaces/{ns}/{resource}...` unless it is the namespace itself or its subresource.
        ["namespaces", ns, resource, tail @ ..]
            if !(tail.is_empty() && matches!(*resource, "status" | "finalize")) =>
        {
            req.namespace = Some(ns.to_string());
            req.resource = resource.to_string();
            req.name = tail.first().map(|s| s.to_string());
            req.subresource = if tail.len() > 1 {
                Some(tail[1..].join("/"))
            } else {
                None
            };
        }
        [resource, tail @ ..] => {
            req.resource = resource.to_string();
            req.name = tail.first().map(|s| s.to_string());
            req.subresource = if tail.len() > 1 {
                Some(tail[1..].join("/"))
            } else {
                None
            };
        }
    }
    Some(Target::Resource(req))
}

/// Query parameters, decoded. Repeated keys keep the last value.
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(q) = q else { return out };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(path: &str) -> String {
        match parse_path(path) {
            None => "none".into(),
            Some(Target::Resource(r)) => format!(
                "g={} v={} ns={} res={} name={} sub={} watch={}",
                r.group,
                r.version,
                r.namespace.unwrap_or_default(),
                r.resource,
                r.name.unwrap_or_default(),
                r.subresource.unwrap_or_default(),
                r.watch_prefix
            ),
            Some(other) => format!("{other:?}"),
        }
    }

    #[test]
    fn paths() {
        let cases = [
            ("/api", "ApiRoot { legacy: true }"),
            ("/apis", "ApiRoot { legacy: false }"),
            ("/apis/apps", "Group { group: \"apps\" }"),
            ("/api/v1", "GroupVersion { group: \"\", version: \"v1\" }"),
            (
                "/api/v1/pods",
                "g= v=v1 ns= res=pods name= sub= watch=false",
            ),
            (
                "/api/v1/namespaces",
                "g= v=v1 ns= res=namespaces name= sub= watch=false",
            ),
            (
                "/api/v1/namespaces/default",
                "g= v=v1 ns= res=namespaces name=default sub= watch=false",
            ),
            (
                "/api/v1/namespaces/default/status",
                "g= v=v1 ns= res=namespaces name=default sub=status watch=false",
            ),
            (
                "/api/v1/namespaces/default/finalize",
                "g= v=v1 ns= res=namespaces name=default sub=finalize watch=false",
            ),
            (
                "/api/v1/namespaces/default/pods",
                "g= v=v1 ns=default res=pods name= sub= watch=false",
            ),
            (
                "/api/v1/namespaces/default/pods/web-0/log",
                "g= v=v1 ns=default res=pods name=web-0 sub=log watch=false",
            ),
            (
                "/apis/apps/v1/namespaces/x/deployments/d/scale",
                "g=apps v=v1 ns=x res=deployments name=d sub=scale watch=false",
            ),
            (
                "/api/v1/watch/namespaces/x/pods",
                "g= v=v1 ns=x res=pods name= sub= watch=true",
            ),
            (
                "/api/v1/nodes/n1/proxy/metrics",
                "g= v=v1 ns= res=nodes name=n1 sub=proxy/metrics watch=false",
            ),
            ("/healthz", "none"),
        ];
        for (path, want) in cases {
            assert_eq!(show(path), want, "{path}");
        }
    }

    #[test]
    fn query() {
        let q = parse_query(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=2&watch"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["limit"], "2");
        assert_eq!(q["watch"], "");
    }
}
