//! Deleting a namespace deletes what is in it and then the namespace (the namespace
//! controller, driven through the API).

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::Server;

#[test]
fn deleting_a_namespace_removes_its_content_and_then_itself() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok(&["create", "namespace", "doomed"]);
    k.ok(&[
        "-n",
        "doomed",
        "create",
        "configmap",
        "a",
        "--from-literal=k=v",
    ]);
    k.ok(&[
        "-n",
        "doomed",
        "create",
        "deployment",
        "d",
        "--image=nginx:1",
    ]);
    let started = Instant::now();
    k.ok(&["delete", "namespace", "doomed", "--timeout=30s"]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let out = k.run(&["get", "namespace", "doomed"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("namespaces \"doomed\" not found"));
    // The content went first: nothing is left under the namespace's keys.
    let cms = k.ok(&["get", "configmaps", "-A", "-o", "name"]);
    assert!(!cms.contains("configmap/a"), "{cms}");
    let deploys = k.ok(&["get", "deployments", "-A", "-o", "name"]);
    assert!(!deploys.contains("deployment.apps/d"), "{deploys}");
}

#[test]
fn an_object_with_a_finalizer_holds_its_namespace_until_released() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok(&["create", "namespace", "held"]);
    k.ok_stdin(
        &["-n", "held", "create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pinned, finalizers: [example.com/hold]}\n",
    );
    k.ok(&["delete", "namespace", "held", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(2));
    let phase = k.ok(&["get", "namespace", "held", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");
    let err = k.fails(&["-n", "held", "create", "configmap", "late"]);
    assert!(err.contains("because it is being terminated"), "{err}");
    k.ok(&[
        "-n",
        "held",
        "patch",
        "configmap",
        "pinned",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    k.ok(&["wait", "--for=delete", "namespace/held", "--timeout=30s"]);
}
