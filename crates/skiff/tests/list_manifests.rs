//! `kubectl get -o yaml` prints a `kind: List`; applying such a file again is everyday use.
//! kubectl validates Lists on the client side against `/openapi/v2` in protobuf form.

use std::path::Path;

use testkit::{kubectl_system, Server};

fn round_trip(server: &Server, kubectl: &Path) {
    let k = server.kubectl_with(kubectl);
    let list = "apiVersion: v1\nkind: List\nitems:\n\
                - apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: l1}\n  data: {a: b}\n\
                - apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: l2}\n  spec:\n    selector: {matchLabels: {app: l2}}\n    template:\n      metadata: {labels: {app: l2}}\n      spec: {containers: [{name: app, image: nginx:1}]}\n";
    let out = k.ok_stdin(&["apply", "-f", "-"], list);
    assert!(out.contains("configmap/l1 created"), "{out}");
    assert!(out.contains("deployment.apps/l2 created"), "{out}");
    // The dump carries resourceVersions, so wait for the deployment controller's status
    // writes to settle first (with a moving object, a re-apply is a 409 on any cluster).
    let rv = || {
        k.ok(&[
            "get",
            "deployment/l2",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
    };
    for _ in 0..40 {
        let before = rv();
        std::thread::sleep(std::time::Duration::from_millis(750));
        if rv() == before {
            break;
        }
    }
    // Re-apply what the server prints: a List with status, defaults and server fields.
    let dumped = k.ok(&["get", "configmap/l1", "deployment/l2", "-o", "yaml"]);
    assert!(dumped.contains("kind: List"), "{dumped}");
    let out = k.ok_stdin(&["apply", "-f", "-"], &dumped);
    assert!(
        out.contains("configmap/l1 unchanged") || out.contains("configmap/l1 configured"),
        "{out}"
    );
    // Client-side validation against the schema still rejects a bad field.
    let bad = list
        .replace("data: {a: b}", "data: {a: b}\n  bogusField: 1")
        .replace("l1", "l3");
    let out = k.run_stdin(&["apply", "-f", "-"], &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogusField"), "{err}");
}

#[test]
fn list_manifests_apply_with_kubectl_1_37() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    round_trip(&s, &testkit::kubectl_latest());
}

#[test]
fn list_manifests_apply_with_kubectl_1_32() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    round_trip(&s, &kubectl_system());
}
