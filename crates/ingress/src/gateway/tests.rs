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

/// `granting` lets HTTPRoutes of `default` use its Service `a`, and Gateways of
/// `default` its Secrets.
fn grants() -> Vec<types::ReferenceGrant> {
    vec![serde_json::from_value(json!({
        "metadata": {"name": "g", "namespace": "granting"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"},
                          {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "default"}],
                 "to": [{"group": "", "kind": "Service", "name": "a"}, {"group": "", "kind": "Secret"}]}}))
    .unwrap()]
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
        &attach::Lookup {
            secret_exists: &|_, name| name == "good-tls",
            service_exists: &|_, name| ["a", "b", "c", "named", "empty"].contains(&name),
            namespace_labels: &|ns| {
                let team = [("team".to_string(), ns.to_string())].into_iter().collect();
                (ns != "unknown").then_some(team)
            },
            grants: &grants().leak().iter().collect::<Vec<_>>(),
        },
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

#[test]
fn listener_hostname_intersection() {
    let cases: &[(Option<&str>, &[&str])] = &[
        (None, &[]),
        (None, &["a.test", "*.b.test"]),
        (Some("a.test"), &[]),
        (Some("a.test"), &["a.test", "b.test"]),
        (
            Some("*.test"),
            &["a.test", "x.y.test", "test", "*.test", "*.y.test"],
        ),
        (Some("a.b.test"), &["*.b.test", "*.test", "*.a.b.test"]),
        (Some("a.test"), &["b.test"]),
        (Some("A.Test"), &["a.TEST"]),
    ];
    let mut out = String::new();
    for (listener, route) in cases {
        let route: Vec<String> = route.iter().map(|s| s.to_string()).collect();
        out.push_str(&format!(
            "{listener:?} {route:?} -> {:?}\n",
            attach::intersect(*listener, &route)
        ));
    }
    expect![[r#"
        None [] -> Some([""])
        None ["a.test", "*.b.test"] -> Some(["a.test", "*.b.test"])
        Some("a.test") [] -> Some(["a.test"])
        Some("a.test") ["a.test", "b.test"] -> Some(["a.test"])
        Some("*.test") ["a.test", "x.y.test", "test", "*.test", "*.y.test"] -> Some(["a.test", "x.y.test", "*.test", "*.y.test"])
        Some("a.b.test") ["*.b.test", "*.test", "*.a.b.test"] -> Some(["a.b.test"])
        Some("a.test") ["b.test"] -> None
        Some("A.Test") ["a.TEST"] -> Some(["a.test"])
    "#]].assert_eq(&out);
}

/// Attachment and status verdicts: which listeners each route attached to and why not.
#[test]
fn attachment_verdicts() {
    let gateways = [
        gateway(
            "web",
            "skiff",
            json!([
                http("plain", None),
                http("only-a", Some("a.test")),
                {"name": "all-ns", "port": 8080, "protocol": "HTTP", "hostname": "shared.test",
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "secure", "port": 443, "protocol": "HTTPS", "hostname": "a.test",
                 "tls": {"certificateRefs": [{"name": "good-tls"}]}},
                {"name": "bad-tls", "port": 443, "protocol": "HTTPS",
                 "tls": {"certificateRefs": [{"name": "missing"}]}},
                {"name": "tcp", "port": 9000, "protocol": "TCP"},
                {"name": "selector", "port": 80, "protocol": "HTTP", "hostname": "sel.test",
                 "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
                     "matchExpressions": [{"key": "team", "operator": "In", "values": ["team", "unknown"]}]}}}},
                {"name": "granted-tls", "port": 443, "protocol": "HTTPS", "hostname": "g.test",
                 "tls": {"certificateRefs": [{"name": "good-tls", "namespace": "granting"}]}},
                {"name": "ungranted-tls", "port": 443, "protocol": "HTTPS", "hostname": "u.test",
                 "tls": {"certificateRefs": [{"name": "good-tls", "namespace": "elsewhere"}]}},
            ]),
        ),
        gateway("theirs", "other", json!([http("plain", None)])),
    ];
    let r = |name: &str, ns: &str, spec: Value| route(name, ns, "2026-01-01T00:00:00Z", spec);
    let routes = [
        r(
            "whole",
            "default",
            json!({"parentRefs": [{"name": "web"}], "hostnames": ["a.test"],
            "rules": [{"backendRefs": [backend("a")]}]}),
        ),
        r(
            "section",
            "default",
            json!({"parentRefs": [{"name": "web", "sectionName": "only-a"}],
            "rules": [{"backendRefs": [backend("a"), {"name": "gone", "port": 80}]}]}),
        ),
        r(
            "no-section",
            "default",
            json!({"parentRefs": [{"name": "web", "sectionName": "nope"}]}),
        ),
        r(
            "by-port",
            "default",
            json!({"parentRefs": [{"name": "web", "port": 8080}]}),
        ),
        r(
            "host-miss",
            "default",
            json!({"parentRefs": [{"name": "web", "sectionName": "only-a"}],
            "hostnames": ["b.test"]}),
        ),
        r(
            "other-ns",
            "team",
            json!({"parentRefs": [{"name": "web", "namespace": "default"}],
            "rules": [{"backendRefs": [{"name": "a", "namespace": "default", "port": 80}]}]}),
        ),
        r(
            "other-ns-section",
            "team",
            json!({"parentRefs": [{"name": "web", "namespace": "default", "sectionName": "plain"}]}),
        ),
        r(
            "theirs",
            "default",
            json!({"parentRefs": [{"name": "theirs"}]}),
        ),
        r(
            "selected",
            "team",
            json!({"parentRefs": [{"name": "web", "namespace": "default", "sectionName": "selector"}]}),
        ),
        r(
            "unselected",
            "unknown",
            json!({"parentRefs": [{"name": "web", "namespace": "default", "sectionName": "selector"}]}),
        ),
        r(
            "granted",
            "default",
            json!({"parentRefs": [{"name": "web", "sectionName": "plain"}],
            "rules": [{"backendRefs": [{"name": "a", "namespace": "granting", "port": 80}]}]}),
        ),
        r(
            "ungranted",
            "default",
            json!({"parentRefs": [{"name": "web", "sectionName": "plain"}],
            "rules": [{"backendRefs": [{"name": "b", "namespace": "granting", "port": 80}]}]}),
        ),
        r(
            "kind",
            "default",
            json!({"parentRefs": [{"name": "web", "sectionName": "plain"}],
            "rules": [{"backendRefs": [{"kind": "Bucket", "group": "example.com", "name": "x"}]}]}),
        ),
    ];
    let classes = classes();
    let att = attached(&classes, &gateways, &routes);
    let mut out = String::new();
    for l in &att.listeners {
        out.push_str(&format!(
            "listener {} https={} accepted={}/{} resolved={}/{} attached={}\n",
            l.listener.name,
            l.https,
            l.accepted.ok,
            l.accepted.reason,
            l.resolved.ok,
            l.resolved.reason,
            l.attached_routes
        ));
    }
    for rs in &att.routes {
        for p in &rs.parents {
            let listeners: Vec<String> = p
                .listeners
                .iter()
                .map(|(i, hosts)| format!("{}{hosts:?}", att.listeners[*i].listener.name))
                .collect();
            out.push_str(&format!(
                "route {} -> {}: accepted={}/{} resolved={}/{} {}\n",
                rs.route.metadata.name.as_deref().unwrap_or(""),
                p.gateway,
                p.accepted.ok,
                p.accepted.reason,
                rs.resolved.ok,
                rs.resolved.reason,
                listeners.join(" ")
            ));
        }
    }
    expect![[r#"
        listener plain https=false accepted=true/Accepted resolved=true/ResolvedRefs attached=4
        listener only-a https=false accepted=true/Accepted resolved=true/ResolvedRefs attached=2
        listener all-ns https=false accepted=true/Accepted resolved=true/ResolvedRefs attached=2
        listener secure https=true accepted=true/Accepted resolved=true/ResolvedRefs attached=1
        listener bad-tls https=true accepted=true/Accepted resolved=false/InvalidCertificateRef attached=1
        listener tcp https=false accepted=false/UnsupportedProtocol resolved=true/ResolvedRefs attached=0
        listener selector https=false accepted=true/Accepted resolved=true/ResolvedRefs attached=2
        listener granted-tls https=true accepted=true/Accepted resolved=true/ResolvedRefs attached=0
        listener ungranted-tls https=true accepted=true/Accepted resolved=false/InvalidCertificateRef attached=0
        route by-port -> default/web: accepted=true/Accepted resolved=true/ResolvedRefs all-ns["shared.test"]
        route granted -> default/web: accepted=true/Accepted resolved=true/ResolvedRefs plain[""]
        route host-miss -> default/web: accepted=false/NoMatchingListenerHostname resolved=true/ResolvedRefs 
        route kind -> default/web: accepted=true/Accepted resolved=false/InvalidKind plain[""]
        route no-section -> default/web: accepted=false/NoMatchingParent resolved=true/ResolvedRefs 
        route section -> default/web: accepted=true/Accepted resolved=false/BackendNotFound only-a["a.test"]
        route ungranted -> default/web: accepted=true/Accepted resolved=false/RefNotPermitted plain[""]
        route whole -> default/web: accepted=true/Accepted resolved=true/ResolvedRefs plain["a.test"] only-a["a.test"] secure["a.test"] bad-tls["a.test"]
        route other-ns -> default/web: accepted=true/Accepted resolved=false/RefNotPermitted all-ns["shared.test"] selector["sel.test"]
        route other-ns-section -> default/web: accepted=false/NotAllowedByListeners resolved=true/ResolvedRefs 
        route selected -> default/web: accepted=true/Accepted resolved=true/ResolvedRefs selector["sel.test"]
        route unselected -> default/web: accepted=false/NotAllowedByListeners resolved=true/ResolvedRefs 
    "#]].assert_eq(&out);
}

#[test]
fn weights_filters_and_schemes() {
    let gw = gateway(
        "web",
        "skiff",
        json!([
            http("plain", Some("*.test")),
            {"name": "secure", "port": 443, "protocol": "HTTPS", "hostname": "s.test",
             "tls": {"certificateRefs": [{"name": "good-tls"}]}},
        ]),
    );
    let routes = [
        route(
            "split",
            "default",
            "2026-01-01T00:00:00Z",
            json!({
            "parentRefs": [{"name": "web", "sectionName": "plain"}], "hostnames": ["w.test"],
            "rules": [
                {"backendRefs": [{"name": "a", "port": 80, "weight": 3}, {"name": "b", "port": 80, "weight": 1},
                                 {"name": "c", "port": 80, "weight": 0}]},
                {"matches": [{"path": {"value": "/none"}}],
                 "backendRefs": [{"name": "a", "port": 80, "weight": 0}]},
                {"matches": [{"path": {"value": "/bad"}}],
                 "backendRefs": [{"name": "a", "port": 80, "namespace": "elsewhere"}]},
                {"matches": [{"path": {"value": "/empty"}}]},
                {"matches": [{"path": {"value": "/headers"}}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
                     "set": [{"name": "x-set", "value": "1"}], "add": [{"name": "x-add", "value": "2"}],
                     "remove": ["x-drop"]}}],
                 "backendRefs": [backend("a")]},
                {"matches": [{"path": {"value": "/moved"}}],
                 "filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "hostname": "s.test", "statusCode": 301}}]},
                {"matches": [{"path": {"value": "/mirror"}}],
                 "filters": [{"type": "RequestMirror", "requestMirror": {}}], "backendRefs": [backend("a")]},
            ]}),
        ),
        route(
            "secure",
            "default",
            "2026-01-01T00:00:00Z",
            json!({
            "parentRefs": [{"name": "web", "sectionName": "secure"}],
            "rules": [{"backendRefs": [backend("c")]}]}),
        ),
    ];
    check(
        &[gw],
        &routes,
        "w.test /
         w.test /none
         w.test /bad
         w.test /empty
         w.test /headers
         w.test /moved
         w.test /mirror
         https w.test /
         s.test /
         https s.test /",
        expect![[r#"
            w.test / -> default/a ["10.0.0.1:8080"]*3 + default/b ["10.0.0.2:8080"]
            w.test /none -> 500 every backend has weight 0
            w.test /bad -> 500 no valid backend: backend elsewhere/a: no ReferenceGrant in elsewhere lets HTTPRoutes of default refer to it
            w.test /empty -> 500 the rule has no backendRefs
            w.test /headers -> default/a ["10.0.0.1:8080"] + headers HeaderModifier { set: [("x-set", "1")], add: [("x-add", "2")], remove: ["x-drop"] }
            w.test /moved -> redirect Redirect { scheme: Some("https"), hostname: Some("s.test"), port: None, status: 301 }
            w.test /mirror -> 500 filter RequestMirror is not supported
            https w.test / -> 404
            s.test / -> 404
            https s.test / -> default/c ["10.0.0.3:8080"]
        "#]],
    );
}

#[test]
fn weighted_pick_spreads_by_weight() {
    let (services, slices) = fixtures();
    let mut resolver = Resolver::new(&services, &slices);
    let mut out = String::new();
    for weights in [[1u64, 1], [3, 1], [1, 0], [2, 3]] {
        let backends = ["a", "b"]
            .iter()
            .zip(weights)
            .map(|(name, w)| {
                let b = k8s_openapi::api::networking::v1::IngressBackend {
                    service: Some(k8s_openapi::api::networking::v1::IngressServiceBackend {
                        name: name.to_string(),
                        port: Some(k8s_openapi::api::networking::v1::ServiceBackendPort {
                            number: Some(80),
                            name: None,
                        }),
                    }),
                    resource: None,
                };
                (resolver.resolve("default", &b), w)
            })
            .collect();
        let f = crate::routes::Forward::weighted(backends, Default::default());
        let picks: String = (0..10)
            .map(|_| match f.pick() {
                Some(t) => t.service.trim_start_matches("default/").to_string(),
                None => "-".into(),
            })
            .collect();
        out.push_str(&format!("{weights:?}: {picks}\n"));
    }
    expect![[r#"
        [1, 1]: ababababab
        [3, 1]: abaaabaaab
        [1, 0]: aaaaaaaaaa
        [2, 3]: ababbababb
    "#]]
    .assert_eq(&out);
}
