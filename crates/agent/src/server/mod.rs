//! The agent's HTTPS server on the kubelet's port (10250 by default): the node paths the
//! apiserver proxies for kubectl — container logs, exec, attach, port-forward — and the
//! resource summary behind `kubectl top`. Only the apiserver may call it (client
//! certificate from the cluster CA with [`tls::APISERVER_CLIENT_CN`]).

pub mod crilog;
mod logs;
mod spdy;
mod stats;
mod stream;
pub mod tls;
mod tunnel;
mod v5;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::cri::Cri;
use crate::pods::sandbox::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE};
use crate::Error;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// Where and how the server listens.
pub struct Settings {
    pub bind: IpAddr,
    /// 0 picks a free port (tests); the one bound is returned and published on the Node.
    pub port: u16,
    /// The agent's TLS dir (serving certificate).
    pub tls_dir: PathBuf,
    /// The cluster CA, PEM: client certificates must chain to it.
    pub ca_pem: String,
    /// Names for the serving certificate (node name, addresses).
    pub names: Vec<String>,
}

/// What the handlers reach.
pub struct Context {
    pub cri: Cri,
    /// `/var/log/pods`'s counterpart under the data dir.
    pub pod_logs: PathBuf,
    pub stats: stats::Sampler,
    pub node_name: String,
}

impl Context {
    pub fn new(cri: Cri, pod_logs: PathBuf, node_name: String) -> Context {
        Context {
            cri,
            pod_logs,
            stats: stats::Sampler::default(),
            node_name,
        }
    }
}

/// Binds and serves in the background; returns the bound port.
pub async fn start(
    settings: Settings,
    ctx: Arc<Context>,
) -> Result<(u16, tokio::task::JoinHandle<()>), Error> {
    let (cert, key) = tls::serving_cert(&settings.tls_dir, &settings.names)?;
    let config = tls::server_config(&cert, &key, &settings.ca_pem)?;
    let addr = SocketAddr::new(settings.bind, settings.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("agent server: cannot listen on {addr}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("agent server: {e}")))?
        .port();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    Ok((port, tokio::spawn(serve(listener, acceptor, ctx))))
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, ctx: Arc<Context>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "agent server: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "agent server: tls handshake failed");
                    return;
                }
            };
            let allowed = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(tls::common_name)
                .is_some_and(|cn| cn == tls::APISERVER_CLIENT_CN);
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let ctx = ctx.clone();
                async move {
                    let resp = if allowed {
                        route(ctx, req).await
                    } else {
                        status(
                            StatusCode::FORBIDDEN,
                            "Forbidden",
                            "only the apiserver may call the node agent",
                        )
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, error = %e, "agent server: connection ended");
            }
        });
    }
}

async fn route(ctx: Arc<Context>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let query = parse_query(req.uri().query());
    tracing::debug!(%path, "agent server request");
    match parts.as_slice() {
        ["healthz"] => text(StatusCode::OK, "ok"),
        ["containerLogs", ns, pod, container] => {
            logs::serve(&ctx, ns, pod, container, &query).await
        }
        ["exec", ns, pod, container] => {
            stream::exec(&ctx, req, ns, pod, container, &query, false).await
        }
        ["attach", ns, pod, container] => {
            stream::exec(&ctx, req, ns, pod, container, &query, true).await
        }
        ["portForward", ns, pod] => stream::port_forward(&ctx, req, ns, pod).await,
        ["stats", "summary"] => stats::summary(&ctx).await,
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no handler for {path}"),
        ),
    }
}

/// The pod's newest sandbox (a pod recreated under the same name has a new one).
pub async fn find_sandbox(
    cri: &Cri,
    ns: &str,
    pod: &str,
) -> Result<Option<cri::PodSandbox>, Error> {
    let mut c = cri.runtime.clone();
    let req = cri::ListPodSandboxRequest {
        filter: Some(cri::PodSandboxFilter {
            label_selector: [
                (POD_NAMESPACE.to_string(), ns.to_string()),
                (POD_NAME.to_string(), pod.to_string()),
            ]
            .into(),
            ..Default::default()
        }),
    };
    let items = c
        .list_pod_sandbox(req)
        .await
        .map_err(|e| Error::status("ListPodSandbox", e))?
        .into_inner()
        .items;
    Ok(items.into_iter().max_by_key(|s| {
        (
            s.state == cri::PodSandboxState::SandboxReady as i32,
            s.created_at,
        )
    }))
}

/// The latest container of that name in the sandbox (the highest attempt).
pub async fn find_container(
    cri: &Cri,
    sandbox_id: &str,
    name: &str,
) -> Result<Option<cri::Container>, Error> {
    let all = cri.containers_in(sandbox_id).await?;
    Ok(all
        .into_iter()
        .filter(|c| c.labels.get(CONTAINER_NAME).map(String::as_str) == Some(name))
        .max_by_key(|c| (c.metadata.as_ref().map_or(0, |m| m.attempt), c.created_at)))
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: std::convert::Infallible| match e {})
        .boxed()
}

pub fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// A `metav1.Status` failure, which the apiserver passes on to the client as is.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    let mut resp = Response::new(full(serde_json::to_vec(&body).unwrap_or_default()));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn internal(e: impl std::fmt::Display) -> Response<Body> {
    status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        &e.to_string(),
    )
}

/// Query pairs in order, repeated keys kept (`command` repeats).
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn query_flag(q: &[(String, String)], key: &str) -> bool {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .is_some_and(|(_, v)| v == "true" || v == "1")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""),
                    16,
                ) {
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

    #[test]
    fn queries() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "command=sh&command=-c&command=echo+hi%21&stdin=true",
                &[
                    ("command", "sh"),
                    ("command", "-c"),
                    ("command", "echo hi!"),
                    ("stdin", "true"),
                ],
            ),
            ("a=%2", &[("a", "%2")]),
            ("flag", &[("flag", "")]),
            ("", &[]),
        ];
        for (q, want) in cases {
            let got = parse_query(Some(q));
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "{q}");
        }
    }
}
