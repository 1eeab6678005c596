//! `--max-requests-inflight` and `--max-mutating-requests-inflight`, as upstream's legacy
//! max-in-flight filter: requests that are not long-running hold a slot of the read-only
//! or the mutating pool while they are served; with no slot free the answer is 429 with
//! `Retry-After: 1` and upstream's plain-text body (not a `Status`). Like upstream, `system:masters` are served even then, and a limit
//! of 0 means no limit. Health probes (`GET /healthz`, `/livez`, `/readyz` and their
//! sub-checks) are never counted, as upstream's `probes` flow schema exempts them: a
//! flooded server must still tell a kubelet or load balancer that it is alive.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::UserInfo;
use crate::authz::Attributes;
use crate::body::{self, Body};

pub const DEFAULT_MAX_READ: usize = 400;
pub const DEFAULT_MAX_MUTATING: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Watches, exec/attach/port-forward, proxies and logs: not counted.
    LongRunning,
    /// Health probes: not counted, so that they answer while the pools are full.
    Probe,
    ReadOnly,
    Mutating,
}

/// Upstream's long-running check: the verbs `watch` and `proxy`, or the subresources
/// attach, exec, log, portforward and proxy.
pub fn is_long_running(a: &Attributes) -> bool {
    matches!(a.verb.as_str(), "watch" | "proxy")
        || (a.resource_request
            && matches!(
                // `nodes/n/proxy/metrics` has the subresource `proxy/metrics`.
                a.subresource.split('/').next().unwrap_or(""),
                "attach" | "exec" | "log" | "portforward" | "proxy"
            ))
}

/// `GET /healthz`, `/livez`, `/readyz` or one of their named checks (`/readyz/ping`).
fn is_probe(a: &Attributes) -> bool {
    !a.resource_request
        && a.verb == "get"
        && ["/healthz", "/livez", "/readyz"].iter().any(|p| {
            a.path
                .strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

pub fn classify(a: &Attributes) -> Kind {
    if is_long_running(a) {
        Kind::LongRunning
    } else if is_probe(a) {
        Kind::Probe
    } else if matches!(a.verb.as_str(), "get" | "list" | "watch") {
        Kind::ReadOnly
    } else {
        Kind::Mutating
    }
}

pub struct Limits {
    read: Option<Arc<Semaphore>>,
    mutating: Option<Arc<Semaphore>>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(DEFAULT_MAX_READ, DEFAULT_MAX_MUTATING)
    }
}

impl Limits {
    pub fn new(max_read: usize, max_mutating: usize) -> Limits {
        let pool = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        Limits {
            read: pool(max_read),
            mutating: pool(max_mutating),
        }
    }

    /// A slot to hold while the request is served (`None`: not counted), or `Full`.
    pub fn admit(
        &self,
        a: &Attributes,
        user: &UserInfo,
    ) -> Result<Option<OwnedSemaphorePermit>, Full> {
        let pool = match classify(a) {
            Kind::LongRunning | Kind::Probe => return Ok(None),
            Kind::ReadOnly => &self.read,
            Kind::Mutating => &self.mutating,
        };
        let Some(pool) = pool else {
            return Ok(None);
        };
        match pool.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) if crate::authz::is_master(user) => Ok(None),
            Err(_) => Err(Full),
        }
    }
}

