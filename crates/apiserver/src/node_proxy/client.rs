//! HTTPS to node agents with the apiserver's kubelet-client certificate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::Api;

pub struct NodeClient {
    config: Arc<rustls::ClientConfig>,
}

impl NodeClient {
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<NodeClient, String> {
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .map_err(|e| e.to_string())?
            .ok_or("kubelet client key missing")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_client_auth_cert(certs, key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(NodeClient {
            config: Arc::new(config),
        })
    }
}

/// Accepts the agent's self-signed certificate (signatures are still checked, so the
/// handshake proves the agent holds its key).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `host:port` of a node's agent from the Node object.
pub fn endpoint(node: &Value, name: &str) -> ApiResult<(String, u16)> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0 && *p <= u64::from(u16::MAX))
        .ok_or_else(|| ApiError::bad_request(format!("node {name} has no kubelet endpoint")))?;
    let addrs = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let by = |kind: &str| {
        addrs
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .map(str::to_string)
    };
    let host = by("InternalIP")
        .or_else(|| by("ExternalIP"))
        .or_else(|| by("Hostname"))
        .ok_or_else(|| ApiError::bad_request(format!("node {name} has no address")))?;
    Ok((host, port as u16))
}

fn node(api: &Api, name: &str) -> ApiResult<Value> {
    let obj = api
        .cache
        .get(&format!("/registry/minions/{name}"))
        .ok_or_else(|| ApiError::not_found("", "nodes", name))?;
    serde_json::from_slice(&obj.json).map_err(ApiError::internal)
}

/// Sends a request to `node`'s agent; upgrades stay possible on the response.
pub async fn send(
    api: &Api,
    node_name: &str,
    method: Method,
    path_and_query: &str,
    headers: HeaderMap,
) -> ApiResult<Response<Incoming>> {
    let node = node(api, node_name)?;
    let (host, port) = endpoint(&node, node_name)?;
    let unavailable = |e: &dyn std::fmt::Display| {
        ApiError::new(502, "BadGateway", format!("error dialing backend: {e}"))
    };
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .map_err(|_| unavailable(&format!("dial tcp {addr}: i/o timeout")))?
    .map_err(|e| unavailable(&format!("dial tcp {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let server_name = ServerName::try_from(host.clone())
        .map_err(|e| unavailable(&e))?
        .to_owned();
    let tls = tokio_rustls::TlsConnector::from(api.node_client.config.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| unavailable(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unavailable(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "node agent connection ended");
        }
    });
    let mut builder = Request::builder().method(method).uri(path_and_query);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
        if let Ok(v) = http::HeaderValue::from_str(&addr) {
            h.insert(http::header::HOST, v);
        }
    }
    let req = builder
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    sender.send_request(req).await.map_err(|e| unavailable(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints() {
        let node = |addresses: Value, port: Value| json!({"status": {"addresses": addresses, "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}});
        let cases = [
            (
                node(
                    json!([{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.2"}]),
                    json!(10250),
                ),
                "10.0.0.2:10250",
            ),
            (
                node(json!([{"type": "Hostname", "address": "n1"}]), json!(4000)),
                "n1:4000",
            ),
            (
                node(
                    json!([{"type": "InternalIP", "address": "10.0.0.2"}]),
                    json!(0),
                ),
                "node n1 has no kubelet endpoint",
            ),
            (node(json!([]), json!(10250)), "node n1 has no address"),
        ];
        for (n, want) in cases {
            let got = match endpoint(&n, "n1") {
                Ok((h, p)) => format!("{h}:{p}"),
                Err(e) => e.message,
            };
            assert_eq!(got, want);
        }
    }
}
