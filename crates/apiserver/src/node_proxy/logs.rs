//! `pods/log`: the pod's container is checked here with the kubelet's messages (so an
//! unstarted container answers at once), then the agent streams the log.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, Method, Response};
use http_body_util::BodyExt;
use serde_json::Value;

use super::{client, container, node_of, pod};
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::Api;

/// The kubelet's check that a container has logs to show (`validateContainerLogStatus`).
pub fn check_status(pod: &Value, pod_name: &str, c: &str, previous: bool) -> ApiResult<()> {
    let statuses = [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|k| {
        pod.pointer(&format!("/status/{k}"))
            .and_then(Value::as_array)
    })
    .flatten();
    let waiting_msg = |reason: &str| {
        ApiError::bad_request(format!(
            "container {c:?} in pod {pod_name:?} is waiting to start: {reason}"
        ))
    };
    let Some(s) = statuses
        .into_iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(c))
    else {
        return Err(waiting_msg("ContainerCreating"));
    };
    let last_terminated = s.pointer("/lastState/terminated").is_some();
    if previous {
        return if last_terminated {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "previous terminated container {c:?} in pod {pod_name:?} not found"
            )))
        };
    }
    let state = s.get("state");
    if state.and_then(|st| st.get("running")).is_some()
        || state.and_then(|st| st.get("terminated")).is_some()
        || last_terminated
    {
        return Ok(());
    }
    let reason = state
        .and_then(|st| st.pointer("/waiting/reason"))
        .and_then(Value::as_str)
        .unwrap_or("ContainerCreating");
    Err(match reason {
        "ErrImagePull" => waiting_msg("image can't be pulled"),
        "ImagePullBackOff" => waiting_msg("trying and failing to pull image"),
        r => waiting_msg(r),
    })
}

pub async fn handle(
    api: &Arc<Api>,
    ns: &str,
    name: &str,
    query: &HashMap<String, String>,
    raw_query: Option<&str>,
) -> ApiResult<Response<Body>> {
    let p = pod(api, ns, name)?;
    let c = container(&p, name, query.get("container").map(String::as_str))?;
    let previous = query
        .get("previous")
        .is_some_and(|v| v == "true" || v == "1");
    check_status(&p, name, &c, previous)?;
    let node = node_of(&p, name)?;
    let path = match raw_query {
        Some(q) if !q.is_empty() => format!("/containerLogs/{ns}/{name}/{c}?{q}"),
        _ => format!("/containerLogs/{ns}/{name}/{c}"),
    };
    streamed(client::send(api, &node, Method::GET, &path, HeaderMap::new()).await?)
}

/// `nodes/{name}/proxy/{path}`: a GET of the agent's own paths (`stats/summary`,
/// `containerLogs/...`, `healthz`), as `kubectl get --raw` reaches a kubelet.
pub async fn proxy_get(
    api: &Arc<Api>,
    method: &Method,
    node: &str,
    path: &str,
    raw_query: Option<&str>,
) -> ApiResult<Response<Body>> {
    if method != Method::GET {
        return Err(ApiError::method_not_supported(
            "",
            "nodes/proxy",
            method.as_str(),
        ));
    }
    let path = if path.is_empty() { "/" } else { path };
    let target = match raw_query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    streamed(client::send(api, node, Method::GET, &target, HeaderMap::new()).await?)
}

/// The agent's answer passed on as it streams.
fn streamed(resp: Response<hyper::body::Incoming>) -> ApiResult<Response<Body>> {
    let (parts, incoming) = resp.into_parts();
    let body: Body = incoming.map_err(std::io::Error::other).boxed();
    let mut out = Response::new(body);
    *out.status_mut() = parts.status;
    if let Some(ct) = parts.headers.get(http::header::CONTENT_TYPE) {
        out.headers_mut()
            .insert(http::header::CONTENT_TYPE, ct.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses() {
        let running =
            json!({"status": {"containerStatuses": [{"name": "a", "state": {"running": {}}}]}});
        let creating = json!({"status": {"containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        let backoff = json!({"status": {"containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}}]}});
        let pull = json!({"status": {"containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}});
        let none = json!({"status": {}});
        let cases = [
            (&running, false, "ok"),
            (&running, true, "previous terminated container \"a\" in pod \"p\" not found"),
            (&creating, false, "container \"a\" in pod \"p\" is waiting to start: ContainerCreating"),
            (&backoff, false, "ok"),
            (&backoff, true, "ok"),
            (&pull, false, "container \"a\" in pod \"p\" is waiting to start: trying and failing to pull image"),
            (&none, false, "container \"a\" in pod \"p\" is waiting to start: ContainerCreating"),
        ];
        for (pod, previous, want) in cases {
            let got = match check_status(pod, "p", "a", previous) {
                Ok(()) => "ok".to_string(),
                Err(e) => e.message,
            };
            assert_eq!(got, want, "{pod} previous={previous}");
        }
    }
}
