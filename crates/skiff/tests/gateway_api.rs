//! Gateway API on the built-in ingress: the CRDs and the `skiff` GatewayClass are there at
//! start; a Gateway with an HTTP and an HTTPS listener and HTTPRoutes route two hostnames
//! and paths to two Services, split traffic by weight, match a header, redirect, terminate
//! TLS with a Secret named by the listener, report status (Gateway addresses and
//! conditions, listener route counts, route parents), and stop routing when a route goes.
//!
//! Requests go from the test process to 127.0.0.1 on free ports the test passes as
//! `--ingress-http-port`/`--ingress-https-port` (the ports every Gateway listener is served
//! on), with curl.

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

fn stdout(out: std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn get(port: u16, host: &str, path: &str, extra: &[&str]) -> (String, String) {
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("http://{host}:{port}{path}");
    let mut args = vec!["--resolve", &resolve, &url];
    args.extend_from_slice(extra);
    curl(&args)
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

fn service(name: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "{name}"}},
           "spec": {{"selector": {{"app": "{name}"}}, "ports": [{{"port": 80, "targetPort": 8080}}]}}}}"#
    )
}

const GATEWAY: &str = r#"{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
  "metadata": {"name": "web"},
  "spec": {"gatewayClassName": "skiff", "listeners": [
    {"name": "http", "port": 80, "protocol": "HTTP"},
    {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "secure.test",
     "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "secure-tls"}]}},
    {"name": "team", "port": 80, "protocol": "HTTP", "hostname": "team.test",
     "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"gateway": "web"}}}}}]}}"#;

const MAIN_ROUTE: &str = r#"{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
  "metadata": {"name": "main"},
  "spec": {
    "parentRefs": [{"name": "web", "sectionName": "http"}],
    "hostnames": ["a.test", "b.test"],
    "rules": [
      {"backendRefs": [{"name": "alpha", "port": 80}]},
      {"matches": [{"path": {"type": "PathPrefix", "value": "/beta"}}],
       "backendRefs": [{"name": "beta", "port": 80}]},
      {"matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"name": "x-env", "value": "canary"}]}],
       "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-routed", "value": "canary"}]}}],
       "backendRefs": [{"name": "beta", "port": 80}]},
      {"matches": [{"path": {"type": "Exact", "value": "/old"}}],
       "filters": [{"type": "RequestRedirect", "requestRedirect": {"hostname": "b.test", "statusCode": 301}}]}
    ]}}"#;

const SPLIT_ROUTE: &str = r#"{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
  "metadata": {"name": "split"},
  "spec": {
    "parentRefs": [{"name": "web"}],
    "hostnames": ["split.test"],
    "rules": [{"backendRefs": [{"name": "alpha", "port": 80, "weight": 1}, {"name": "beta", "port": 80, "weight": 1}]}]}}"#;

const SECURE_ROUTE: &str = r#"{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
  "metadata": {"name": "secure"},
  "spec": {
    "parentRefs": [{"name": "web", "sectionName": "https"}],
    "rules": [{"backendRefs": [{"name": "alpha", "port": 80}]}]}}"#;

/// In namespace `team`: its Service `alpha` is in `default`, which a ReferenceGrant allows.
const TEAM_ROUTE: &str = r#"{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
  "metadata": {"name": "team", "namespace": "team"},
  "spec": {
    "parentRefs": [{"name": "web", "namespace": "default", "sectionName": "team"}],
    "rules": [{"backendRefs": [{"name": "alpha", "namespace": "default", "port": 80}]}]}}"#;

const GRANT: &str = r#"{"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
  "metadata": {"name": "team-to-alpha", "namespace": "default"},
  "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "team"}],
           "to": [{"group": "", "kind": "Service", "name": "alpha"}]}}"#;

