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

/// Binds `0.0.0.0:port` now, so a taken port is known at start.
pub fn bind(port: u16) -> std::io::Result<TcpListener> {
    let l = std::net::TcpListener::bind(("0.0.0.0", port))?;
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
}

pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
) {
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "ingress accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (shared, tls, mut stopped) = (shared.clone(), tls.clone(), stopped.clone());
        tokio::spawn(async move {
            let client = forward::Peer::new(peer);
            let service =
                service_fn(move |req| forward::handle(shared.clone(), req, client.clone(), scheme));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client that never finishes its request head does not hold a task forever.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            let served = async {
                match tls {
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(s)) => builder
                                .serve_connection_with_upgrades(TokioIo::new(s), service)
                                .await
                                .map_err(|e| e.to_string()),
                            Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
                            Err(_) => Err("TLS handshake timed out".into()),
                        }
                    }
                    None => builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                        .map_err(|e| e.to_string()),
                }
            };
            tokio::select! {
                r = served => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "ingress connection");
                },
                _ = stopped.wait_for(|s| *s) => {}
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
