//! The actions probes and lifecycle hooks run against a container: a command through CRI
//! ExecSync, an HTTP GET, a TCP connect and a gRPC health check. Each returns Ok with what
//! it saw or Err with the message upstream's kubelet puts in its events.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cri::{v1 as cri, Cri};

/// The User-Agent upstream's prober sends (its own version, which we serve).
pub const USER_AGENT: &str = "kube-probe/1.37";

/// A port by number, or by the name of one of the container's ports.
pub fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    let n = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => match name.parse::<i64>() {
            Ok(n) => n,
            Err(_) => c
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| i64::from(p.container_port))
                .ok_or_else(|| format!("unable to find port {name:?} in container"))?,
        },
    };
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {n}"))
}

/// What a command run in a container printed, and its exit code.
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` in the container through CRI ExecSync; Err when it could not run or timed
/// out. `timeout` zero means none (as for hooks).
pub async fn exec_raw(
    cri: &Cri,
    id: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<ExecOutput, String> {
    let mut rt = cri.runtime.clone();
    let req = cri::ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.to_vec(),
        timeout: timeout.as_secs() as i64,
    };
    let timed_out = || format!("command {:?} timed out", cmd.join(" "));
    let call = rt.exec_sync(req);
    let resp = if timeout.is_zero() {
        call.await
    } else {
        // The runtime enforces the timeout; ours only guards against a runtime that hangs.
        match tokio::time::timeout(timeout + Duration::from_secs(2), call).await {
            Ok(r) => r,
            Err(_) => return Err(timed_out()),
        }
    };
    match resp {
        Ok(r) => {
            let r = r.into_inner();
            Ok(ExecOutput {
                exit_code: r.exit_code,
                stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
            })
        }
        Err(s) if s.code() == tonic::Code::DeadlineExceeded => Err(timed_out()),
        Err(s) if s.message().contains("timeout") => Err(timed_out()),
        Err(s) => Err(s.message().to_string()),
    }
}

/// A probe's exec: Ok(output) when the command exits 0, else Err(its output).
pub async fn exec(
    cri: &Cri,
    id: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<String, String> {
    let out = exec_raw(cri, id, cmd, timeout).await?;
    let text = out.stdout + &out.stderr;
    if out.exit_code == 0 {
        Ok(text)
    } else {
        Err(text)
    }
}

/// An HTTP GET as the prober sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// From the action: the host is the pod's IP unless the action names one.
    pub fn from_action(a: &HTTPGetAction, c: &Container, pod_ip: &str) -> Result<Self, String> {
        let path = a.path.clone().unwrap_or_default();
        Ok(HttpRequest {
            https: a.scheme.as_deref() == Some("HTTPS"),
            host: a
                .host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| pod_ip.to_string()),
            port: resolve_port(&a.port, c)?,
            path: if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            },
            headers: a
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }

    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The request bytes: the user's headers win over the defaults (Host, User-Agent, Accept).
    pub fn bytes(&self) -> Vec<u8> {
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let mut out = format!("GET {} HTTP/1.1\r\n", self.path);
        if !has("host") {
            out += &format!("Host: {}\r\n", self.addr());
        }
        if !has("user-agent") {
            out += &format!("User-Agent: {USER_AGENT}\r\n");
        }
        if !has("accept") {
            out += "Accept: */*\r\n";
        }
        for (k, v) in &self.headers {
            out += &format!("{k}: {v}\r\n");
        }
        out += "Connection: close\r\n\r\n";
        out.into_bytes()
    }
}

/// The status code of an HTTP response's first line.
pub fn status_code(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// A probe's verdict on a status code: 200..=399 succeeds.
pub fn http_verdict(code: u16) -> Result<String, String> {
    if (200..400).contains(&code) {
        Ok(String::new())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// Sends the GET and returns the status code, or the error as Go's client words it.
pub async fn http_get(req: &HttpRequest, timeout: Duration) -> Result<u16, String> {
    let url = req.url();
    let work = async {
        let addr = req.addr();
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("dial tcp {addr}: connect: {}", io_words(&e)))?;
        if req.https {
            let tls = tls_connect(tcp, &req.host).await?;
            exchange(tls, req).await
        } else {
            exchange(tcp, req).await
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(e)) => Err(format!("Get {url:?}: {e}")),
        Err(_) => Err(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &HttpRequest,
) -> Result<u16, String> {
    s.write_all(&req.bytes())
        .await
        .map_err(|e| io_words(&e).to_string())?;
    // The status line is all we need; upstream reads at most 10 KiB of the body anyway.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = s
            .read(&mut buf)
            .await
            .map_err(|e| io_words(&e).to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_code(&String::from_utf8_lossy(&head)).ok_or_else(|| "EOF".to_string())
}

/// Go's wording of the common socket errors, which users grep their events for.
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        _ => e.to_string(),
    }
}

/// TCP connect: success once the connection opens.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(String::new()),
        Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {}", io_words(&e))),
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

/// HTTPS probes do not verify the server's certificate (as upstream's).
async fn tls_connect(
    tcp: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("tls: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// grpc.health.v1's messages, written by hand (two fields are not worth a build step).
pub mod health {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HealthCheckRequest {
        #[prost(string, tag = "1")]
        pub service: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HealthCheckResponse {
        #[prost(int32, tag = "1")]
        pub status: i32,
    }

    pub const PATH: &str = "/grpc.health.v1.Health/Check";

    /// The serving status's name, as upstream's message shows it.
    pub fn status_name(status: i32) -> &'static str {
        match status {
            1 => "SERVING",
            2 => "NOT_SERVING",
            3 => "SERVICE_UNKNOWN",
            _ => "UNKNOWN",
        }
    }
}

/// A gRPC health check: success only when the server answers SERVING.
pub async fn grpc(
    host: &str,
    port: u16,
    service: &str,
    timeout: Duration,
) -> Result<String, String> {
    use tonic::transport::Endpoint;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let secs = timeout.as_secs();
    let connect_failed =
        |e: String| format!("timeout: failed to connect service {addr:?} within {secs}s: {e}");
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| connect_failed(e.to_string()))?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(connect_failed(source_chain(&e))),
        Err(_) => return Err(connect_failed("context deadline exceeded".into())),
    };
    let mut client = tonic::client::Grpc::new(channel);
    let call = async {
        client
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<
            health::HealthCheckRequest,
            health::HealthCheckResponse,
        >::default();
        let path = http::uri::PathAndQuery::from_static(health::PATH);
        let req = tonic::Request::new(health::HealthCheckRequest {
            service: service.to_string(),
        });
        client.unary(req, path, codec).await
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(format!(
            "timeout: health rpc did not complete within {secs}s"
        )),
        Ok(Err(s))
            if s.code() == tonic::Code::DeadlineExceeded || s.code() == tonic::Code::Cancelled =>
        {
            Err(format!(
                "timeout: health rpc did not complete within {secs}s"
            ))
        }
        Ok(Err(s)) => Err(format!(
            "error: health rpc probe failed: rpc error: code = {:?} desc = {}",
            s.code(),
            s.message()
        )),
        Ok(Ok(r)) => grpc_verdict(r.into_inner().status),
    }
}

pub fn grpc_verdict(status: i32) -> Result<String, String> {
    if status == 1 {
        Ok(String::new())
    } else {
        Err(format!(
            "service unhealthy (responded with {:?})",
            health::status_name(status)
        ))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out += &format!(": {s}");
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        let cases = [
            ("HTTP/1.1 200 OK\r\n", Some(200), Ok(String::new())),
            ("HTTP/1.1 302 Found\r\n", Some(302), Ok(String::new())),
            ("HTTP/1.1 399 X\r\n", Some(399), Ok(String::new())),
            (
                "HTTP/1.1 400 Bad Request\r\n",
                Some(400),
                Err("HTTP probe failed with statuscode: 400".to_string()),
            ),
            (
                "HTTP/1.0 500 Internal Server Error\r\n",
                Some(500),
                Err("HTTP probe failed with statuscode: 500".to_string()),
            ),
            (
                "HTTP/1.1 199 Early\r\n",
                Some(199),
                Err("HTTP probe failed with statuscode: 199".to_string()),
            ),
            ("garbage\r\n", None, Err(String::new())),
        ];
        for (head, code, verdict) in cases {
            assert_eq!(status_code(head), code, "{head}");
            if let Some(code) = code {
                assert_eq!(http_verdict(code), verdict, "{head}");
            }
        }
    }

    #[test]
    fn requests() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "web", "ports": [{"name": "http", "containerPort": 8080}],
        }))
        .unwrap();
        let cases = [
            (
                serde_json::json!({"path": "/healthz", "port": "http"}),
                "http://10.42.0.5:8080/healthz",
            ),
            (
                serde_json::json!({"path": "healthz", "port": 9000, "scheme": "HTTPS", "host": "127.0.0.1"}),
                "https://127.0.0.1:9000/healthz",
            ),
            (
                serde_json::json!({"port": "8081"}),
                "http://10.42.0.5:8081/",
            ),
        ];
        for (action, want) in cases {
            let a: HTTPGetAction = serde_json::from_value(action).unwrap();
            let r = HttpRequest::from_action(&a, &c, "10.42.0.5").unwrap();
            assert_eq!(r.url(), want);
        }
        let a: HTTPGetAction = serde_json::from_value(serde_json::json!({"port": "nope"})).unwrap();
        assert_eq!(
            HttpRequest::from_action(&a, &c, "10.42.0.5"),
            Err("unable to find port \"nope\" in container".to_string())
        );
        let a: HTTPGetAction = serde_json::from_value(serde_json::json!({
            "path": "/x", "port": 80, "httpHeaders": [{"name": "Host", "value": "example.com"}, {"name": "X-A", "value": "1"}],
        }))
        .unwrap();
        let r = HttpRequest::from_action(&a, &c, "10.42.0.5").unwrap();
        expect_test::expect![[r#"
            GET /x HTTP/1.1
            User-Agent: kube-probe/1.37
            Accept: */*
            Host: example.com
            X-A: 1
            Connection: close

        "#]]
        .assert_eq(&String::from_utf8_lossy(&r.bytes()).replace("\r\n", "\n"));
    }

    #[test]
    fn grpc_statuses() {
        let got: Vec<String> = (0..4)
            .map(|s| match grpc_verdict(s) {
                Ok(_) => "ok".into(),
                Err(e) => e,
            })
            .collect();
        expect_test::expect![[r#"
            [
                "service unhealthy (responded with \"UNKNOWN\")",
                "ok",
                "service unhealthy (responded with \"NOT_SERVING\")",
                "service unhealthy (responded with \"SERVICE_UNKNOWN\")",
            ]"#]]
        .assert_eq(&format!("{got:#?}"));
    }

    /// Against real sockets on loopback: a tiny server answering one status per connection.
    #[tokio::test]
    async fn http_and_tcp_against_a_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let status = if req.starts_with("GET /bad ") {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let req = |path: &str| HttpRequest {
            https: false,
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
            headers: vec![],
        };
        let t = Duration::from_secs(2);
        assert_eq!(http_get(&req("/ok"), t).await, Ok(200));
        assert_eq!(http_get(&req("/bad"), t).await, Ok(500));
        assert_eq!(tcp("127.0.0.1", port, t).await, Ok(String::new()));
        // A port nobody listens on.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(
            tcp("127.0.0.1", closed, t).await,
            Err(format!(
                "dial tcp 127.0.0.1:{closed}: connect: connection refused"
            ))
        );
        let mut r = req("/healthz");
        r.port = closed;
        assert_eq!(
            http_get(&r, t).await,
            Err(format!(
                "Get \"http://127.0.0.1:{closed}/healthz\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
            ))
        );
    }

    /// A gRPC health server in this process: SERVING for the empty service, NOT_SERVING
    /// for "db"; a port nobody serves fails to connect.
    #[derive(Clone)]
    struct HealthServer;

    impl tonic::server::NamedService for HealthServer {
        const NAME: &'static str = "grpc.health.v1.Health";
    }

    impl tower::Service<http::Request<tonic::body::Body>> for HealthServer {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
        >;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
            Box::pin(async move {
                let codec = tonic_prost::ProstCodec::<
                    health::HealthCheckResponse,
                    health::HealthCheckRequest,
                >::default();
                let check =
                    tower::service_fn(|r: tonic::Request<health::HealthCheckRequest>| async move {
                        let status = if r.get_ref().service == "db" { 2 } else { 1 };
                        Ok::<_, tonic::Status>(tonic::Response::new(health::HealthCheckResponse {
                            status,
                        }))
                    });
                Ok(tonic::server::Grpc::new(codec).unary(check, req).await)
            })
        }
    }

    #[tokio::test]
    async fn grpc_against_a_server() {
        let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let incoming = tonic::transport::server::TcpIncoming::bind(addr).unwrap();
        let port = incoming.local_addr().unwrap().port();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(HealthServer)
                .serve_with_incoming(incoming),
        );
        let t = Duration::from_secs(2);
        assert_eq!(grpc("127.0.0.1", port, "", t).await, Ok(String::new()));
        assert_eq!(
            grpc("127.0.0.1", port, "db", t).await,
            Err("service unhealthy (responded with \"NOT_SERVING\")".to_string())
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = grpc("127.0.0.1", closed, "", t).await.unwrap_err();
        assert!(
            err.starts_with(&format!(
                "timeout: failed to connect service \"127.0.0.1:{closed}\" within 2s"
            )),
            "{err}"
        );
    }

    /// HTTPS probes accept any certificate: a self-signed one on loopback answers.
    #[tokio::test]
    async fn https_without_verification() {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let key = rcgen::generate_simple_self_signed(vec!["probe.test".into()]).unwrap();
        let cert = key.cert.der().clone();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], der)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = s.shutdown().await;
            }
        });
        let req = HttpRequest {
            https: true,
            host: "127.0.0.1".into(),
            port,
            path: "/healthz".into(),
            headers: vec![],
        };
        assert_eq!(http_get(&req, Duration::from_secs(2)).await, Ok(204));
    }
}
