use expect_test::{expect, Expect};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

use super::*;

fn service(name: &str, ports: Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
                                  "spec": {"ports": ports}}))
    .unwrap()
}

fn slice(service: &str, ports: Value, endpoints: Value) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{service}-x"), "namespace": "default",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": ports, "endpoints": endpoints}))
    .unwrap()
}

fn ingress(name: &str, spec: Value) -> Ingress {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec}),
    )
    .unwrap()
}

fn backend(svc: &str, port: Value) -> Value {
    json!({"service": {"name": svc, "port": port}})
}

fn path(p: &str, kind: &str, svc: &str) -> Value {
    json!({"path": p, "pathType": kind, "backend": backend(svc, json!({"number": 80}))})
}

/// Services a, b, c (one ready pod each), `named` (two named ports) and `empty`.
pub(crate) fn fixtures() -> (Vec<Service>, Vec<EndpointSlice>) {
    let services = vec![
        service("a", json!([{"port": 80}])),
        service("b", json!([{"port": 80}])),
        service("c", json!([{"port": 80}])),
        service(
            "named",
            json!([{"name": "http", "port": 80}, {"name": "admin", "port": 9000}]),
        ),
        service("empty", json!([{"port": 80}])),
    ];
    let one = |ip: &str| json!([{"addresses": [ip], "conditions": {"ready": true}}]);
    let slices = vec![
        slice("a", json!([{"port": 8080}]), one("10.0.0.1")),
        slice("b", json!([{"port": 8080}]), one("10.0.0.2")),
        slice("c", json!([{"port": 8080}]), one("10.0.0.3")),
        slice(
            "named",
            json!([{"name": "http", "port": 8080}, {"name": "admin", "port": 9090}]),
            json!([{"addresses": ["10.0.0.4"], "conditions": {"ready": true}},
                   {"addresses": ["10.0.0.5"]},
                   {"addresses": ["10.0.0.6"], "conditions": {"ready": false}}]),
        ),
        slice("empty", json!([{"port": 8080}]), json!([])),
    ];
    (services, slices)
}

/// Where a request goes, in one line: the service and its endpoints (weighted backends
/// as `service*weight`), a redirect, a failure, or 404.
pub(crate) fn describe(action: Option<&Arc<Action>>) -> String {
    let target = |t: &Target| match &t.endpoints {
        Ok(eps) => format!(
            "{} {:?}",
            t.service,
            eps.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        ),
        Err(why) => format!("{} 503 {why}", t.service),
    };
    match action.map(|a| a.as_ref()) {
        None => "404".to_string(),
        Some(Action::Fail(why)) => format!("500 {why}"),
        Some(Action::Redirect(r)) => format!("redirect {r:?}"),
        Some(Action::Forward(f)) => {
            let mut parts: Vec<String> = f
                .backends()
                .map(|(t, w)| {
                    if w == 1 {
                        target(t)
                    } else {
                        format!("{}*{w}", target(t))
                    }
                })
                .collect();
            let h = &f.headers;
            if !(h.set.is_empty() && h.add.is_empty() && h.remove.is_empty()) {
                parts.push(format!("headers {h:?}"));
            }
            parts.join(" + ")
        }
    }
}

/// A GET of `host path` over plain HTTP, with no headers.
pub(crate) fn get<'t>(table: &'t Table, host: &str, path: &str) -> Option<&'t Arc<Action>> {
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    table.route(&RequestHead {
        host,
        path,
        query,
        method: &Method::GET,
        headers: &HeaderMap::new(),
        https: false,
    })
}

/// Routes each `host path` request line and prints where it goes.
fn check(ingresses: &[Ingress], requests: &str, want: Expect) {
    let (services, slices) = fixtures();
    let mut resolver = Resolver::new(&services, &slices);
    let refs: Vec<&Ingress> = ingresses.iter().collect();
    let table = compile(&refs, &mut resolver);
    let mut out = String::new();
    for line in requests.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (host, p) = line.split_once(' ').unwrap();
        let got = describe(get(&table, host, p));
        out.push_str(&format!("{line} -> {got}\n"));
    }
    want.assert_eq(&out);
}

