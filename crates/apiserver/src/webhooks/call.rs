//! One AdmissionReview round trip: HTTPS POST to the webhook's `url`, or to a ready
//! endpoint of its `service` (dialled by IP, verified against `<svc>.<ns>.svc`), trusting
//! the configuration's `caBundle`. Connections are kept per target and reused, as
//! upstream's client does: a TLS handshake per request would dominate the cost of a
//! webhook.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use super::config::{ClientConfig, ServiceRef};
use crate::Api;

/// Where one call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `ip:port` or `host:port` to dial.
    pub dial: String,
    /// The name the certificate must carry (SNI).
    pub server_name: String,
    pub path_and_query: String,
    /// The URL as errors show it (upstream's `Post "URL": ...`).
    pub url: String,
}

fn with_timeout_param(path: &str, timeout: Duration) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}timeout={}s", timeout.as_secs())
}

/// The target of a `url` client config. Upstream tells the webhook its deadline with a
/// `timeout` query parameter.
pub fn url_target(url: &str, timeout: Duration) -> Result<Target, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("webhook url {url:?} is not https"));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("webhook url {url:?} has no host"))?;
    let port = uri.port_u16().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let dial = if bare.contains(':') {
        format!("[{bare}]:{port}")
    } else {
        format!("{bare}:{port}")
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path_and_query = with_timeout_param(path, timeout);
    let shown = with_timeout_param(url, timeout);
    Ok(Target {
        dial,
        server_name: bare.to_string(),
        path_and_query,
        url: shown,
    })
}

/// The target of a `service` client config: the port the Service exposes as
/// `service.port` (443 by default), resolved through its EndpointSlices to a ready
/// endpoint, as upstream's service resolver in the apiserver does.
pub fn service_target(api: &Api, svc: &ServiceRef, timeout: Duration) -> Result<Target, String> {
    let port = svc.port.unwrap_or(443);
    let path = with_timeout_param(svc.path.as_deref().unwrap_or("/"), timeout);
    let host = format!("{}.{}.svc", svc.name, svc.namespace);
    let url = format!("https://{host}:{port}{path}");
    let service = api
        .cache
        .get(&format!(
            "/registry/services/specs/{}/{}",
            svc.namespace, svc.name
        ))
        .map(|o| o.value())
        .ok_or_else(|| format!("service \"{}\" not found", svc.name))?;
    let (ip, target_port) = ready_endpoint(api, &service, svc, port)
        .ok_or_else(|| format!("no endpoints available for service \"{}\"", svc.name))?;
    let dial = if ip.contains(':') {
        format!("[{ip}]:{target_port}")
    } else {
        format!("{ip}:{target_port}")
    };
    Ok(Target {
        dial,
        server_name: host,
        path_and_query: path,
        url,
    })
}

fn ready_endpoint(
    api: &Api,
    service: &Value,
    svc: &ServiceRef,
    port: u16,
) -> Option<(String, u16)> {
    let (slices, _) = api
        .cache
        .list(&format!("/registry/endpointslices/{}/", svc.namespace));
    let slices: Vec<Value> = slices.iter().map(|o| o.value()).collect();
    pick_endpoint(service, &slices, &svc.name, port)
}

/// The first ready address behind `port` of the Service named `name` (pure): the
/// EndpointSlice port carries the name of the Service port it serves.
fn pick_endpoint(
    service: &Value,
    slices: &[Value],
    name: &str,
    port: u16,
) -> Option<(String, u16)> {
    let svc_port = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)?
        .iter()
        .find(|p| p.get("port").and_then(Value::as_u64) == Some(u64::from(port)))?;
    let port_name = svc_port.get("name").and_then(Value::as_str).unwrap_or("");
    slices.iter().find_map(|slice| {
        if slice
            .pointer("/metadata/labels/kubernetes.io~1service-name")
            .and_then(Value::as_str)
            != Some(name)
        {
            return None;
        }
        let target = slice
            .get("ports")
            .and_then(Value::as_array)?
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)?
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())?;
        let ip = slice
            .get("endpoints")
            .and_then(Value::as_array)?
            .iter()
            .filter(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false))
            .find_map(|e| e.pointer("/addresses/0").and_then(Value::as_str))?;
        Some((ip.to_string(), target))
    })
}

