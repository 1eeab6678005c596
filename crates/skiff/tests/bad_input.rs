//! Bad requests get upstream's status codes and Status bodies, and change nothing.

use std::path::Path;

use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};
use testkit::Server;

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

async fn client(s: &Server) -> Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("read admin kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig to config");
    Client::try_from(cfg).expect("client")
}

struct Resp {
    code: u16,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("HTTP {}: body is not JSON ({e}): {}", self.code, self.body))
    }

    /// Asserts the code and the upstream Status shape; returns the Status.
    fn status(&self, code: u16, reason: &str) -> Value {
        assert_eq!(self.code, code, "HTTP status; body: {}", self.body);
        let v = self.json();
        assert_eq!(v["kind"], "Status", "{v}");
        assert_eq!(v["apiVersion"], "v1", "{v}");
        assert_eq!(v["status"], "Failure", "{v}");
        assert_eq!(v["reason"], reason, "{v}");
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].is_string(), "{v}");
        v
    }
}

/// One raw request; the body goes as is, with exactly the given Content-Type.
async fn call(c: &Client, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
    let mut req = kube::core::Request::new("/")
        .create(&PostParams::default(), body)
        .expect("request");
    *req.method_mut() = method.parse().expect("method");
    *req.uri_mut() = path.parse().expect("uri");
    req.headers_mut()
        .insert("content-type", content_type.parse().expect("content type"));
    req.headers_mut()
        .insert("accept", "application/json".parse().expect("accept"));
    let resp = c
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect_bytes().await.expect("body");
    Resp {
        code,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(c: &Client, path: &str) -> Value {
    let r = call(c, "GET", path, "application/json", Vec::new()).await;
    assert_eq!(r.code, 200, "GET {path}: {}", r.body);
    r.json()
}

async fn post_json(c: &Client, path: &str, obj: &Value) -> Resp {
    call(
        c,
        "POST",
        path,
        "application/json",
        obj.to_string().into_bytes(),
    )
    .await
}

async fn count(c: &Client, list_path: &str) -> usize {
    get(c, list_path).await["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| panic!("{list_path}: no items"))
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn causes(st: &Value) -> Vec<(String, String)> {
    st["details"]["causes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["field"].as_str().unwrap_or_default().to_owned(),
                        c["reason"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pod(name: &str, containers: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_400() {
    let s = server();
    let c = client(&s).await;
    let before = count(&c, CMS).await;

    let r = call(
        &c,
        "POST",
        CMS,
        "application/yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n  data: : :\n".to_vec(),
    )
    .await;
    r.status(400, "BadRequest");

    let r = call(
        &c,
        "POST",
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","#.to_vec(),
    )
    .await;
    r.status(400, "BadRequest");

    // Well-formed JSON whose field has the wrong type.
    let r = post_json(
        &c,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": "not a map"}),
    )
    .await;
    r.status(400, "BadRequest");

    // The same object as valid YAML is accepted: the 400s above are about syntax, not YAML.
    let r = call(
        &c,
        "POST",
        CMS,
        "application/yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\ndata:\n  k: v\n".to_vec(),
    )
    .await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(count(&c, CMS).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_name_is_422_with_causes() {
    let s = server();
    let c = client(&s).await;
    let before = count(&c, CMS).await;
    let r = post_json(
        &c,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}, "data": {"k": "v"}}),
    )
    .await;
    let st = r.status(422, "Invalid");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(
            r#"ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"#
        ),
        "{msg}"
    );
    assert_eq!(st["details"]["name"], "Bad_Name", "{st}");
    assert_eq!(st["details"]["kind"], "ConfigMap", "{st}");
    assert_eq!(
        causes(&st),
        [("metadata.name".to_owned(), "FieldValueInvalid".to_owned())]
    );
    assert!(
        st["details"]["causes"][0]["message"].as_str().is_some_and(
            |m| m.starts_with(r#"Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#)
        ),
        "{st}"
    );
    assert_eq!(count(&c, CMS).await, before);
    let r = call(
        &c,
        "GET",
        &format!("{CMS}/Bad_Name"),
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(r.code, 404, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_without_containers_is_422() {
    let s = server();
    let c = client(&s).await;
    let before = count(&c, PODS).await;
    let st = post_json(&c, PODS, &pod("nocontainers", json!([])))
        .await
        .status(422, "Invalid");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(r#"Pod "nocontainers" is invalid: "#),
        "{msg}"
    );
    assert!(msg.contains("spec.containers: Required value"), "{msg}");
    assert!(
        causes(&st).contains(&(
            "spec.containers".to_owned(),
            "FieldValueRequired".to_owned()
        )),
        "{st}"
    );
    assert_eq!(st["details"]["kind"], "Pod");
    assert_eq!(count(&c, PODS).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_container_names_are_422() {
    let s = server();
    let c = client(&s).await;
    let before = count(&c, PODS).await;
    let st = post_json(
        &c,
        PODS,
        &pod(
            "dup",
            json!([{"name": "app", "image": "nginx:1.27"}, {"name": "app", "image": "busybox:1.36"}]),
        ),
    )
    .await
    .status(422, "Invalid");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(r#"spec.containers[1].name: Duplicate value: "app""#),
        "{msg}"
    );
    assert!(
        causes(&st).contains(&(
            "spec.containers[1].name".to_owned(),
            "FieldValueDuplicate".to_owned()
        )),
        "{st}"
    );
    assert_eq!(count(&c, PODS).await, before);
}

fn deployment(app: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_selector_change_is_422() {
    let s = server();
    let c = client(&s).await;
    let r = post_json(&c, DEPLOYS, &deployment("web")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let stored = get(&c, &format!("{DEPLOYS}/web")).await;

    let mut changed = deployment("other");
    changed["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"].clone();
    let r = call(
        &c,
        "PUT",
        &format!("{DEPLOYS}/web"),
        "application/json",
        changed.to_string().into_bytes(),
    )
    .await;
    let st = r.status(422, "Invalid");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with(r#"Deployment.apps "web" is invalid: "#),
        "{msg}"
    );
    assert!(msg.contains("spec.selector: Invalid value: "), "{msg}");
    assert!(msg.contains("field is immutable"), "{msg}");
    assert!(
        causes(&st).contains(&("spec.selector".to_owned(), "FieldValueInvalid".to_owned())),
        "{st}"
    );
    assert_eq!(st["details"]["group"], "apps", "{st}");
    assert_eq!(st["details"]["kind"], "Deployment", "{st}");

    let after = get(&c, &format!("{DEPLOYS}/web")).await;
    // The deployment controller may write status meanwhile; the refused request itself
    // changed nothing of the object's spec.
    assert_eq!(
        after["metadata"]["generation"],
        stored["metadata"]["generation"]
    );
    assert_eq!(after["spec"], stored["spec"]);
    assert_eq!(
        after["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );

    // A JSON patch of the selector alone is refused the same way.
    let r = call(
        &c,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        "application/json-patch+json",
        br#"[{"op":"replace","path":"/spec/selector/matchLabels/app","value":"x"}]"#.to_vec(),
    )
    .await;
    let st = r.status(422, "Invalid");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or_default()
            .contains("field is immutable"),
        "{st}"
    );
    let after = get(&c, &format!("{DEPLOYS}/web")).await;
    // The deployment controller may write status meanwhile; the refused request itself
    // changed nothing of the object's spec.
    assert_eq!(
        after["metadata"]["generation"],
        stored["metadata"]["generation"]
    );
    assert_eq!(after["spec"], stored["spec"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_resource_version_is_409() {
    let s = server();
    let c = client(&s).await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "occ"}, "data": {"v": "a"}});
    assert_eq!(post_json(&c, CMS, &cm).await.code, 201);
    let stale = get(&c, &format!("{CMS}/occ")).await;

    let mut b = stale.clone();
    b["data"]["v"] = json!("b");
    let r = call(
        &c,
        "PUT",
        &format!("{CMS}/occ"),
        "application/json",
        b.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let current = get(&c, &format!("{CMS}/occ")).await;

    let mut x = stale.clone();
    x["data"]["v"] = json!("x");
    let r = call(
        &c,
        "PUT",
        &format!("{CMS}/occ"),
        "application/json",
        x.to_string().into_bytes(),
    )
    .await;
    let st = r.status(409, "Conflict");
    assert_eq!(
        st["message"],
        r#"Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again"#
    );
    assert_eq!(st["details"]["name"], "occ", "{st}");
    assert_eq!(st["details"]["kind"], "configmaps", "{st}");
    assert_eq!(get(&c, &format!("{CMS}/occ")).await, current, "unchanged");

    // Creating it again: 409 AlreadyExists.
    let st = post_json(&c, CMS, &cm).await.status(409, "AlreadyExists");
    assert_eq!(st["message"], r#"configmaps "occ" already exists"#);
    assert_eq!(get(&c, &format!("{CMS}/occ")).await, current, "unchanged");
}

/// Headers beyond upstream's 1 MiB are refused with 431 and the server carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_431() {
    let s = server();
    let c = client(&s).await;
    let mut req = kube::core::Request::new("/")
        .create(&PostParams::default(), Vec::new())
        .expect("request");
    *req.method_mut() = http::Method::GET;
    *req.uri_mut() = CMS.parse().expect("uri");
    req.headers_mut().insert(
        "x-padding",
        "x".repeat(2 << 20).parse().expect("header value"),
    );
    match c.send(req.map(kube::client::Body::from)).await {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 431),
        // The server closes the connection after its 431; when it does so while
        // the client is still writing, the client sees the close (a broken pipe or a
        // reset) instead of the response. Anything else is a failure.
        Err(e) => {
            let debug = format!("{e:?}");
            assert!(
                ["431", "connection", "BrokenPipe", "ConnectionReset"]
                    .iter()
                    .any(|m| debug.contains(m) || e.to_string().contains(m)),
                "{e:?}"
            )
        }
    }
    get(&c, CMS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413() {
    let s = server();
    let c = client(&s).await;
    let before = count(&c, CMS).await;
    let big = "x".repeat(4 * 1024 * 1024);
    let r = post_json(
        &c,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": big}}),
    )
    .await;
    r.status(413, "RequestEntityTooLarge");
    assert_eq!(count(&c, CMS).await, before);
    let r = call(
        &c,
        "GET",
        &format!("{CMS}/big"),
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(r.code, 404, "{}", r.body);
    // The server still serves requests on a fresh connection afterwards.
    let r = post_json(
        &c,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "small"}, "data": {"k": "v"}}),
    )
    .await;
    assert_eq!(r.code, 201, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415() {
    let s = server();
    let c = client(&s).await;
    let target = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "target"}, "data": {"k": "v"}});
    assert_eq!(post_json(&c, CMS, &target).await.code, 201);
    let stored = get(&c, &format!("{CMS}/target")).await;
    let before = count(&c, CMS).await;
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}});
    let r = call(&c, "POST", CMS, "text/plain", body.to_string().into_bytes()).await;
    r.status(415, "UnsupportedMediaType");
    // A patch with a non-patch media type is refused too.
    let r = call(
        &c,
        "PATCH",
        &format!("{CMS}/target"),
        "application/json",
        br#"{"data":{"x":"y"}}"#.to_vec(),
    )
    .await;
    r.status(415, "UnsupportedMediaType");
    assert_eq!(count(&c, CMS).await, before);
    assert_eq!(get(&c, &format!("{CMS}/target")).await, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404() {
    let s = server();
    let c = client(&s).await;
    for path in [
        "/api/v1/namespaces/default/widgets",
        "/api/v1/widgets",
        "/apis/example.com/v1/widgets",
        "/apis/apps/v1/namespaces/default/widgets",
        "/nope",
    ] {
        let r = call(&c, "GET", path, "application/json", Vec::new()).await;
        assert_eq!(r.code, 404, "GET {path}: {}", r.body);
        if path.starts_with("/api") {
            let st = r.status(404, "NotFound");
            assert_eq!(
                st["message"], "the server could not find the requested resource",
                "{path}"
            );
        }
    }
    let r = call(
        &c,
        "GET",
        &format!("{CMS}/nope"),
        "application/json",
        Vec::new(),
    )
    .await;
    let st = r.status(404, "NotFound");
    assert_eq!(st["message"], r#"configmaps "nope" not found"#);
    assert_eq!(st["details"]["name"], "nope");
    assert_eq!(st["details"]["kind"], "configmaps");

    // Creating into a namespace that does not exist.
    let r = post_json(
        &c,
        "/api/v1/namespaces/nope/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
    )
    .await;
    let st = r.status(404, "NotFound");
    assert_eq!(st["message"], r#"namespaces "nope" not found"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_name_and_namespace_are_400() {
    let s = server();
    let c = client(&s).await;
    let before = count(&c, CMS).await;
    let r = post_json(
        &c,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}}),
    )
    .await;
    let st = r.status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );
    assert_eq!(count(&c, CMS).await, before);

    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real"}});
    assert_eq!(post_json(&c, CMS, &cm).await.code, 201);
    let stored = get(&c, &format!("{CMS}/real")).await;
    let mut other = stored.clone();
    other["metadata"]["name"] = json!("other");
    let r = call(
        &c,
        "PUT",
        &format!("{CMS}/real"),
        "application/json",
        other.to_string().into_bytes(),
    )
    .await;
    let st = r.status(400, "BadRequest");
    assert_eq!(
        st["message"],
        "the name of the object (other) does not match the name on the URL (real)"
    );
    assert_eq!(get(&c, &format!("{CMS}/real")).await, stored);
}

/// The same through kubectl (HTTP/2): the 413 Status reaches the user.
#[test]
fn oversized_body_via_kubectl_is_413() {
    let s = server();
    let k = s.kubectl();
    let path = s.data_dir().join("big.json");
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "default"},
        "data": {"k": "x".repeat(4 * 1024 * 1024)}});
    std::fs::write(&path, big.to_string()).expect("write big.json");
    let err = k.fails(&["create", "-f", &path.display().to_string()]);
    assert!(
        err.contains("Error from server (RequestEntityTooLarge)")
            && err.contains("Request entity too large: limit is 3145728"),
        "{err}"
    );
    let err = k.fails(&["get", "cm", "big", "-n", "default"]);
    assert!(err.contains("NotFound"), "{err}");
}

/// A body that repeats a key: `fieldValidation=Strict` refuses it naming the field (with the
/// unknown ones), `Warn` stores it (last value wins, as JSON decoders do) with a warning.
#[test]
fn duplicate_fields_are_refused_with_strict_and_warned_about_with_warn() {
    let s = server();
    let k = s.kubectl();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cm.json");
    std::fs::write(
        &file,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup"},"data":{"a":"1","a":"2"},"extra":1}"#,
    )
    .expect("write body");
    let file = file.to_str().expect("utf-8 path");
    let out = k.run(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        "-f",
        file,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"strict decoding error: unknown field "extra", duplicate field "metadata.name", duplicate field "data.a""#),
        "{err}"
    );
    assert!(!k.run(&["get", "cm", "dup"]).status.success());
    let out = k.run(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
        "-f",
        file,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(r#"duplicate field "data.a""#), "{err}");
    assert_eq!(k.ok(&["get", "cm", "dup", "-o", "jsonpath={.data.a}"]), "2");
}
