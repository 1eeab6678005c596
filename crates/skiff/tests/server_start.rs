//! Starting the server: what it creates, what it serves before anything else, and how it
//! refuses bad starts (one line on stderr, non-zero exit).

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use testkit::Server;

fn skiff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
}

/// Runs a start that must fail; returns its stderr, checked to be a single line.
fn fails(args: &[&str]) -> String {
    let out = skiff().args(args).output().expect("run skiff");
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    err
}

#[test]
fn bad_starts_fail_with_one_line() {
    let err = fails(&["server", "--no-such-flag"]);
    assert!(
        err.contains("unexpected argument '--no-such-flag'"),
        "{err}"
    );
    let err = fails(&["server", "--https-listen-port", "notaport"]);
    assert!(err.contains("invalid value 'notaport'"), "{err}");

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let err = fails(&[
        "server",
        "--bind-address",
        "127.0.0.1",
        "--https-listen-port",
        &port,
        "--data-dir",
        data,
    ]);
    assert!(
        err.contains("cannot listen on 127.0.0.1:") && err.contains("in use"),
        "{err}"
    );

    let err = fails(&[
        "server",
        "--bind-address",
        "127.0.0.1",
        "--https-listen-port",
        "0",
        "--data-dir",
        "/proc/skiff-not-writable",
    ]);
    assert!(err.contains("data dir /proc/skiff-not-writable"), "{err}");
}

#[test]
fn first_start_creates_pki_and_kubeconfig_and_a_restart_reuses_them() {
    let mut s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let tls = s.data_dir().join("tls");
    for f in [
        "ca.crt",
        "ca.key",
        "serving.crt",
        "serving.key",
        "admin.crt",
        "admin.key",
    ] {
        assert!(tls.join(f).exists(), "{f} missing");
    }
    let ca = std::fs::read(tls.join("ca.crt")).expect("ca");
    let serving = std::fs::read(tls.join("serving.crt")).expect("serving");
    let k = s.kubectl();
    assert_eq!(
        k.ok(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}"
        ]),
        "system:admin"
    );
    let groups = k.ok(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"]);
    assert!(groups.contains("system:masters"), "{groups}");
    // The serving certificate names localhost as well as 127.0.0.1.
    let via_localhost = format!("https://localhost:{}", s.port);
    assert_eq!(
        k.ok(&[
            "--server",
            &via_localhost,
            "get",
            "namespace",
            "default",
            "-o",
            "name"
        ])
        .trim(),
        "namespace/default"
    );
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(k.ok(&["get", "--raw", path]), "ok");
    }
    let version = k.ok(&["get", "--raw", "/version"]);
    assert!(version.contains("\"gitVersion\":\"v1.37."), "{version}");

    k.ok(&["create", "configmap", "kept", "--from-literal=a=b"]);
    s.restart();
    assert_eq!(
        std::fs::read(tls.join("ca.crt")).expect("ca"),
        ca,
        "CA regenerated"
    );
    assert_eq!(
        std::fs::read(tls.join("serving.crt")).expect("serving"),
        serving,
        "serving cert regenerated"
    );
    assert_eq!(
        s.kubectl()
            .ok(&["get", "configmap", "kept", "-o", "jsonpath={.data.a}"]),
        "b"
    );
}
