//! The built-in ingress controller: one Ingress routes two hosts and two paths to two
//! services over HTTP/1.1 and HTTP/2, terminates TLS with a Secret's certificate chosen by
//! SNI, passes an Upgrade through, answers 503 when a backend has no ready pods, 502 when
//! the backend refuses and 404 when no rule matches; the default IngressClass is set on an
//! Ingress without one and the Ingress's status shows the node's address.
//!
//! Requests go from the test process to 127.0.0.1 on free ports the test passes as
//! `--ingress-http-port`/`--ingress-https-port` (never the machine's 80/443), with curl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::node::NodeHost;
use testkit::{eventually, free_port};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// `curl` with `args`; the body and, on the last line, the status code (000: no reply).
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.trim().to_string(), code.trim().to_string())
}

fn get(port: u16, host: &str, path: &str) -> (String, String) {
    curl(&[
        "--resolve",
        &format!("{host}:{port}:127.0.0.1"),
        &format!("http://{host}:{port}{path}"),
    ])
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        r#"{{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "{name}"}},
           "spec": {{"replicas": 1, "selector": {{"matchLabels": {{"app": "{name}"}}}},
             "template": {{"metadata": {{"labels": {{"app": "{name}"}}}},
               "spec": {{"containers": [{{"name": "web", "image": "{image}",
                 "args": ["serve-http", "--port", "8080"],
                 "readinessProbe": {{"httpGet": {{"path": "/healthz", "port": 8080}}, "periodSeconds": 1}}}}]}}}}}}}}"#
    )
}

fn service(name: &str, app: &str, port_name: &str, target: u16) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "{name}"}},
           "spec": {{"selector": {{"app": "{app}"}},
             "ports": [{{"name": "{port_name}", "port": 80, "targetPort": {target}}}]}}}}"#
    )
}

const INGRESS: &str = r#"{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
  "metadata": {"name": "web"},
  "spec": {
    "tls": [{"hosts": ["secure.test"], "secretName": "secure-tls"}],
    "rules": [
      {"host": "a.test", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "alpha", "port": {"number": 80}}}},
        {"path": "/beta", "pathType": "Prefix", "backend": {"service": {"name": "beta", "port": {"name": "web"}}}},
        {"path": "/closed", "pathType": "Exact", "backend": {"service": {"name": "closed", "port": {"number": 80}}}}]}},
      {"host": "b.test", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "beta", "port": {"name": "web"}}}},
        {"path": "/alpha", "pathType": "Exact", "backend": {"service": {"name": "alpha", "port": {"number": 80}}}}]}},
      {"host": "secure.test", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "alpha", "port": {"number": 80}}}}]}}
    ]}}"#;

