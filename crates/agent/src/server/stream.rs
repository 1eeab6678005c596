//! exec, attach and port-forward. The runtime's streaming server (containerd's CRI
//! streaming server) speaks the kubelet's protocols itself — `v4.channel.k8s.io` and older
//! over WebSocket, and SPDY/3.1 — so the agent asks the runtime for a stream URL (CRI
//! Exec/Attach/PortForward), replays the client's upgrade request there and, once the runtime
//! switches protocols, splices the two connections. kubectl 1.31+ port-forwards with SPDY
//! inside WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`): that one is unwrapped
//! ([`super::tunnel`]) and sent to the runtime as plain SPDY, as upstream's apiserver does;
//! `v5.channel.k8s.io`, which the runtime predates, is spoken by [`super::v5`].

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;

use super::{find_container, find_sandbox, query_flag, status, ws, Body, Context};

/// Headers of an upgrade request that the runtime's streaming server must see.
const FORWARDED: [&str; 5] = [
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

/// Headers of the runtime's 101 answer passed back to the client.
const RETURNED: [&str; 4] = [
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

const SPDY_TUNNEL_PORTFORWARD: &str = "SPDY/3.1+portforward.k8s.io";

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.headers().contains_key(header::UPGRADE)
}

pub async fn exec(
    ctx: &Context,
    req: Request<Incoming>,
    ns: &str,
    pod: &str,
    container: &str,
    query: &[(String, String)],
    attach: bool,
) -> Response<Body> {
    if !is_upgrade(&req) {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Upgrade request required",
        );
    }
    let sandbox = match find_sandbox(&ctx.cri, ns, pod).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(pod),
        Err(e) => return super::internal(e),
    };
    let c = match find_container(&ctx.cri, &sandbox.id, container).await {
        Ok(Some(c)) if c.state == cri::ContainerState::ContainerRunning as i32 => c,
        Ok(_) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("container not found ({container:?})"),
            )
        }
        Err(e) => return super::internal(e),
    };
    let (stdin, stdout, stderr, tty) = (
        query_flag(query, "stdin"),
        query_flag(query, "stdout"),
        query_flag(query, "stderr"),
        query_flag(query, "tty"),
    );
    let mut rt = ctx.cri.runtime.clone();
    let url = if attach {
        rt.attach(cri::AttachRequest {
            container_id: c.id.clone(),
            stdin,
            tty,
            stdout,
            stderr,
        })
        .await
        .map(|r| r.into_inner().url)
    } else {
        let cmd: Vec<String> = query
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .collect();
        if cmd.is_empty() {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "you must specify at least 1 command",
            );
        }
        rt.exec(cri::ExecRequest {
            container_id: c.id.clone(),
            cmd,
            tty,
            stdin,
            stdout,
            stderr,
        })
        .await
        .map(|r| r.into_inner().url)
    };
    let streams = super::v5::Streams {
        stdin,
        stdout,
        stderr,
        tty,
    };
    match url {
        Ok(url)
            if websocket_protocols(req.headers())
                .iter()
                .any(|p| p == super::v5::PROTOCOL) =>
        {
            translate_v5(req, &url, streams).await
        }
        Ok(url) => relay(req, &url).await,
        Err(e) => super::internal(format!(
            "{}: {}",
            if attach { "Attach" } else { "Exec" },
            e.message()
        )),
    }
}

pub async fn port_forward(
    ctx: &Context,
    req: Request<Incoming>,
    ns: &str,
    pod: &str,
) -> Response<Body> {
    if !is_upgrade(&req) {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Upgrade request required",
        );
    }
    let sandbox = match find_sandbox(&ctx.cri, ns, pod).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(pod),
        Err(e) => return super::internal(e),
    };
    let mut rt = ctx.cri.runtime.clone();
    let url = match rt
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: sandbox.id.clone(),
            port: Vec::new(),
        })
        .await
    {
        Ok(r) => r.into_inner().url,
        Err(e) => return super::internal(format!("PortForward: {}", e.message())),
    };
    let tunnelled = websocket_protocols(req.headers())
        .iter()
        .any(|p| p == SPDY_TUNNEL_PORTFORWARD);
    if tunnelled {
        tunnel(req, &url).await
    } else {
        relay(req, &url).await
    }
}

fn not_found(pod: &str) -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("pod does not exist ({pod:?} is not on this node)"),
    )
}

