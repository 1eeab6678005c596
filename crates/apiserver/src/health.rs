//! `/healthz`, `/livez` and `/readyz` with upstream's named checks: `?verbose` lists them
//! (`[+]ping ok`), `?exclude=NAME` skips one, `/readyz/NAME` runs one, and any failure is a
//! 500 listing what failed.
//!
//! `/livez` does not include the datastore: a server whose etcd is down is alive and should
//! not be restarted, only taken out of rotation, which is what `/readyz` failing does.
//! Unlike upstream, a failed check shows its reason (these endpoints are readable
//! anonymously, and the reason is only the datastore's error class and endpoint error).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::Response;

use crate::body::{self, Body};
use crate::Api;

/// How long a datastore probe's answer is reused: load balancers probe often, and each probe
/// would otherwise be a round trip to etcd.
const PROBE_TTL: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(crate) struct DatastoreProbe {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl DatastoreProbe {
    async fn check(&self, store: &dyn store::Store) -> Result<(), String> {
        if let Ok(last) = self.last.lock() {
            if let Some((at, result)) = last.as_ref() {
                if at.elapsed() < PROBE_TTL {
                    return result.clone();
                }
            }
        }
        let result = match tokio::time::timeout(PROBE_TIMEOUT, store.current_revision()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        if let Err(why) = &result {
            tracing::warn!(reason = %why, "datastore health check failed");
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), result.clone()));
        }
        result
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Healthz,
    Livez,
    Readyz,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
        }
    }

    fn checks(self) -> &'static [&'static str] {
        match self {
            Endpoint::Livez => &["ping", "log"],
            Endpoint::Healthz | Endpoint::Readyz => &["ping", "log", "etcd"],
        }
    }
}

/// The response for a health path, or `None` if `path` is not one.
pub(crate) async fn respond(
    api: &Api,
    path: &str,
    query: &HashMap<String, String>,
) -> Option<Response<Body>> {
    let path = path.trim_end_matches('/');
    let (base, only) = match path.rsplit_once('/') {
        Some(("", _)) => (path, None),
        Some((base, name)) => (base, Some(name)),
        None => return None,
    };
    let endpoint = match base {
        "/healthz" => Endpoint::Healthz,
        "/livez" => Endpoint::Livez,
        "/readyz" => Endpoint::Readyz,
        _ => return None,
    };
    if let Some(name) = only {
        if !endpoint.checks().contains(&name) {
            return Some(body::bytes_response(
                404,
                "text/plain; charset=utf-8",
                "404 page not found\n",
            ));
        }
        return Some(match run(api, name).await {
            Ok(()) => body::bytes_response(200, "text/plain; charset=utf-8", "ok"),
            Err(why) => body::bytes_response(
                500,
                "text/plain; charset=utf-8",
                format!("internal server error: {why}\n"),
            ),
        });
    }
    let excluded: Vec<&str> = query
        .get("exclude")
        .map(|e| e.split(',').collect())
        .unwrap_or_default();
    let mut lines = String::new();
    let mut failed = false;
    for name in endpoint.checks() {
        if excluded.contains(name) {
            lines.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        match run(api, name).await {
            Ok(()) => lines.push_str(&format!("[+]{name} ok\n")),
            Err(why) => {
                failed = true;
                lines.push_str(&format!("[-]{name} failed: {why}\n"));
            }
        }
    }
    let verbose = query.contains_key("verbose");
    Some(if failed {
        lines.push_str(&format!("{} check failed\n", endpoint.name()));
        body::bytes_response(500, "text/plain; charset=utf-8", lines)
    } else if verbose {
        lines.push_str(&format!("{} check passed\n", endpoint.name()));
        body::bytes_response(200, "text/plain; charset=utf-8", lines)
    } else {
        body::bytes_response(200, "text/plain; charset=utf-8", "ok")
    })
}

async fn run(api: &Api, name: &str) -> Result<(), String> {
    match name {
        "etcd" => api.health.check(api.store.as_ref()).await,
        _ => Ok(()),
    }
}
