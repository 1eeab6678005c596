//! `skiff server --datastore-endpoint` on a real etcd (Debian's `etcd-server`, started by
//! the test on loopback): kubectl works as on SQLite, etcdctl shows upstream's key layout,
//! and with etcd down `/readyz` says why, writes fail fast with 503/504, `/livez` stays up,
//! and service resumes once etcd is back.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::etcd::EtcdCluster;
use testkit::{eventually, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// `curl -k` against a health path: (status, body).
fn health(s: &Server, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg(format!("{}{path}", s.url()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn kubectl_on_etcd() {
    let etcd = EtcdCluster::start(1);
    let s = Server::start_with(bin(), &["--datastore-endpoint", &etcd.endpoints()]);
    let k = s.kubectl();
    k.ok(&["create", "configmap", "cm1", "--from-literal=a=b"]);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=registry.invalid/web:1",
    ]);
    assert_eq!(
        k.ok(&["get", "configmap", "cm1", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    // The deployment controller's ReplicaSet shows the controllers run on etcd too.
    eventually(
        "the deployment's ReplicaSet",
        Duration::from_secs(30),
        || k.ok(&["get", "replicasets", "-o", "name"]),
        |rs| rs.contains("replicaset.apps/web-"),
    );

    let out = etcd.etcdctl(&[
        "get",
        "--prefix",
        "--keys-only",
        "/registry/configmaps/default/",
    ]);
    let keys = String::from_utf8_lossy(&out.stdout);
    assert!(
        keys.lines()
            .any(|l| l == "/registry/configmaps/default/cm1"),
        "etcdctl keys: {keys}"
    );
    let out = etcd.etcdctl(&[
        "get",
        "/registry/configmaps/default/cm1",
        "--print-value-only",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON in etcd");
    assert_eq!(value["data"]["a"], "b");
    // The resourceVersion is etcd's revision.
    let rv: i64 = k
        .ok(&[
            "get",
            "configmap",
            "cm1",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    let out = etcd.etcdctl(&["get", "/registry/configmaps/default/cm1", "-w", "json"]);
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meta["kvs"][0]["mod_revision"].as_i64(), Some(rv));

    let (code, body) = health(&s, "/readyz?verbose");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("[+]etcd ok"), "{body}");
    // A write through the API is seen by a watch-driven list right away after a restart.
    let mut s = s;
    s.restart();
    assert_eq!(
        s.kubectl()
            .ok(&["get", "configmap", "cm1", "-o", "jsonpath={.data.a}"]),
        "b"
    );
}

#[test]
fn etcd_down_fails_fast_and_recovers() {
    let mut etcd = EtcdCluster::start(1);
    let s = Server::start_with(bin(), &["--datastore-endpoint", &etcd.endpoints()]);
    let k = s.kubectl();
    k.ok(&["create", "configmap", "before", "--from-literal=a=b"]);

    etcd.kill(0);
    // /readyz fails, naming the datastore and why; /livez does not (restarting would not help).
    let (code, body) = eventually(
        "/readyz failing",
        Duration::from_secs(10),
        || health(&s, "/readyz"),
        |(code, _)| *code == 500,
    );
    assert!(body.contains("[-]etcd failed: "), "{body}");
    assert!(body.contains("readyz check failed"), "{body}");
    assert_eq!(code, 500);
    assert_eq!(health(&s, "/livez").0, 200);
    // One check on its own (not anonymous: upstream lets anyone see only the summaries).
    let one = k.run(&["get", "--raw", "/readyz/etcd"]);
    assert!(!one.status.success());
    assert!(
        String::from_utf8_lossy(&one.stderr).contains("internal server error: "),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(k.ok(&["get", "--raw", "/readyz/ping"]), "ok");

    // A write is refused within the request deadline with 503 or 504, not left hanging.
    let t = Instant::now();
    let out = k.run(&["create", "configmap", "during", "--request-timeout=60s"]);
    let took = t.elapsed();
    assert!(!out.status.success(), "a write succeeded with etcd down");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ServiceUnavailable")
            || err.contains("Timeout")
            || err.contains("the datastore is unavailable")
            || err.contains("did not complete within"),
        "unclear error: {err}"
    );
    assert!(took < Duration::from_secs(20), "the write took {took:?}");

    etcd.restart(0);
    eventually(
        "/readyz passing again",
        Duration::from_secs(30),
        || health(&s, "/readyz"),
        |(code, _)| *code == 200,
    );
    k.ok(&["create", "configmap", "after", "--from-literal=a=b"]);
    assert_eq!(
        k.ok(&["get", "configmap", "before", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    let names = k.ok(&["get", "configmaps", "-o", "name"]);
    assert!(names.contains("configmap/after"), "{names}");
    // The watch cache followed etcd again: a watch-backed list sees the new object.
    assert!(!names.contains("configmap/during"), "{names}");
}

#[test]
fn unreachable_etcd_at_start_is_a_clear_error() {
    let port = testkit::free_port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
        .args(["--https-listen-port", &testkit::free_port().to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--datastore-endpoint", &format!("http://127.0.0.1:{port}")])
        .output()
        .expect("skiff server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("datastore http://127.0.0.1:{port}")),
        "{err}"
    );
    let out = Command::new(bin())
        .args(["server", "--datastore-endpoint", "127.0.0.1:2379"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("skiff server");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("want http://host:port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// https endpoints with client certificates (`--datastore-cafile/-certfile/-keyfile`); without
/// the client certificate etcd refuses the connection and the server says so at start.
#[test]
fn etcd_over_tls_with_client_certificates() {
    let etcd = EtcdCluster::start_tls(1);
    let tls = etcd.tls.as_ref().expect("tls files");
    let (ca, cert, key) = (
        tls.ca.to_str().unwrap(),
        tls.client_cert.to_str().unwrap(),
        tls.client_key.to_str().unwrap(),
    );
    assert!(etcd.endpoints().starts_with("https://"));
    let s = Server::start_with(
        bin(),
        &[
            "--datastore-endpoint",
            &etcd.endpoints(),
            "--datastore-cafile",
            ca,
            "--datastore-certfile",
            cert,
            "--datastore-keyfile",
            key,
        ],
    );
    s.kubectl()
        .ok(&["create", "configmap", "over-tls", "--from-literal=a=b"]);
    let out = etcd.etcdctl(&[
        "get",
        "/registry/configmaps/default/over-tls",
        "--keys-only",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "/registry/configmaps/default/over-tls"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
        .args(["--https-listen-port", &testkit::free_port().to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--datastore-endpoint",
            &etcd.endpoints(),
            "--datastore-cafile",
            ca,
        ])
        .output()
        .expect("skiff server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("datastore {}", etcd.endpoints())),
        "{err}"
    );
}
