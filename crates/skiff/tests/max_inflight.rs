//! `--max-mutating-requests-inflight` end to end: a create whose body is still being
//! uploaded holds the only mutating slot, so another user's create gets upstream's 429
//! (`Retry-After: 1`), while `system:masters` and reads are still served.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{eventually, Server};

const TOKEN: &str = "alice-inflight-token-0123456789";

/// `curl` as alice: the status line's code, the headers and the body.
fn curl(s: &Server, method: &str, path: &str) -> Command {
    let mut c = Command::new("curl");
    c.args(["-s", "--http1.1", "-D", "-", "-X", method, "--cacert"])
        .arg(s.data_dir().join("tls").join("ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args(["-H", "Content-Type: application/json", "-H", "Expect:"])
        .arg(format!("{}{path}", s.url()));
    c
}

fn create(s: &Server, name: &str) -> String {
    let out = curl(s, "POST", "/api/v1/namespaces/default/configmaps")
        .args([
            "--data-binary",
            &format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#),
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_full_mutating_pool_answers_429() {
    let files = tempfile::tempdir().expect("tempdir");
    let tokens = files.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},alice,alice-uid\n")).expect("tokens");
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &[
            "--max-mutating-requests-inflight",
            "1",
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
        ],
    );
    let admin = s.kubectl();
    admin.ok(&[
        "create",
        "rolebinding",
        "alice-edit",
        "--clusterrole=edit",
        "--user=alice",
        "-n",
        "default",
    ]);
    // Wait until the binding is in force (the controllers' own writes settle too).
    eventually(
        "alice may create",
        Duration::from_secs(20),
        || create(&s, "warm-up"),
        |out| out.starts_with("HTTP/1.1 201"),
    );

    // A create whose body arrives slowly holds the only slot.
    let mut holder = curl(&s, "POST", "/api/v1/namespaces/default/configmaps")
        .args(["-T", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut stdin = holder.stdin.take().expect("stdin");
    stdin
        .write_all(br#"{"apiVersion":"v1","kind":"ConfigMap","#)
        .expect("first half");
    stdin.flush().expect("flush");

    let refused = eventually(
        "a second create refused",
        Duration::from_secs(20),
        || create(&s, "probe"),
        |out| out.starts_with("HTTP/1.1 429"),
    );
    let lower = refused.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: 1\r\n"), "{refused}");
    assert!(
        refused.ends_with("Too many requests, please try again later.\n"),
        "{refused}"
    );
    // system:masters are served whatever the limit; reads have their own pool.
    admin.ok(&["create", "configmap", "by-admin"]);
    let read = curl(&s, "GET", "/api/v1/namespaces/default/configmaps")
        .output()
        .expect("curl");
    assert!(String::from_utf8_lossy(&read.stdout).starts_with("HTTP/1.1 200"));

    // Once the slow create ends, the slot is free again.
    stdin
        .write_all(br#""metadata":{"name":"held"}}"#)
        .expect("second half");
    drop(stdin);
    let out = holder.wait_with_output().expect("holder");
    let held = String::from_utf8_lossy(&out.stdout);
    assert!(held.contains("HTTP/1.1 201"), "{held}");
    let after = create(&s, "after");
    assert!(after.starts_with("HTTP/1.1 201"), "{after}");
}