#[test]
fn hosts_and_paths() {
    let ing = ingress(
        "web",
        json!({"rules": [
            {"host": "foo.example.com", "http": {"paths": [
                path("/", "Prefix", "a"),
                path("/api", "Prefix", "b"),
                path("/api/exact", "Exact", "c"),
            ]}},
            {"host": "*.example.com", "http": {"paths": [path("/", "Prefix", "c")]}},
            {"http": {"paths": [path("/any", "ImplementationSpecific", "b")]}},
        ]}),
    );
    check(
        &[ing],
        "foo.example.com /
         foo.example.com /api
         foo.example.com /api/
         foo.example.com /api/v1
         foo.example.com /apiv1
         foo.example.com /api/exact
         foo.example.com /api/exact/
         bar.example.com /x
         a.bar.example.com /x
         example.com /x
         other.org /any/thing
         other.org /anything",
        expect![[r#"
            foo.example.com / -> default/a ["10.0.0.1:8080"]
            foo.example.com /api -> default/b ["10.0.0.2:8080"]
            foo.example.com /api/ -> default/b ["10.0.0.2:8080"]
            foo.example.com /api/v1 -> default/b ["10.0.0.2:8080"]
            foo.example.com /apiv1 -> default/a ["10.0.0.1:8080"]
            foo.example.com /api/exact -> default/c ["10.0.0.3:8080"]
            foo.example.com /api/exact/ -> default/b ["10.0.0.2:8080"]
            bar.example.com /x -> default/c ["10.0.0.3:8080"]
            a.bar.example.com /x -> 404
            example.com /x -> 404
            other.org /any/thing -> default/b ["10.0.0.2:8080"]
            other.org /anything -> 404
        "#]],
    );
}

#[test]
fn exact_before_prefix_and_trailing_slashes() {
    let ing = ingress(
        "web",
        json!({"rules": [{"host": "h", "http": {"paths": [
            path("/foo/", "Prefix", "a"),
            path("/foo", "Exact", "b"),
            path("/foo/bar", "Exact", "c"),
        ]}}]}),
    );
    check(
        &[ing],
        "h /foo
         h /foo/
         h /foo/bar
         h /foo/bar/
         h /fo",
        expect![[r#"
            h /foo -> default/b ["10.0.0.2:8080"]
            h /foo/ -> default/a ["10.0.0.1:8080"]
            h /foo/bar -> default/c ["10.0.0.3:8080"]
            h /foo/bar/ -> default/a ["10.0.0.1:8080"]
            h /fo -> 404
        "#]],
    );
}

#[test]
fn merged_ingresses_default_backend_and_unavailable_backends() {
    let older = ingress(
        "older",
        json!({"defaultBackend": backend("c", json!({"number": 80})),
               "rules": [{"host": "h", "http": {"paths": [path("/x", "Prefix", "a")]}}]}),
    );
    let newer = ingress(
        "newer",
        json!({"defaultBackend": backend("a", json!({"number": 80})),
        "rules": [{"host": "h", "http": {"paths": [
            path("/x", "Prefix", "b"),
            path("/y", "Prefix", "b"),
            {"path": "/named", "pathType": "Prefix", "backend": backend("named", json!({"name": "admin"}))},
            {"path": "/http", "pathType": "Prefix", "backend": backend("named", json!({"number": 80}))},
            path("/empty", "Prefix", "empty"),
            path("/missing", "Prefix", "missing"),
            {"path": "/noport", "pathType": "Prefix", "backend": backend("a", json!({"number": 81}))},
            {"path": "/res", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket", "name": "b"}}},
        ]}}]}),
    );
    check(
        &[older, newer],
        "h /x
         h /y
         h /named
         h /http
         h /empty
         h /missing
         h /noport
         h /res
         h /elsewhere
         other /",
        expect![[r#"
            h /x -> default/a ["10.0.0.1:8080"]
            h /y -> default/b ["10.0.0.2:8080"]
            h /named -> default/named ["10.0.0.4:9090", "10.0.0.5:9090"]
            h /http -> default/named ["10.0.0.4:8080", "10.0.0.5:8080"]
            h /empty -> default/empty []
            h /missing -> default/missing 503 service default/missing not found
            h /noport -> default/a 503 service default/a has no port 81
            h /res -> default/b 503 resource backends are not supported
            h /elsewhere -> default/c ["10.0.0.3:8080"]
            other / -> default/c ["10.0.0.3:8080"]
        "#]],
    );
}

#[test]
fn a_named_host_is_routed_within_its_own_rules() {
    let shop = ingress(
        "shop",
        json!({"defaultBackend": backend("c", json!({"number": 80})),
               "rules": [{"host": "shop.example", "http": {"paths": [path("/cart", "Prefix", "a")]}}]}),
    );
    let blog = ingress(
        "blog",
        json!({"rules": [{"host": "blog.example", "http": {"paths": [path("/posts", "Prefix", "a")]}}]}),
    );
    let catch_all = ingress(
        "catch-all",
        json!({"defaultBackend": backend("b", json!({"number": 80})),
               "rules": [{"http": {"paths": [path("/", "Prefix", "b")]}}]}),
    );
    check(
        &[shop, blog, catch_all],
        "shop.example /cart
         shop.example /other
         blog.example /other
         x.blog.example /posts
         unknown.example /other",
        expect![[r#"
            shop.example /cart -> default/a ["10.0.0.1:8080"]
            shop.example /other -> default/c ["10.0.0.3:8080"]
            blog.example /other -> 404
            x.blog.example /posts -> default/b ["10.0.0.2:8080"]
            unknown.example /other -> default/b ["10.0.0.2:8080"]
        "#]],
    );
}

#[test]
fn redirect_locations() {
    let r = |scheme: Option<&str>, hostname: Option<&str>, port: Option<u16>| Redirect {
        scheme: scheme.map(str::to_string),
        hostname: hostname.map(str::to_string),
        port,
        status: 302,
    };
    let cases = [
        (r(None, Some("b.test"), None), "http", "a.test", Some(8080)),
        (r(None, Some("b.test"), None), "http", "a.test", None),
        (r(Some("https"), None, None), "http", "a.test", Some(8080)),
        (
            r(Some("https"), None, Some(8443)),
            "http",
            "a.test",
            Some(8080),
        ),
        (r(Some("http"), None, Some(80)), "https", "a.test", None),
        (r(None, None, Some(443)), "https", "::1", None),
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|(r, scheme, host, port)| r.location(scheme, host, *port, "/p?q=1"))
        .collect();
    expect![[r#"
        http://b.test:8080/p?q=1
        http://b.test/p?q=1
        https://a.test/p?q=1
        https://a.test:8443/p?q=1
        http://a.test/p?q=1
        https://[::1]/p?q=1"#]]
    .assert_eq(&out.join("\n"));
}
