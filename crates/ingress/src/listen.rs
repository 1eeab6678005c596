//! The node's listeners: plain HTTP/1.1 and h2c, or TLS with ALPN h2/http1.1, each
//! connection served by hyper-util's auto builder with upgrades, until shutdown.

use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::forward::{self, Scheme, Shared};

const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Open client connections per listener: beyond it new ones are closed at once, so
/// clients cannot take every descriptor the agent (CRI, watches, its server) needs.
const MAX_CONNECTIONS: usize = 4096;
/// The HTTP/2 connection preface a prior-knowledge h2c client opens with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Which protocol a plain connection speaks, from its first bytes, read within the
/// handshake timeout (hyper's own detection waits for them forever). None: too slow.
async fn sniff_h2(stream: &tokio::net::TcpStream) -> Option<bool> {
    let mut buf = [0u8; 24];
    let sniff = async {
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return Some(false);
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // Part of the preface so far: wait for more.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, sniff)
        .await
        .ok()
        .flatten()
}

/// Binds `0.0.0.0:port` now, so a taken port is known at start; [`serve`] registers it
/// with the runtime it runs on.
pub fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(("0.0.0.0", port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "ingress listener");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // The open connections: dropped (so aborted) on shutdown. Each connection's task then
    // needs no stop signal of its own, polled at every wake-up.
    let mut open = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.wait_for(|s| *s) => return,
        };
        while open.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "ingress accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "ingress connection refused: {MAX_CONNECTIONS} open already");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (shared, tls) = (shared.clone(), tls.clone());
        open.spawn(async move {
            let _slot = slot;
            let client = forward::Peer::new(peer);
            let service =
                service_fn(move |req| forward::handle(shared.clone(), req, client.clone(), scheme));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client that never finishes its request head, or goes quiet on an HTTP/2
            // connection, does not hold a task and a descriptor forever.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(std::time::Duration::from_secs(30))
                .keep_alive_timeout(std::time::Duration::from_secs(10));
            let served = async {
                match tls {
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(s)) => {
                                // ALPN decided the protocol: no waiting for a preface.
                                let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
                                let builder = if h2 {
                                    builder.http2_only()
                                } else {
                                    builder.http1_only()
                                };
                                builder
                                    .serve_connection_with_upgrades(TokioIo::new(s), service)
                                    .await
                                    .map_err(|e| e.to_string())
                            }
                            Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
                            Err(_) => Err("TLS handshake timed out".into()),
                        }
                    }
                    None => {
                        let builder = match sniff_h2(&stream).await {
                            Some(true) => builder.http2_only(),
                            Some(false) => builder.http1_only(),
                            None => return Err("no request within the handshake timeout".into()),
                        };
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                            .map_err(|e| e.to_string())
                    }
                }
            };
            if let Err(e) = served.await {
                tracing::debug!(%peer, error = %e, "ingress connection");
            }
        });
    }
}

/// A Warning event on the Node: the ingress cannot serve on a port.
pub async fn report_unavailable(client: kube::Client, node: String, message: String) {
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let event = Event {
        metadata: kube::api::ObjectMeta {
            generate_name: Some(format!("{node}.ingress-")),
            namespace: Some("default".into()),
            ..Default::default()
        },
        involved_object: k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.clone()),
            uid: Some(node.clone()),
            ..Default::default()
        },
        reason: Some("IngressPortUnavailable".into()),
        message: Some(format!("ingress controller cannot listen on {message}")),
        type_: Some("Warning".into()),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("skiff-ingress".into()),
            host: Some(node),
        }),
        count: Some(1),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        ..Default::default()
    };
    if let Err(e) = Api::<Event>::namespaced(client, "default")
        .create(&PostParams::default(), &event)
        .await
    {
        tracing::warn!(error = %e, "recording the ingress port event");
    }
}
