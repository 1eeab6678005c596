use expect_test::{expect, Expect};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{json, Value};

use super::*;
use crate::backends::Resolver;
use crate::routes::tests::{describe, fixtures};
use crate::routes::{RequestHead, Table};

fn class(name: &str, controller: &str) -> GatewayClass {
    serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": {"controllerName": controller}}),
    )
    .unwrap()
}

fn gateway(name: &str, class: &str, listeners: Value) -> Gateway {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
        "spec": {"gatewayClassName": class, "listeners": listeners}}))
    .unwrap()
}

fn route(name: &str, ns: &str, created: &str, spec: Value) -> HttpRoute {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
        "spec": spec}),
    )
    .unwrap()
}

fn http(name: &str, hostname: Option<&str>) -> Value {
    let mut l = json!({"name": name, "port": 80, "protocol": "HTTP"});
    if let Some(h) = hostname {
        l["hostname"] = json!(h);
    }
    l
}

fn classes() -> Vec<GatewayClass> {
    vec![
        class("skiff", CONTROLLER),
        class("other", "example.com/other"),
    ]
}

fn attached<'a>(
    classes: &'a [GatewayClass],
    gateways: &'a [Gateway],
    routes: &'a [HttpRoute],
) -> Attachments<'a> {
    attach(
        &classes.iter().collect::<Vec<_>>(),
        &gateways.iter().collect::<Vec<_>>(),
        &routes.iter().collect::<Vec<_>>(),
        &|_, name| name == "good-tls",
        &|_, name| ["a", "b", "c", "named", "empty"].contains(&name),
    )
}

/// Routes each request line `[https] host path[?query] [METHOD] [name:value]...`.
fn check(gateways: &[Gateway], routes: &[HttpRoute], requests: &str, want: Expect) {
    let classes = classes();
    let att = attached(&classes, gateways, routes);
    let (services, slices) = fixtures();
    let mut resolver = Resolver::new(&services, &slices);
    let mut table = Table::default();
    compile::add_routes(&mut table, &att, &mut resolver);
    table.order();
    let mut out = String::new();
    for line in requests.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace().peekable();
        let https = words.next_if_eq(&"https").is_some();
        let host = words.next().unwrap();
        let target = words.next().unwrap();
        let (path, query) = target
            .split_once('?')
            .map_or((target, None), |(p, q)| (p, Some(q)));
        let mut method = Method::GET;
        let mut headers = HeaderMap::new();
        for w in words {
            match w.split_once(':') {
                Some((n, v)) => {
                    headers.append(
                        HeaderName::from_bytes(n.as_bytes()).unwrap(),
                        HeaderValue::from_str(v).unwrap(),
                    );
                }
                None => method = Method::from_bytes(w.as_bytes()).unwrap(),
            }
        }
        let got = table.route(&RequestHead {
            host,
            path,
            query,
            method: &method,
            headers: &headers,
            https,
        });
        out.push_str(&format!("{line} -> {}\n", describe(got)));
    }
    want.assert_eq(&out);
}

fn backend(name: &str) -> Value {
    json!({"name": name, "port": 80})
}

#[test]
fn hostnames_paths_and_precedence() {
    let gw = gateway("web", "skiff", json!([http("plain", None)]));
    let routes = [
        route(
            "older",
            "default",
            "2026-01-01T00:00:00Z",
            json!({
            "parentRefs": [{"name": "web"}],
            "hostnames": ["a.test", "*.wild.test"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [backend("a")]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api/"}}], "backendRefs": [backend("b")]},
                {"matches": [{"path": {"type": "Exact", "value": "/api"}}], "backendRefs": [backend("c")]},
            ]}),
        ),
        // Newer: loses the exact tie on a.test "/", wins where it is more specific.
        route(
            "newer",
            "default",
            "2026-02-01T00:00:00Z",
            json!({
            "parentRefs": [{"name": "web"}],
            "hostnames": ["a.test", "deep.wild.test"],
            "rules": [
                {"backendRefs": [backend("b")]},
                {"matches": [{"path": {"value": "/api"}, "method": "POST"}], "backendRefs": [backend("named")]},
                {"matches": [{"path": {"value": "/api"}, "headers": [{"name": "x-env", "value": "canary"}]}],
                 "backendRefs": [backend("empty")]},
                {"matches": [{"path": {"value": "/q"}, "queryParams": [{"name": "v", "value": "2"}]}],
                 "backendRefs": [backend("c")]},
                {"matches": [{"path": {"type": "RegularExpression", "value": "/re.*"}}], "backendRefs": [backend("c")]},
            ]}),
        ),
        route(
            "anyhost",
            "default",
            "2026-03-01T00:00:00Z",
            json!({
            "parentRefs": [{"name": "web"}],
            "rules": [{"matches": [{"path": {"type": "Exact", "value": "/only"}}], "backendRefs": [backend("c")]}]}),
        ),
        route(
            "wrong-class",
            "default",
            "2026-01-01T00:00:00Z",
            json!({
            "parentRefs": [{"name": "elsewhere"}], "hostnames": ["z.test"],
            "rules": [{"backendRefs": [backend("a")]}]}),
        ),
    ];
    let other = gateway("elsewhere", "other", json!([http("plain", None)]));
    check(
        &[gw, other],
        &routes,
        "a.test /
         a.test /x
         a.test /api
         a.test /api/
         a.test /api/v1
         a.test /apiv1
         a.test /api/v1 POST
         a.test /api/v1 x-env:canary
         a.test /api/v1 x-env:stable
         a.test /api/v1 POST x-env:canary
         a.test /q?v=2
         a.test /q?v=3&w=1
         a.test /re1
         x.wild.test /api/v1
         one.two.wild.test /x
         deep.wild.test /x
         wild.test /x
         other.test /only
         other.test /only/not
         z.test /",
        expect![[r#"
            a.test / -> default/a ["10.0.0.1:8080"]
            a.test /x -> default/a ["10.0.0.1:8080"]
            a.test /api -> default/c ["10.0.0.3:8080"]
            a.test /api/ -> default/b ["10.0.0.2:8080"]
            a.test /api/v1 -> default/b ["10.0.0.2:8080"]
            a.test /apiv1 -> default/a ["10.0.0.1:8080"]
            a.test /api/v1 POST -> default/named ["10.0.0.4:8080", "10.0.0.5:8080"]
            a.test /api/v1 x-env:canary -> default/empty []
            a.test /api/v1 x-env:stable -> default/b ["10.0.0.2:8080"]
            a.test /api/v1 POST x-env:canary -> default/named ["10.0.0.4:8080", "10.0.0.5:8080"]
            a.test /q?v=2 -> default/c ["10.0.0.3:8080"]
            a.test /q?v=3&w=1 -> default/a ["10.0.0.1:8080"]
            a.test /re1 -> default/a ["10.0.0.1:8080"]
            x.wild.test /api/v1 -> default/b ["10.0.0.2:8080"]
            one.two.wild.test /x -> default/a ["10.0.0.1:8080"]
            deep.wild.test /x -> default/b ["10.0.0.2:8080"]
            wild.test /x -> 404
            other.test /only -> default/c ["10.0.0.3:8080"]
            other.test /only/not -> 404
            z.test / -> 404
        "#]],
    );
}
