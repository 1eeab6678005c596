//! `--max-mutating-requests-inflight` end to end: a create whose body is still being
//! uploaded holds the only mutating slot, so another user's create gets upstream's 429
//! (`Retry-After: 1`), while `system:masters` and reads are still served.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

    // A create whose body arrives slowly holds the only slot. The controllers'
    // writes (system:masters) take the slot too when it is free, so the holder may itself
    // have been refused: then the round is run again.
    for round in 1..=10 {
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
        let deadline = Instant::now() + Duration::from_secs(3);
        let refused = loop {
            let out = create(&s, "probe");
            if out.starts_with("HTTP/1.1 429") || Instant::now() > deadline {
                break out;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !refused.starts_with("HTTP/1.1 429") {
            // The holder was refused at once and the slot is free: another round.
            assert!(round < 10, "no 429 in {round} rounds: {refused}");
            let _ = holder.kill();
            let _ = holder.wait();
            continue;
        }
        let lower = refused.to_ascii_lowercase();
        assert!(lower.contains("\r\nretry-after: 1\r\n"), "{refused}");
        assert!(
            refused.ends_with("Too many requests, please try again later.\n"),
            "{refused}"
        );
        // system:masters are served whatever the limit; reads have their own pool.
        admin.ok(&["create", "configmap", &format!("by-admin-{round}")]);
        let read = curl(&s, "GET", "/api/v1/namespaces/default/configmaps")
            .output()
            .expect("curl");
        assert!(String::from_utf8_lossy(&read.stdout).starts_with("HTTP/1.1 200"));

        stdin
            .write_all(format!(r#""metadata":{{"name":"held-{round}"}}}}"#).as_bytes())
            .expect("second half");
        drop(stdin);
        let out = holder.wait_with_output().expect("holder");
        let held = String::from_utf8_lossy(&out.stdout);
        if held.contains("HTTP/1.1 201") {
            break;
        }
        assert!(held.contains("HTTP/1.1 429") && round < 10, "{held}");
    }
    // Once the slow create ends, the slot is free again.
    eventually(
        "a create served again",
        Duration::from_secs(10),
        || create(&s, "after"),
        |out| out.starts_with("HTTP/1.1 201"),
    );
}