fn websocket_protocols(h: &HeaderMap) -> Vec<String> {
    h.get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// An upgraded connection to the runtime's streaming server, or its refusal.
enum Upstream {
    Switched(Response<Incoming>),
    Refused(Response<Body>),
}

/// Sends `method url` with `headers` and the upgrade headers to the runtime.
async fn connect_upstream(url: &str, method: Method, headers: HeaderMap) -> Upstream {
    let uri: http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return Upstream::Refused(super::internal(format!("stream url {url:?}: {e}"))),
    };
    let Some(authority) = uri.authority().cloned() else {
        return Upstream::Refused(super::internal(format!("stream url {url:?} has no host")));
    };
    let addr = if authority.port().is_some() {
        authority.to_string()
    } else {
        format!("{}:80", authority.host())
    };
    let tcp = match tokio::net::TcpStream::connect(&addr).await {
        Ok(t) => t,
        Err(e) => {
            return Upstream::Refused(super::internal(format!(
                "connecting to the runtime's stream server {addr}: {e}"
            )))
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await {
        Ok(x) => x,
        Err(e) => return Upstream::Refused(super::internal(format!("stream server: {e}"))),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "stream server connection ended");
        }
    });
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
        if let Ok(v) = HeaderValue::from_str(authority.as_str()) {
            h.insert(header::HOST, v);
        }
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    let req = match builder.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return Upstream::Refused(super::internal(e)),
    };
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => return Upstream::Refused(super::internal(format!("stream server: {e}"))),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return Upstream::Switched(resp);
    }
    // The runtime's refusal (e.g. an unsupported protocol) goes back as it came.
    let code = resp.status();
    let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = Response::new(super::full(body));
    *out.status_mut() = code;
    if let Some(ct) = ct {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Upstream::Refused(out)
}

/// Replays the client's upgrade at the runtime and splices the connections.
async fn relay(mut req: Request<Incoming>, url: &str) -> Response<Body> {
    let mut headers = HeaderMap::new();
    for name in FORWARDED {
        for v in req.headers().get_all(name) {
            headers.append(name, v.clone());
        }
    }
    let method = req.method().clone();
    let mut upstream = match connect_upstream(url, method, headers).await {
        Upstream::Switched(r) => r,
        Upstream::Refused(r) => return r,
    };
    let mut resp = Response::new(super::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for name in RETURNED {
        for v in upstream.headers().get_all(name) {
            resp.headers_mut().append(name, v.clone());
        }
    }
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let client_up = hyper::upgrade::on(&mut req);
    let runtime_up = hyper::upgrade::on(&mut upstream);
    tokio::spawn(async move {
        let (client, runtime) = match tokio::join!(client_up, runtime_up) {
            (Ok(c), Ok(r)) => (c, r),
            (c, r) => {
                tracing::debug!(client = ?c.err(), runtime = ?r.err(), "stream upgrade failed");
                return;
            }
        };
        let (mut client, mut runtime) = (TokioIo::new(client), TokioIo::new(runtime));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut runtime).await;
    });
    resp
}

/// kubectl's WebSocket-wrapped SPDY port-forward: plain SPDY to the runtime, each
/// direction's bytes re-framed.
async fn tunnel(mut req: Request<Incoming>, url: &str) -> Response<Body> {
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "missing Sec-WebSocket-Key",
        );
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static("portforward.k8s.io"),
    );
    let mut upstream = match connect_upstream(url, Method::POST, headers).await {
        Upstream::Switched(r) => r,
        Upstream::Refused(r) => return r,
    };
    let mut resp = Response::new(super::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&ws::accept_key(&key)) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SPDY_TUNNEL_PORTFORWARD),
    );
    let client_up = hyper::upgrade::on(&mut req);
    let runtime_up = hyper::upgrade::on(&mut upstream);
    tokio::spawn(async move {
        let (client, runtime) = match tokio::join!(client_up, runtime_up) {
            (Ok(c), Ok(r)) => (TokioIo::new(c), TokioIo::new(r)),
            (c, r) => {
                tracing::debug!(client = ?c.err(), runtime = ?r.err(), "tunnel upgrade failed");
                return;
            }
        };
        if let Err(e) = super::tunnel::run(client, runtime).await {
            tracing::debug!(error = %e, "port-forward tunnel ended");
        }
    });
    resp
}

/// kubectl's `v5.channel.k8s.io` WebSocket, spoken here and carried to the runtime as SPDY.
async fn translate_v5(
    mut req: Request<Incoming>,
    url: &str,
    streams: super::v5::Streams,
) -> Response<Body> {
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "missing Sec-WebSocket-Key",
        );
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(super::v5::SPDY_PROTOCOL),
    );
    let mut upstream = match connect_upstream(url, Method::POST, headers).await {
        Upstream::Switched(r) => r,
        Upstream::Refused(r) => return r,
    };
    let mut resp = Response::new(super::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&ws::accept_key(&key)) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(super::v5::PROTOCOL),
    );
    let client_up = hyper::upgrade::on(&mut req);
    let runtime_up = hyper::upgrade::on(&mut upstream);
    tokio::spawn(async move {
        let (client, runtime) = match tokio::join!(client_up, runtime_up) {
            (Ok(c), Ok(r)) => (TokioIo::new(c), TokioIo::new(r)),
            (c, r) => {
                tracing::debug!(client = ?c.err(), runtime = ?r.err(), "v5 upgrade failed");
                return;
            }
        };
        if let Err(e) = super::v5::run(client, runtime, streams).await {
            tracing::debug!(error = %e, "v5 session ended");
        }
    });
    resp
}
