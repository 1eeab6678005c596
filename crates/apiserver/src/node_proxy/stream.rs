//! `pods/exec`, `pods/attach`, `pods/portforward`: the client's upgrade request (WebSocket
//! or SPDY) is replayed at the pod's node agent; once the agent switches protocols the two
//! connections are spliced, as upstream's upgrade-aware proxy does.

use std::collections::HashMap;
use std::sync::Arc;

use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::{client, container, node_of, pod};
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::Api;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
    PortForward,
}

/// Headers that carry the protocol negotiation, both ways.
const UPGRADE_HEADERS: [&str; 7] = [
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-accept",
    "x-stream-protocol-version",
    "x-accepted-stream-protocol-versions",
];

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub async fn handle(
    api: &Arc<Api>,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
    query: &HashMap<String, String>,
    kind: Kind,
) -> ApiResult<Response<Body>> {
    let p = pod(api, ns, name)?;
    let node = node_of(&p, name)?;
    if matches!(phase(&p), "Succeeded" | "Failed") {
        let what = if kind == Kind::PortForward {
            "cannot port-forward to a completed pod"
        } else if kind == Kind::Attach {
            "cannot attach to a container in a completed pod"
        } else {
            "cannot exec into a container in a completed pod"
        };
        return Err(ApiError::bad_request(format!(
            "{what}; current phase is {}",
            phase(&p)
        )));
    }
    let raw = req.uri().query().unwrap_or("").to_string();
    let path = match kind {
        Kind::PortForward => format!("/portForward/{ns}/{name}?{raw}"),
        Kind::Exec | Kind::Attach => {
            let c = container(&p, name, query.get("container").map(String::as_str))?;
            let verb = if kind == Kind::Exec { "exec" } else { "attach" };
            format!("/{verb}/{ns}/{name}/{c}?{raw}")
        }
    };
    if !req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let mut headers = HeaderMap::new();
    for h in UPGRADE_HEADERS {
        for v in req.headers().get_all(h) {
            headers.append(h, v.clone());
        }
    }
    headers.insert(
        header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    let method = req.method().clone();
    let mut upstream = client::send(api, &node, method, &path, headers).await?;
    if upstream.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, incoming) = upstream.into_parts();
        let bytes = incoming
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/plain")
            .to_string();
        return Ok(body::bytes_response(parts.status.as_u16(), &ct, bytes));
    }
    let mut resp = Response::new(body::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for h in UPGRADE_HEADERS {
        for v in upstream.headers().get_all(h) {
            resp.headers_mut().append(h, v.clone());
        }
    }
    resp.headers_mut().insert(
        header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    let client_up = hyper::upgrade::on(&mut req);
    let agent_up = hyper::upgrade::on(&mut upstream);
    tokio::spawn(async move {
        match tokio::join!(client_up, agent_up) {
            (Ok(c), Ok(a)) => {
                let (mut c, mut a) = (TokioIo::new(c), TokioIo::new(a));
                let _ = tokio::io::copy_bidirectional(&mut c, &mut a).await;
            }
            (c, a) => {
                tracing::debug!(client = ?c.err(), agent = ?a.err(), "stream upgrade failed");
            }
        }
    });
    Ok(resp)
}
