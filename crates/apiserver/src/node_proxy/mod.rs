//! The paths kubectl reaches nodes through: `pods/log`, `pods/exec`, `pods/attach`,
//! `pods/portforward` (proxied to the node agent's HTTPS server, found from the Node's
//! InternalIP and `daemonEndpoints.kubeletEndpoint.Port`) and `metrics.k8s.io` (built from
//! the agents' stats summaries). The apiserver authenticates to agents with its
//! `kube-apiserver-kubelet-client` certificate; as upstream's apiserver without
//! `--kubelet-certificate-authority`, it does not verify the agents' self-signed serving
//! certificates.

mod client;
mod logs;
pub mod metrics;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use serde_json::Value;

pub use client::NodeClient;

use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::request::Target;
use crate::Api;

/// Whether the request is one of ours.
pub fn handles(target: &Target) -> bool {
    match target {
        Target::Resource(r) if r.group.is_empty() && r.version == "v1" && r.resource == "pods" => {
            matches!(
                r.subresource.as_deref(),
                Some("log" | "exec" | "attach" | "portforward")
            )
        }
        Target::Resource(r) if r.group.is_empty() && r.resource == "nodes" => r
            .subresource
            .as_deref()
            .is_some_and(|s| s == "proxy" || s.starts_with("proxy/")),
        Target::Resource(r) => r.group == metrics::GROUP,
        Target::Group { group } | Target::GroupVersion { group, .. } => group == metrics::GROUP,
        _ => false,
    }
}

pub async fn handle(
    api: &Arc<Api>,
    req: Request<Incoming>,
    target: Target,
    query: &HashMap<String, String>,
) -> http::Response<Body> {
    let result = match target {
        Target::Resource(r) if r.group == metrics::GROUP => {
            metrics::handle(api, req.method(), &r, query).await
        }
        Target::Group { .. } | Target::GroupVersion { .. } => metrics::discovery(&target),
        Target::Resource(r) if r.resource == "nodes" => {
            let name = r.name.clone().unwrap_or_default();
            let rest = r
                .subresource
                .as_deref()
                .and_then(|s| s.strip_prefix("proxy"))
                .unwrap_or("");
            logs::proxy_get(api, req.method(), &name, rest, req.uri().query()).await
        }
        Target::Resource(r) => {
            let ns = r.namespace.clone().unwrap_or_default();
            let name = r.name.clone().unwrap_or_default();
            match r.subresource.as_deref() {
                Some("log") => logs::handle(api, &ns, &name, query, req.uri().query()).await,
                Some("exec") => {
                    stream::handle(api, req, &ns, &name, query, stream::Kind::Exec).await
                }
                Some("attach") => {
                    stream::handle(api, req, &ns, &name, query, stream::Kind::Attach).await
                }
                _ => stream::handle(api, req, &ns, &name, query, stream::Kind::PortForward).await,
            }
        }
        _ => Err(ApiError::no_route()),
    };
    result.unwrap_or_else(|e| body::error_response(&e))
}

/// The pod as stored.
fn pod(api: &Api, ns: &str, name: &str) -> ApiResult<Value> {
    let obj = api
        .cache
        .get(&format!("/registry/pods/{ns}/{name}"))
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    serde_json::from_slice(&obj.json).map_err(ApiError::internal)
}

/// The node a pod runs on, or BadRequest as upstream says it.
fn node_of(pod: &Value, name: &str) -> ApiResult<String> {
    match pod.pointer("/spec/nodeName").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        ))),
    }
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request names, or the pod's only one; upstream's messages otherwise.
fn container(pod: &Value, name: &str, requested: Option<&str>) -> ApiResult<String> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match requested.filter(|c| !c.is_empty()) {
        Some(c) => {
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|n| n == c)
            {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg += &format!(" or one of the init containers: [{}]", init.join(" "));
            }
            if !ephemeral.is_empty() {
                msg += &format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemeral.join(" ")
                );
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let cases = [
            (&one, None, "a"),
            (&one, Some(""), "a"),
            (&one, Some("a"), "a"),
            (&one, Some("x"), "container x is not valid for pod p"),
            (&two, Some("i"), "i"),
            (
                &two,
                None,
                "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]",
            ),
        ];
        for (pod, requested, want) in cases {
            let got = match container(pod, "p", requested) {
                Ok(c) => c,
                Err(e) => e.message,
            };
            assert_eq!(got, want, "{requested:?}");
        }
    }
}