/// TLS settings per `caBundle`; without one the system's roots are trusted.
fn tls_config(ca_bundle: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIGS: LazyLock<Mutex<HashMap<String, Arc<rustls::ClientConfig>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let key = ca_bundle.unwrap_or("").to_string();
    if let Some(c) = lock(&CONFIGS).get(&key) {
        return Ok(Arc::clone(c));
    }
    let pem = match ca_bundle {
        Some(b) if !b.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("caBundle is not base64: {e}"))?,
        _ => std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default(),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert: CertificateDer<'static> = cert.map_err(|e| format!("caBundle: {e}"))?;
        // A bad certificate among the system roots should not make every other unusable.
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    lock(&CONFIGS).insert(key, Arc::clone(&config));
    Ok(config)
}

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections by target and trust; process-wide since webhook targets are shared
/// by every request, and a few idle connections per webhook are cheap.
static POOL: LazyLock<Mutex<HashMap<String, Vec<Sender>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Keeps the pool small: a burst of parallel calls should not leave a crowd of idle
/// connections open on the webhook.
const MAX_IDLE_PER_TARGET: usize = 8;

/// A poisoned lock only means a panic elsewhere; the maps stay consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        _ => e.to_string(),
    }
}

async fn connect(target: &Target, config: Arc<rustls::ClientConfig>) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(&target.dial)
        .await
        .map_err(|e| format!("dial tcp {}: {}", target.dial, io_reason(&e)))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(target.server_name.clone())
        .map_err(|e| format!("invalid server name {}: {e}", target.server_name))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "webhook connection ended");
        }
    });
    Ok(sender)
}

async fn send(
    target: &Target,
    pool_key: &str,
    config: Arc<rustls::ClientConfig>,
    body: Bytes,
) -> Result<Value, String> {
    let idle = {
        let mut pool = lock(&POOL);
        let list = pool.entry(pool_key.to_string()).or_default();
        list.retain(|s| !s.is_closed());
        list.pop()
    };
    if let Some(sender) = idle {
        // An idle connection the webhook closed a moment ago fails before any answer;
        // like Go's transport, try once more on a fresh connection.
        match send_on(sender, target, pool_key, body.clone()).await {
            Ok(v) => return Ok(v),
            Err(SendError::Connection(e)) => {
                tracing::debug!(error = %e, "reused webhook connection failed; reconnecting")
            }
            Err(SendError::Answer(e)) => return Err(e),
        }
    }
    let sender = connect(target, config).await?;
    send_on(sender, target, pool_key, body)
        .await
        .map_err(|(SendError::Connection(e) | SendError::Answer(e))| e)
}

enum SendError {
    /// Nothing came back on the connection.
    Connection(String),
    /// The webhook answered, but not with an AdmissionReview.
    Answer(String),
}