/// Every slot of the request's pool is taken.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Upstream's answer when every slot is taken: Go's `http.Error` text, not a `Status`.
pub fn too_many_requests() -> http::Response<Body> {
    let mut resp = body::bytes_response(
        429,
        "text/plain; charset=utf-8",
        "Too many requests, please try again later.\n",
    );
    let h = resp.headers_mut();
    h.insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    h.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::attributes::from_request;
    use expect_test::{expect, Expect};
    use http::Method;

    fn check(cases: &[(Method, &str)], want: Expect) {
        let got: Vec<String> = cases
            .iter()
            .map(|(m, pq)| {
                let (path, q) = pq.split_once('?').unwrap_or((pq, ""));
                let a = from_request(m, path, &crate::request::parse_query(Some(q)));
                format!("{m} {pq} => {:?}", classify(&a))
            })
            .collect();
        want.assert_eq(&got.join("\n"));
    }

    #[test]
    fn classification() {
        check(
            &[
                (Method::GET, "/api/v1/namespaces/a/pods"),
                (Method::GET, "/api/v1/namespaces/a/pods?watch=true"),
                (Method::GET, "/api/v1/watch/pods"),
                (Method::GET, "/api/v1/namespaces/a/pods/p/log?follow=true"),
                (Method::GET, "/api/v1/namespaces/a/pods/p/log"),
                (Method::POST, "/api/v1/namespaces/a/pods/p/exec"),
                (Method::GET, "/api/v1/namespaces/a/pods/p/attach"),
                (Method::POST, "/api/v1/namespaces/a/pods/p/portforward"),
                (Method::GET, "/api/v1/nodes/n/proxy/metrics"),
                (Method::POST, "/api/v1/namespaces/a/configmaps"),
                (Method::PATCH, "/api/v1/namespaces/a/pods/p/status"),
                (Method::DELETE, "/api/v1/namespaces/a/configmaps"),
                (Method::GET, "/healthz"),
                (Method::GET, "/readyz/ping"),
                (Method::GET, "/livez"),
                (Method::GET, "/healthzz"),
                (Method::POST, "/logs"),
            ],
            expect![[r#"
                GET /api/v1/namespaces/a/pods => ReadOnly
                GET /api/v1/namespaces/a/pods?watch=true => LongRunning
                GET /api/v1/watch/pods => LongRunning
                GET /api/v1/namespaces/a/pods/p/log?follow=true => LongRunning
                GET /api/v1/namespaces/a/pods/p/log => LongRunning
                POST /api/v1/namespaces/a/pods/p/exec => LongRunning
                GET /api/v1/namespaces/a/pods/p/attach => LongRunning
                POST /api/v1/namespaces/a/pods/p/portforward => LongRunning
                GET /api/v1/nodes/n/proxy/metrics => LongRunning
                POST /api/v1/namespaces/a/configmaps => Mutating
                PATCH /api/v1/namespaces/a/pods/p/status => Mutating
                DELETE /api/v1/namespaces/a/configmaps => Mutating
                GET /healthz => Probe
                GET /readyz/ping => Probe
                GET /livez => Probe
                GET /healthzz => ReadOnly
                POST /logs => Mutating"#]],
        );
    }

    #[test]
    fn full_pool_refuses_all_but_masters() {
        let limits = Limits::new(1, 1);
        let a = from_request(&Method::GET, "/api/v1/pods", &Default::default());
        let alice = UserInfo {
            name: "alice".into(),
            ..UserInfo::default()
        };
        let held = limits.admit(&a, &alice).unwrap();
        assert!(held.is_some());
        assert_eq!(limits.admit(&a, &alice).unwrap_err(), Full);
        let admin = UserInfo {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
            ..UserInfo::default()
        };
        assert!(limits.admit(&a, &admin).is_ok());
        // Writes have their own pool; a watch is never counted.
        let create = from_request(
            &Method::POST,
            "/api/v1/namespaces/a/configmaps",
            &Default::default(),
        );
        assert!(limits.admit(&create, &alice).unwrap().is_some());
        let watch = from_request(
            &Method::GET,
            "/api/v1/pods",
            &crate::request::parse_query(Some("watch=1")),
        );
        assert!(limits.admit(&watch, &alice).unwrap().is_none());
        drop(held);
        assert!(limits.admit(&a, &alice).unwrap().is_some());
    }

    #[test]
    fn answer_is_upstreams() {
        let resp = too_many_requests();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    }

    #[test]
    fn zero_is_unlimited() {
        let limits = Limits::new(0, 0);
        let a = from_request(&Method::GET, "/api/v1/pods", &Default::default());
        assert!(limits.admit(&a, &UserInfo::anonymous()).unwrap().is_none());
    }
}
