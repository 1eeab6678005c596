//! SIGTERM drains `skiff server`: new connections are refused, a request in flight (a create
//! whose body is still being uploaded) completes, watches end with a clean end of stream
//! (HTTP/1.1: the final chunk, so curl exits 0 rather than reporting a cut transfer;
//! HTTP/2: kubectl's `get -w` exits 0 with no error), the process exits 0, and every
//! acknowledged write is there after a restart.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use testkit::Server;

const TOKEN: &str = "drain-admin-token-0123456789";

/// `curl` as an admin with a bearer token, over HTTP/1.1 so the chunked ending is visible.
fn curl(s: &Server, method: &str, path: &str) -> Command {
    let mut c = Command::new("curl");
    c.args(["-s", "-N", "--http1.1", "-X", method, "--cacert"])
        .arg(s.data_dir().join("tls").join("ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args(["-H", "Content-Type: application/json", "-H", "Expect:"])
        .args(["-w", "\\nstatus %{http_code}\\n"])
        .arg(format!("{}{path}", s.url()));
    c
}

/// The lines `child` prints, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_drains_requests_and_ends_watches_cleanly() {
    let files = tempfile::tempdir().expect("tempdir");
    let tokens = files.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        format!("{TOKEN},drain-admin,drain-admin-uid,\"system:masters\"\n"),
    )
    .expect("tokens");
    let mut s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--token-auth-file", tokens.to_str().expect("utf-8")],
    );
    let k = s.kubectl();
    for i in 0..5 {
        k.ok(&["create", "configmap", &format!("before-{i}")]);
    }

    // A watch that has delivered the existing objects and now waits for more.
    let mut watch = curl(
        &s,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true",
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("curl watch");
    let watched = lines(&mut watch);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains(r#""name":"before-4""#))
    {
        seen.push(
            watched
                .recv_timeout(Duration::from_secs(10))
                .expect("watch events"),
        );
    }

    // kubectl's own watch, over HTTP/2.
    let mut kwatch = k
        .cmd(&["get", "configmaps", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl watch");
    let kwatched = lines(&mut kwatch);
    kwatched
        .recv_timeout(Duration::from_secs(10))
        .expect("kubectl watch lists");

    // A create whose body is half uploaded when the signal comes.
    let mut slow = curl(&s, "POST", "/api/v1/namespaces/default/configmaps")
        .args(["-T", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl create");
    let mut body = slow.stdin.take().expect("stdin");
    body.write_all(br#"{"apiVersion":"v1","kind":"ConfigMap","#)
        .expect("first half");
    body.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(500));

    let pid = s.pid().expect("server pid");
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());

    // The watch ends, cleanly: curl saw the end of the chunked body.
    let watch_exit = wait_child(&mut watch, Duration::from_secs(10));
    assert!(
        watch_exit.is_some_and(|s| s.success()),
        "watch ended with {watch_exit:?}"
    );
    let kwatch_exit = wait_child(&mut kwatch, Duration::from_secs(10));
    let mut kerr = String::new();
    if let Some(mut e) = kwatch.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut kerr);
    }
    assert!(
        kwatch_exit.is_some_and(|s| s.success()) && kerr.trim().is_empty(),
        "kubectl watch ended with {kwatch_exit:?}: {kerr}"
    );
    // New connections are refused while the drain goes on (curl: 7, could not connect).
    let refused = curl(&s, "GET", "/api/v1/namespaces")
        .output()
        .expect("curl");
    assert_eq!(refused.status.code(), Some(7), "{refused:?}");

    // The create in flight completes.
    body.write_all(br#""metadata":{"name":"in-flight"}}"#)
        .expect("second half");
    drop(body);
    let created = slow.wait_with_output().expect("slow create");
    let created = String::from_utf8_lossy(&created.stdout);
    assert!(created.contains("status 201"), "{created}");

    // Nothing is left to wait for, so the process ends at once: no background task (a
    // watch retrying against the closed server, say) holds the exit up.
    let drained = std::time::Instant::now();
    let exit = s.wait_exit(Duration::from_secs(15));
    assert!(
        exit.is_some_and(|e| e.success()),
        "server exit: {exit:?}; log:\n{}",
        s.log_text()
    );
    assert!(
        drained.elapsed() < Duration::from_secs(4),
        "the server took {:?} to exit after its last request; log:\n{}",
        drained.elapsed(),
        s.log_text()
    );
    assert!(s.log_text().contains("server stopped"), "{}", s.log_text());

    // Everything acknowledged is there after a restart.
    s.restart();
    let names = s.kubectl().ok(&["get", "configmaps", "-o", "name"]);
    for name in ["before-0", "before-4", "in-flight"] {
        assert!(names.contains(&format!("configmap/{name}")), "{names}");
    }
}