async fn send_on(
    mut sender: Sender,
    target: &Target,
    pool_key: &str,
    body: Bytes,
) -> Result<Value, SendError> {
    use SendError::{Answer, Connection};
    sender
        .ready()
        .await
        .map_err(|e| Connection(e.to_string()))?;
    let req = Request::post(target.path_and_query.as_str())
        .header(http::header::HOST, target.server_name.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(body))
        .map_err(|e| Answer(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| Connection(e.to_string()))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Answer(e.to_string()))?
        .to_bytes();
    {
        let mut pool = lock(&POOL);
        let list = pool.entry(pool_key.to_string()).or_default();
        if list.len() < MAX_IDLE_PER_TARGET {
            list.push(sender);
        }
    }
    if !status.is_success() {
        return Err(Answer(format!(
            "the server responded with the status code {} but did not return more information",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| Answer(format!("response is not JSON: {e}")))
}

/// POSTs `review` and returns the decoded reply. The error text is what follows
/// `failed to call webhook: ` in upstream's message.
pub async fn post(
    api: &Api,
    client: &ClientConfig,
    timeout: Duration,
    review: &Value,
) -> Result<Value, String> {
    let target = match (&client.url, &client.service) {
        (Some(url), _) => url_target(url, timeout)?,
        (None, Some(svc)) => service_target(api, svc, timeout)?,
        (None, None) => return Err("webhook has neither url nor service".into()),
    };
    let config = tls_config(client.ca_bundle.as_deref())?;
    let pool_key = format!(
        "{}|{}|{}",
        target.dial,
        target.server_name,
        client.ca_bundle.as_deref().unwrap_or("")
    );
    let body = Bytes::from(serde_json::to_vec(review).map_err(|e| e.to_string())?);
    let call = send(&target, &pool_key, config, body);
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("Post \"{}\": {e}", target.url)),
        Err(_) => Err(format!(
            "Post \"{}\": context deadline exceeded",
            target.url
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_endpoints() {
        use serde_json::json;
        let service = json!({"spec": {"ports": [
            {"name": "https", "port": 443, "targetPort": 8443},
            {"name": "metrics", "port": 9090}]}});
        let slice = |svc: &str, port_name: &str, endpoints: Value| {
            json!({"metadata": {"labels": {"kubernetes.io/service-name": svc}},
                "ports": [{"name": port_name, "port": 8443}], "endpoints": endpoints})
        };
        let ready = json!([{"addresses": ["10.0.0.7"], "conditions": {"ready": true}}]);
        let not_ready = json!([{"addresses": ["10.0.0.8"], "conditions": {"ready": false}}]);
        let cases: Vec<(&str, Vec<Value>, u16)> = vec![
            ("ready", vec![slice("hook", "https", ready.clone())], 443),
            (
                "other service",
                vec![slice("other", "https", ready.clone())],
                443,
            ),
            (
                "not ready, then ready",
                vec![
                    slice("hook", "https", not_ready),
                    slice("hook", "https", ready.clone()),
                ],
                443,
            ),
            (
                "port the service lacks",
                vec![slice("hook", "https", ready.clone())],
                8080,
            ),
            (
                "slice for another port",
                vec![slice("hook", "metrics", ready)],
                443,
            ),
        ];
        let out: String = cases
            .into_iter()
            .map(|(what, slices, port)| {
                format!(
                    "{what}: {:?}\n",
                    pick_endpoint(&service, &slices, "hook", port)
                )
            })
            .collect();
        expect_test::expect![[r#"
            ready: Some(("10.0.0.7", 8443))
            other service: None
            not ready, then ready: Some(("10.0.0.7", 8443))
            port the service lacks: None
            slice for another port: None
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn url_targets() {
        let t = Duration::from_secs(10);
        let cases = [
            "https://127.0.0.1:8443/validate",
            "https://hook.example.com/mutate?x=1",
            "https://[::1]:9443/v",
            "http://127.0.0.1/v",
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|u| match url_target(u, t) {
                Ok(t) => format!(
                    "{} {} {} {}",
                    t.dial, t.server_name, t.path_and_query, t.url
                ),
                Err(e) => e,
            })
            .collect();
        expect_test::expect![[r#"
            [
                "127.0.0.1:8443 127.0.0.1 /validate?timeout=10s https://127.0.0.1:8443/validate?timeout=10s",
                "hook.example.com:443 hook.example.com /mutate?x=1&timeout=10s https://hook.example.com/mutate?x=1&timeout=10s",
                "[::1]:9443 ::1 /v?timeout=10s https://[::1]:9443/v?timeout=10s",
                "webhook url \"http://127.0.0.1/v\" is not https",
            ]
        "#]].assert_debug_eq(&out);
    }
}