#[test]
fn gateway_routes_by_host_path_header_and_weight_terminates_tls_and_reports_status() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("this test needs curl (apt-get install curl)");
    }
    let mut host = NodeHost::new();
    let image = host.image();
    let (http, https) = (free_port(), free_port());
    let (http_s, https_s) = (http.to_string(), https.to_string());
    let server = host.server_with_agent(
        bin(),
        "gw",
        &[
            "--ingress-http-port",
            &http_s,
            "--ingress-https-port",
            &https_s,
        ],
    );
    let kubectl = server.kubectl();

    // The CRDs are installed and served; explain reads skiff's schema.
    let resources = eventually(
        "the Gateway API resources to be served",
        Duration::from_secs(30),
        || {
            stdout(kubectl.run(&[
                "api-resources",
                "--api-group=gateway.networking.k8s.io",
                "--no-headers",
            ]))
        },
        |r| r.lines().count() == 4,
    );
    let mut rows: Vec<Vec<&str>> = resources
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            vec![
                "gatewayclasses",
                "gc",
                "gateway.networking.k8s.io/v1",
                "false",
                "GatewayClass"
            ],
            vec![
                "gateways",
                "gtw",
                "gateway.networking.k8s.io/v1",
                "true",
                "Gateway"
            ],
            vec![
                "httproutes",
                "gateway.networking.k8s.io/v1",
                "true",
                "HTTPRoute"
            ],
            vec![
                "referencegrants",
                "refgrant",
                "gateway.networking.k8s.io/v1beta1",
                "true",
                "ReferenceGrant"
            ],
        ],
        "{resources}"
    );
    let explain = kubectl.ok(&["explain", "httproute.spec"]);
    assert!(explain.contains("hostnames"), "{explain}");
    let explain = kubectl.ok(&["explain", "gateway.spec.listeners.port"]);
    assert!(explain.contains("skiff serves HTTP listeners"), "{explain}");

    // The built-in class, accepted by the controller.
    let class = eventually(
        "GatewayClass skiff to be Accepted",
        Duration::from_secs(30),
        || stdout(kubectl.run(&["get", "gc", "skiff", "--no-headers"])),
        |t| t.split_whitespace().nth(2) == Some("True"),
    );
    assert_eq!(
        &class.split_whitespace().collect::<Vec<_>>()[..3],
        ["skiff", "skiff.io/gateway-controller", "True"]
    );

    for name in ["alpha", "beta"] {
        kubectl.ok_stdin(&["apply", "-f", "-"], &deployment(name, &image));
        kubectl.ok_stdin(&["apply", "-f", "-"], &service(name));
    }
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
    for doc in [GATEWAY, MAIN_ROUTE, SPLIT_ROUTE, SECURE_ROUTE] {
        kubectl.ok_stdin(&["apply", "-f", "-"], doc);
    }

    // Two hosts, two paths.
    let (body, code) = eventually(
        "a.test/ to reach alpha",
        Duration::from_secs(120),
        || get(http, "a.test", "/hostname", &[]),
        |(body, code)| code == "200" && body.starts_with("alpha-"),
    );
    assert!(body.starts_with("alpha-"), "{body} {code}");
    let (body, _) = eventually(
        "a.test/beta to reach beta",
        Duration::from_secs(60),
        || get(http, "a.test", "/beta/x", &[]),
        |(body, code)| code == "200" && body.contains(" on beta-"),
    );
    assert!(
        body.starts_with("skiff-testimage /beta/x on beta-"),
        "{body}"
    );
    let (body, code) = get(http, "b.test", "/betamax", &[]);
    assert!(
        code == "200" && body.contains(" on alpha-"),
        "/betamax is not under /beta: {body} {code}"
    );

    // A header match wins over the bare prefix, and its filter sets a header.
    let (body, code) = get(http, "b.test", "/headers", &["-H", "x-env: canary"]);
    assert_eq!(code, "200", "{body}");
    assert!(body.lines().any(|l| l == "x-routed: canary"), "{body}");
    let (body, code) = get(http, "b.test", "/hostname", &["-H", "x-env: canary"]);
    assert!(code == "200" && body.starts_with("beta-"), "{body} {code}");
    let (body, code) = get(http, "b.test", "/hostname", &["-H", "x-env: stable"]);
    assert!(code == "200" && body.starts_with("alpha-"), "{body} {code}");

    // A redirect keeps the path and the port.
    let (_, code) = get(http, "a.test", "/old", &[]);
    assert_eq!(code, "301");
    // The second -w replaces the status code: the URL comes back where the code would.
    let (_, location) = get(
        http,
        "a.test",
        "/old",
        &["-o", "/dev/null", "-w", "%{redirect_url}"],
    );
    assert!(
        location.starts_with(&format!("http://b.test:{http}/old")),
        "{location}"
    );

    // Weighted backends share requests.
    let (mut alpha, mut beta) = (0, 0);
    for _ in 0..20 {
        let (body, code) = get(http, "split.test", "/hostname", &[]);
        assert_eq!(code, "200", "{body}");
        if body.starts_with("alpha-") {
            alpha += 1;
        } else if body.starts_with("beta-") {
            beta += 1;
        }
    }
    assert!(alpha >= 5 && beta >= 5, "alpha {alpha}, beta {beta}");

    // No route for a host: 404.
    let (body, code) = get(http, "c.test", "/", &[]);
    assert_eq!(code, "404", "{body}");

    // TLS with the listener's Secret, checked against it; only over TLS.
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
    let (body, code) = get(http, "secure.test", "/hostname", &[]);
    assert_eq!(
        code, "404",
        "the HTTPS listener's route over plain HTTP: {body}"
    );

    // Status: the Gateway's address and conditions, the listeners' route counts, the
    // routes' parents.
    let table = eventually(
        "the Gateway to be Programmed",
        Duration::from_secs(30),
        || stdout(kubectl.run(&["get", "gtw", "web", "--no-headers"])),
        |t| t.split_whitespace().nth(3) == Some("True"),
    );
    let row: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(row[..2], ["web", "skiff"], "{table}");
    assert!(row[2].parse::<std::net::IpAddr>().is_ok(), "{table}");
    let listeners = kubectl.ok(&[
        "get",
        "gateway",
        "web",
        "-o",
        r#"jsonpath={range .status.listeners[*]}{.name}={.attachedRoutes}/{.conditions[?(@.type=="Programmed")].status} {end}"#,
    ]);
    assert_eq!(listeners.trim(), "http=2/True https=1/True team=0/True");
    let parents = kubectl.ok(&[
        "get",
        "httproute",
        "main",
        "-o",
        r#"jsonpath={range .status.parents[*]}{.controllerName} {.parentRef.name}/{.parentRef.sectionName} {range .conditions[*]}{.type}={.status} {end}{end}"#,
    ]);
    assert_eq!(
        parents.trim(),
        "skiff.io/gateway-controller web/http Accepted=True ResolvedRefs=True"
    );
    let routes = kubectl.ok(&["get", "httproutes", "--no-headers"]);
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with("main") && l.contains(r#"["a.test","b.test"]"#)),
        "{routes}"
    );

    // A backend that does not exist shows in the route's status.
    kubectl.ok(&[
        "patch",
        "httproute",
        "split",
        "--type=json",
        "-p",
        r#"[{"op": "replace", "path": "/spec/rules/0/backendRefs/1/name", "value": "gone"}]"#,
    ]);
    let resolved = eventually(
        "ResolvedRefs=False on the split route",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "httproute",
                "split",
                "-o",
                r#"jsonpath={.status.parents[0].conditions[?(@.type=="ResolvedRefs")].reason}"#,
            ])
        },
        |r| r.trim() == "BackendNotFound",
    );
    assert_eq!(resolved.trim(), "BackendNotFound");

    // A route from another namespace: attached once the namespace has the listener's
    // label, served once a ReferenceGrant allows its cross-namespace backend.
    kubectl.ok(&["create", "namespace", "team"]);
    kubectl.ok_stdin(&["apply", "-f", "-"], TEAM_ROUTE);
    let reasons = |k: &testkit::Kubectl| {
        k.ok(&[
            "get",
            "httproute",
            "team",
            "-n",
            "team",
            "-o",
            r#"jsonpath={range .status.parents[0].conditions[*]}{.type}={.reason} {end}"#,
        ])
    };
    let got = eventually(
        "the team route to be refused by the listener",
        Duration::from_secs(30),
        || reasons(&kubectl),
        |r| r.contains("Accepted=NotAllowedByListeners"),
    );
    assert_eq!(
        got.trim(),
        "Accepted=NotAllowedByListeners ResolvedRefs=RefNotPermitted"
    );
    let (body, code) = get(http, "team.test", "/hostname", &[]);
    assert_eq!(code, "404", "{body}");
    kubectl.ok(&["label", "namespace", "team", "gateway=web"]);
    let (body, code) = eventually(
        "team.test to answer 500 for the ungranted backend",
        Duration::from_secs(30),
        || get(http, "team.test", "/hostname", &[]),
        |(_, code)| code == "500",
    );
    assert!(
        body.contains("no ReferenceGrant in default"),
        "{body} {code}"
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], GRANT);
    let (body, code) = eventually(
        "team.test to reach alpha in default",
        Duration::from_secs(30),
        || get(http, "team.test", "/hostname", &[]),
        |(_, code)| code == "200",
    );
    assert!(body.starts_with("alpha-"), "{body} {code}");
    let got = eventually(
        "the team route to be Accepted with resolved refs",
        Duration::from_secs(30),
        || reasons(&kubectl),
        |r| r.trim() == "Accepted=Accepted ResolvedRefs=ResolvedRefs",
    );
    assert_eq!(got.trim(), "Accepted=Accepted ResolvedRefs=ResolvedRefs");

    // Deleting the route stops its routing.
    kubectl.ok(&["delete", "httproute", "main"]);
    let (body, code) = eventually(
        "a.test to answer 404 once its route is gone",
        Duration::from_secs(30),
        || get(http, "a.test", "/hostname", &[]),
        |(_, code)| code == "404",
    );
    assert_eq!(code, "404", "{body}");
    let listeners = eventually(
        "the http listener's route count to drop",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "gateway",
                "web",
                "-o",
                r#"jsonpath={.status.listeners[?(@.name=="http")].attachedRoutes}"#,
            ])
        },
        |n| n.trim() == "1",
    );
    assert_eq!(listeners.trim(), "1");
}
