//! Watches filtered by fields and labels, as kubelets and controllers use them: an object
//! that moves into the selection arrives as ADDED, one that leaves it as DELETED.

use std::path::Path;
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};
use testkit::Server;

async fn client(s: &Server) -> Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(cfg).expect("client")
}

fn request(method: &str, uri: &str, body: Option<Value>, ct: &str) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(
            body.map(|b| serde_json::to_vec(&b).expect("json"))
                .unwrap_or_default(),
        )
        .expect("request")
}

/// POSTs a Binding of pod `name` (under `pods`) to `node`.
async fn bind(c: &Client, pods: &str, name: &str, node: &str) -> Result<String, kube::Error> {
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": node}});
    c.request_text(request(
        "POST",
        &format!("{pods}/{name}/binding"),
        Some(binding),
        "application/json",
    ))
    .await
}

fn pod(name: &str, node: Option<&str>, app: &str) -> Value {
    // Addressed to a scheduler that does not exist: the built-in one would report the pod
    // unschedulable (no nodes here) and add events the watches below do not expect.
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
                       "spec": {"schedulerName": "test-none", "containers": [{"name": "c", "image": "busybox"}]}});
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    p
}

/// Collects `(type, name)` of the first `n` events of a watch.
async fn events(c: &Client, uri: &str, n: usize) -> Vec<(String, String)> {
    let stream = c
        .request_stream(request("GET", uri, None, "application/json"))
        .await
        .expect("watch");
    let mut lines = stream.lines();
    let mut out = Vec::new();
    while out.len() < n {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("line");
        let v: Value = serde_json::from_str(&line).expect("event json");
        let name = v["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        out.push((v["type"].as_str().unwrap_or("").to_string(), name));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_name_and_label_selected_watches() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let c = client(&s).await;
    let pods = "/api/v1/namespaces/default/pods";
    let list: Value = c
        .request(request("GET", pods, None, "application/json"))
        .await
        .expect("list");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();

    let by_node = {
        let c = c.clone();
        let uri =
            format!("{pods}?watch=true&resourceVersion={rv}&fieldSelector=spec.nodeName%3Dnode-a");
        tokio::spawn(async move { events(&c, &uri, 4).await })
    };
    let by_label = {
        let c = c.clone();
        let uri = format!("{pods}?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb");
        tokio::spawn(async move { events(&c, &uri, 2).await })
    };

    for p in [
        pod("on-a", Some("node-a"), "web"),
        pod("on-b", Some("node-b"), "db"),
        pod("unbound", None, "db"),
    ] {
        c.request_text(request("POST", pods, Some(p), "application/json"))
            .await
            .expect("create");
    }
    // Binding moves `unbound` onto node-a: ADDED for the node-a watch.
    bind(&c, pods, "unbound", "node-a").await.expect("bind");
    // A second binding is refused: the pod is bound (whether its first read came from the
    // watch cache or the store).
    let err = bind(&c, pods, "unbound", "node-b")
        .await
        .expect_err("second bind");
    let err = format!("{err:?}");
    assert!(
        err.contains("409")
            && err.contains(r#"pod unbound is already assigned to node \"node-a\""#),
        "{err}"
    );
    // Relabelling `on-a` takes it out of the app=web watch: DELETED there.
    c.request_text(request(
        "PATCH",
        &format!("{pods}/on-a"),
        Some(json!({"metadata": {"labels": {"app": "other"}}})),
        "application/merge-patch+json",
    ))
    .await
    .expect("relabel");
    // And deleting it ends it for the node-a watch.
    c.request_text(request(
        "DELETE",
        &format!("{pods}/on-a?gracePeriodSeconds=0"),
        None,
        "application/json",
    ))
    .await
    .expect("delete");
    // Binding the deleted pod: 404, also while the watch cache may still hold it.
    let err = bind(&c, pods, "on-a", "node-b")
        .await
        .expect_err("binding a deleted pod");
    let err = format!("{err:?}");
    assert!(err.contains("404") && err.contains("NotFound"), "{err}");

    let got = by_node.await.expect("task");
    assert_eq!(
        got,
        vec![
            ("ADDED".into(), "on-a".into()),
            ("ADDED".into(), "unbound".into()),
            ("MODIFIED".into(), "on-a".into()),
            ("DELETED".into(), "on-a".into()),
        ],
        "node-a watch"
    );
    let got = by_label.await.expect("task");
    assert_eq!(
        got,
        vec![
            ("ADDED".into(), "on-a".into()),
            ("DELETED".into(), "on-a".into())
        ],
        "app=web watch"
    );
}