#[test]
fn ingress_routes_hosts_and_paths_terminates_tls_and_reports_unavailable_backends() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("this test needs curl (apt-get install curl)");
    }
    let mut host = NodeHost::new();
    let image = host.image();
    let (http, https) = (free_port(), free_port());
    let (http_s, https_s) = (http.to_string(), https.to_string());
    let server = host.server_with_agent(
        bin(),
        "ing",
        &[
            "--ingress-http-port",
            &http_s,
            "--ingress-https-port",
            &https_s,
        ],
    );
    let kubectl = server.kubectl();

    // The built-in class exists and is the default.
    let class = kubectl.ok(&["get", "ingressclass", "skiff", "-o", "jsonpath={.spec.controller} {.metadata.annotations.ingressclass\\.kubernetes\\.io/is-default-class}"]);
    assert_eq!(class.trim(), "skiff.io/ingress true");

    for name in ["alpha", "beta"] {
        kubectl.ok_stdin(&["apply", "-f", "-"], &deployment(name, &image));
    }
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &service("alpha", "alpha", "http", 8080),
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &service("beta", "beta", "web", 8080));
    // Selects a running pod, on a port nothing listens on.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &service("closed", "alpha", "http", 9),
    );

    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["secure.test".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let (crt_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&crt_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    kubectl.ok(&[
        "create",
        "secret",
        "tls",
        "secure-tls",
        &format!("--cert={}", crt_path.display()),
        &format!("--key={}", key_path.display()),
    ]);
    kubectl.ok_stdin(&["apply", "-f", "-"], INGRESS);

    // DefaultIngressClass admission named our class.
    let class = kubectl.ok(&[
        "get",
        "ingress",
        "web",
        "-o",
        "jsonpath={.spec.ingressClassName}",
    ]);
    assert_eq!(class.trim(), "skiff");

    // Two hosts, two paths each.
    let (body, code) = eventually(
        "a.test/ to reach alpha",
        Duration::from_secs(120),
        || get(http, "a.test", "/hostname"),
        |(body, code)| code == "200" && body.starts_with("alpha-"),
    );
    assert!(body.starts_with("alpha-"), "{body} {code}");
    let (body, _) = eventually(
        "a.test/beta to reach beta",
        Duration::from_secs(60),
        || get(http, "a.test", "/beta/x"),
        |(body, code)| code == "200" && body.contains(" on beta-"),
    );
    assert!(
        body.starts_with("skiff-testimage /beta/x on beta-"),
        "{body}"
    );
    let (body, code) = get(http, "a.test", "/betamax");
    assert!(
        code == "200" && body.contains(" on alpha-"),
        "/betamax is not under /beta: {body} {code}"
    );
    let (body, code) = get(http, "b.test", "/anything");
    assert!(code == "200" && body.contains(" on beta-"), "{body} {code}");
    let (body, code) = get(http, "b.test", "/alpha");
    assert!(
        code == "200" && body.contains(" on alpha-"),
        "{body} {code}"
    );
    let (body, code) = get(http, "b.test", "/alpha/deeper");
    assert!(
        code == "200" && body.contains(" on beta-"),
        "Exact /alpha: {body} {code}"
    );

    // No rule: 404 with a reason.
    let (body, code) = get(http, "c.test", "/");
    assert_eq!(code, "404", "{body}");
    assert!(body.contains("no ingress rule"), "{body}");

    // Forwarded headers; the Host is kept.
    let (body, _) = get(http, "a.test", "/headers");
    for want in [
        format!("host: a.test:{http}"),
        "x-forwarded-for: 127.0.0.1".to_string(),
        "x-forwarded-proto: http".to_string(),
        format!("x-forwarded-host: a.test:{http}"),
    ] {
        assert!(body.lines().any(|l| l == want), "{want:?} not in\n{body}");
    }

    // HTTP/2 without TLS (prior knowledge).
    let (body, code) = curl(&[
        "--http2-prior-knowledge",
        "--resolve",
        &format!("b.test:{http}:127.0.0.1"),
        &format!("http://b.test:{http}/h2c"),
    ]);
    assert!(
        code == "200" && body.contains(" on beta-"),
        "h2c: {body} {code}"
    );
    // HTTP/1.1 asking to upgrade to h2c is served as HTTP/1.1, not passed to the backend.
    let (body, code) = curl(&[
        "--http2",
        "--resolve",
        &format!("b.test:{http}:127.0.0.1"),
        &format!("http://b.test:{http}/h2c-upgrade"),
    ]);
    assert!(
        code == "200" && body.contains(" on beta-"),
        "h2c upgrade: {body} {code}"
    );

    // TLS with the Secret's certificate, checked against it, by SNI; h2 through ALPN.
    let resolve = format!("secure.test:{https}:127.0.0.1");
    let cacert = crt_path.display().to_string();
    let url = format!("https://secure.test:{https}/hostname");
    let (body, code) = eventually(
        "https://secure.test to answer with the Secret's certificate",
        Duration::from_secs(30),
        || curl(&["--cacert", &cacert, "--resolve", &resolve, &url]),
        |(_, code)| code == "200",
    );
    assert!(body.starts_with("alpha-"), "{body} {code}");
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--cacert",
            &cacert,
        ])
        .args(["--resolve", &resolve, &url])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2", "ALPN h2");
    // Another name gets the self-signed default certificate, which the CA file refuses.
    let (_, code) = curl(&[
        "--cacert",
        &cacert,
        "--resolve",
        &format!("a.test:{https}:127.0.0.1"),
        &format!("https://a.test:{https}/hostname"),
    ]);
    assert_eq!(code, "000", "a.test must not get secure.test's certificate");
    let (body, code) = curl(&[
        "-k",
        "--resolve",
        &format!("a.test:{https}:127.0.0.1"),
        &format!("https://a.test:{https}/headers"),
    ]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("x-forwarded-proto: https"), "{body}");

    // Upgrade: 101 through the ingress, then bytes both ways.
    let mut ws = TcpStream::connect(("127.0.0.1", http)).expect("connect");
    ws.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        ws,
        "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).expect("read the upgrade reply");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws.write_all(b"ping through the ingress").expect("write");
    let mut echo = [0u8; 24];
    ws.read_exact(&mut echo).expect("echo");
    assert_eq!(&echo, b"ping through the ingress");
    drop(ws);

    // A backend that refuses: 502 naming it.
    let (body, code) = get(http, "a.test", "/closed");
    assert_eq!(code, "502", "{body}");
    assert!(body.contains("service default/closed"), "{body}");

    // Status: the node's address, shown by kubectl.
    let ip = eventually(
        "status.loadBalancer.ingress to be filled in",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "ingress",
                "web",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[*].ip}",
            ])
        },
        |ip| !ip.trim().is_empty(),
    );
    let table = kubectl.ok(&["get", "ingress", "web"]);
    assert!(table.contains(ip.trim()), "{table}");
    assert!(
        table.contains("skiff") && table.contains("80, 443"),
        "{table}"
    );

    // A default backend (from a second Ingress) takes what no rule matches.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "fallback"},
            "spec": {"defaultBackend": {"service": {"name": "alpha", "port": {"number": 80}}}}}"#,
    );
    let (body, _) = eventually(
        "c.test to reach the default backend",
        Duration::from_secs(30),
        || get(http, "c.test", "/"),
        |(_, code)| code == "200",
    );
    assert!(body.contains(" on alpha-"), "{body}");

    // No ready pods: 503 naming the service.
    kubectl.ok(&["scale", "deployment", "beta", "--replicas=0"]);
    let (body, _) = eventually(
        "b.test to answer 503",
        Duration::from_secs(60),
        || get(http, "b.test", "/"),
        |(_, code)| code == "503",
    );
    assert_eq!(
        body,
        "503 Service Unavailable: no ready endpoints for service default/beta"
    );
    // The other host is unaffected.
    let (body, code) = get(http, "a.test", "/hostname");
    assert!(code == "200" && body.starts_with("alpha-"), "{body} {code}");
}

#[test]
fn a_taken_ingress_port_is_reported_and_the_agent_runs_on() {
    let mut host = NodeHost::new();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    // Waits for the node to be Ready: the agent did not give up.
    let server = host.server_with_agent(bin(), "busy", &["--ingress-http-port", &port]);
    let kubectl = server.kubectl();
    let events = eventually(
        "a Warning event about the taken port",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "events",
                "-o",
                "jsonpath={range .items[*]}{.type} {.reason} {.involvedObject.kind}/{.involvedObject.name}: {.message}{\"\\n\"}{end}",
            ])
        },
        |e| e.contains("IngressPortUnavailable"),
    );
    let line = events
        .lines()
        .find(|l| l.contains("IngressPortUnavailable"))
        .unwrap_or_default();
    assert!(
        line.starts_with(
            "Warning IngressPortUnavailable Node/busy: ingress controller cannot listen on port "
        ) && line.contains(&port),
        "{line}"
    );
    drop(taken);
}
