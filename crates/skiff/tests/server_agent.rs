//! `skiff server` is a working single-node cluster out of the box: it runs its own node
//! agent (and containerd), so the machine is a Ready node and a pod runs as soon as the
//! server is up.

use std::path::Path;
use std::time::Duration;

use testkit::eventually;
use testkit::node::{http_get, NodeHost};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

#[test]
fn server_runs_its_own_node() {
    let mut host = NodeHost::new();
    let image = host.image();
    let prefix = host.pod_ip_prefix();
    let server = host.server_with_agent(bin(), "solo", &[]);
    let kubectl = server.kubectl();
    let nodes = kubectl.ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.trim(), "node/solo");
    kubectl.ok(&[
        "run",
        "web",
        &format!("--image={image}"),
        "--",
        "serve-http",
        "--port",
        "8080",
    ]);
    let ip = eventually(
        "the pod Running and Ready",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "web",
                "-o",
                "jsonpath={.status.phase} {.status.conditions[?(@.type==\"Ready\")].status} {.status.podIP}",
            ])
        },
        |s| s.starts_with("Running True ") && s.contains(&prefix),
    );
    let ip = ip.rsplit(' ').next().unwrap_or_default().to_string();
    eventually(
        "the pod to answer HTTP",
        Duration::from_secs(20),
        || http_get(&ip, 8080, "/healthz"),
        |r| r.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 200")),
    );
    kubectl.ok(&["delete", "pod", "web"]);
}
