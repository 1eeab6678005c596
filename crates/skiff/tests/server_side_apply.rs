//! Server-side apply with real kubectl: managed fields per manager, upstream's conflict
//! and its resolution with --force-conflicts, the move from client-side apply, field
//! ownership of ordinary writes, and bad apply requests.

use std::path::Path;

use serde_json::Value;
use testkit::{Kubectl, Server};

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: IMAGE, ports: [{containerPort: 80}]}
"#;

fn deployment(replicas: u32, image: &str) -> String {
    DEPLOYMENT
        .replace("REPLICAS", &replicas.to_string())
        .replace("IMAGE", image)
}

fn managed(k: &Kubectl, what: &[&str]) -> Vec<Value> {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
    let obj: Value = serde_json::from_str(&k.ok(&args)).expect("json");
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(entries: &'a [Value], manager: &str, operation: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

#[test]
fn two_appliers_conflict_and_force_moves_ownership() {
    let s = server();
    let k = s.kubectl();
    let out = k.ok_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(2, "nginx"),
    );
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let entries = managed(&k, &["deployment", "web"]);
    let mine = entry(&entries, "kubectl", "Apply").expect("kubectl's Apply entry");
    assert_eq!(mine["apiVersion"], "apps/v1");
    assert_eq!(mine["fieldsType"], "FieldsV1");
    let fields = &mine["fieldsV1"]["f:spec"];
    assert!(fields["f:replicas"].is_object(), "{mine}");
    // Upstream's keys: selectors are atomic, container ports keyed by port and protocol.
    assert_eq!(fields["f:selector"], serde_json::json!({}), "{mine}");
    let container = &fields["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
    assert!(
        container["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object(),
        "{mine}"
    );
    // The controller's writes are recorded under its own name.
    assert!(
        entry(&entries, "kube-controller-manager", "Update").is_some(),
        "{entries:?}"
    );

    // A second applier changing replicas conflicts, with upstream's message.
    let out = k.run_stdin(
        &["apply", "--server-side", "--field-manager=ci", "-f", "-"],
        &deployment(3, "nginx"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#),
        "{err}"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );

    // Applying the same value shares the field; --force-conflicts takes it.
    k.ok_stdin(
        &["apply", "--server-side", "--field-manager=ci", "-f", "-"],
        &deployment(2, "nginx"),
    );
    k.ok_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=ci",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &deployment(4, "nginx"),
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    let entries = managed(&k, &["deployment", "web"]);
    let ci = entry(&entries, "ci", "Apply").expect("ci's entry");
    assert!(ci["fieldsV1"]["f:spec"]["f:replicas"].is_object(), "{ci}");
    let kubectl = entry(&entries, "kubectl", "Apply").expect("kubectl's entry");
    assert!(
        kubectl["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "{kubectl}"
    );

    // kubectl's shown managed fields are the same document.
    let yaml = k.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(
        yaml.contains("manager: ci") && yaml.contains("operation: Apply"),
        "{yaml}"
    );
}

#[test]
fn dropping_a_field_from_the_applied_config_removes_it() {
    let s = server();
    let k = s.kubectl();
    let cm = |data: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{{data}}}\n")
    };
    k.ok_stdin(
        &["apply", "--server-side", "-f", "-"],
        &cm("a: '1', b: '2'"),
    );
    // Another manager's field survives the first applier dropping everything it no longer lists.
    k.ok(&[
        "patch",
        "cm",
        "c",
        "--type=merge",
        "-p",
        r#"{"data":{"z":"9"}}"#,
    ]);
    k.ok_stdin(&["apply", "--server-side", "-f", "-"], &cm("a: '1'"));
    let data = k.ok(&["get", "cm", "c", "-o", "jsonpath={.data}"]);
    assert_eq!(data, r#"{"a":"1","z":"9"}"#);
    let entries = managed(&k, &["cm", "c"]);
    let patcher = entry(&entries, "kubectl-patch", "Update").expect("the patch's entry");
    assert!(
        patcher["fieldsV1"]["f:data"]["f:z"].is_object(),
        "{patcher}"
    );
}

#[test]
fn client_side_apply_then_server_side_apply() {
    let s = server();
    let k = s.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], &deployment(2, "nginx"));
    let entries = managed(&k, &["deployment", "web"]);
    assert!(
        entry(&entries, "kubectl-client-side-apply", "Update").is_some(),
        "{entries:?}"
    );
    // kubectl takes over its own client-side-applied fields without a conflict.
    k.ok_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(3, "nginx:2"),
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
        ]),
        "3 nginx:2"
    );
    // Another manager still conflicts with kubectl's fields.
    let out = k.run_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        &deployment(5, "nginx:2"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflict with \"kubectl"));
}

#[test]
fn bad_apply_requests_are_refused_and_change_nothing() {
    let s = server();
    let k = s.kubectl();
    k.ok_stdin(
        &["apply", "--server-side", "-f", "-"],
        &deployment(2, "nginx"),
    );
    let url = "/apis/apps/v1/namespaces/default/deployments/web";
    let cases: &[(&str, &str, &str)] = &[
        // No field manager.
        (url, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"}}", "fieldManager is required for apply requests"),
        // A name that is not the URL's.
        ("FM", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"other\"}}", "does not match the name on the URL"),
        // managedFields may not be applied.
        ("FM", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"managedFields\":[{\"manager\":\"x\"}]}}", "metadata.managedFields must be nil"),
    ];
    for (target, body, want) in cases {
        let path = if *target == "FM" {
            format!("{url}?fieldManager=tester")
        } else {
            target.to_string()
        };
        let out = raw_apply(&k, &path, body);
        assert!(out.contains(want), "{body}: {out}");
    }
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );
}

/// PATCH with `application/apply-patch+yaml` through `kubectl --raw`-like plumbing: kubectl
/// has no raw PATCH, so this speaks HTTPS with the admin credentials via curl.
fn raw_apply(k: &Kubectl, path: &str, body: &str) -> String {
    let kc: Value = serde_json::from_str(&k.ok(&["config", "view", "--raw", "-o", "json"]))
        .expect("kubeconfig");
    let server = kc["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("server")
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let b64 = |v: &Value| -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 field"))
            .expect("base64")
    };
    let user = &kc["users"][0]["user"];
    let write = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write pem");
        p
    };
    let ca = write(
        "ca.pem",
        b64(&kc["clusters"][0]["cluster"]["certificate-authority-data"]),
    );
    let cert = write("cert.pem", b64(&user["client-certificate-data"]));
    let key = write("key.pem", b64(&user["client-key-data"]));
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/apply-patch+yaml",
            "--data-binary",
            body,
        ])
        .arg("--cacert")
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(format!("{server}{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
