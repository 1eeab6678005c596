//! Several `skiff server` processes on one 3-member etcd serve one cluster: the second
//! server gets the CA and service-account key from the datastore with the first one's token
//! (no files copied), a wrong token is refused, a write through one server reaches a watch on
//! the other within a second, and when the server holding the controllers' lease is killed
//! the other takes over within one lease duration.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use testkit::etcd::EtcdCluster;
use testkit::{eventually, Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn holder(k: &Kubectl, lease: &str) -> String {
    let out = k.run(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn servers_share_one_etcd() {
    let etcd = EtcdCluster::start(3);
    let endpoints = etcd.endpoints();
    // Short leases so the failover is quick to observe; the rules are upstream's.
    let election = [
        "--leader-elect-lease-duration",
        "6s",
        "--leader-elect-renew-deadline",
        "4s",
        "--leader-elect-retry-period",
        "1s",
    ];
    let mut first_args = vec!["--datastore-endpoint", endpoints.as_str()];
    first_args.extend(election);
    let a = Server::start_with(bin(), &first_args);
    let token = std::fs::read_to_string(a.data_dir().join("token")).unwrap();
    let token = token.trim().to_string();

    // A wrong token cannot unlock the cluster's secrets.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
        .args(["--https-listen-port", &testkit::free_port().to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--datastore-endpoint", &endpoints])
        .args(["--token", "wrong0.0123456789abcdef"])
        .output()
        .expect("skiff server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another token"), "{err}");
    assert!(!dir.path().join("tls/ca.key").exists());

    let mut second_args = vec![
        "--datastore-endpoint",
        endpoints.as_str(),
        "--token",
        &token,
    ];
    second_args.extend(election);
    let b = Server::start_with(bin(), &second_args);
    for file in ["tls/ca.crt", "tls/ca.key", "tls/service-account.key"] {
        assert_eq!(
            std::fs::read(a.data_dir().join(file)).unwrap(),
            std::fs::read(b.data_dir().join(file)).unwrap(),
            "{file} differs between the servers"
        );
    }
    let (ka, kb) = (a.kubectl(), b.kubectl());
    // A token issued by one server authenticates at the other.
    ka.ok(&["create", "serviceaccount", "robot"]);
    let sa_token = ka.ok(&["create", "token", "robot"]);
    let empty = dir.path().join("empty.kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let ca = b.data_dir().join("tls/ca.crt");
    let out = Command::new(testkit::kubectl_latest())
        .arg("--kubeconfig")
        .arg(&empty)
        .args(["--server", &b.url(), "--token", &sa_token])
        .arg(format!("--certificate-authority={}", ca.display()))
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .unwrap();
    let who = String::from_utf8_lossy(&out.stdout);
    assert_eq!(who, "system:serviceaccount:default:robot");

    // A write through A reaches a watch on B within a second.
    let mut watch = kb
        .cmd(&["get", "configmaps", "--watch-only", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut delays = Vec::new();
    for i in 0..5 {
        let name = format!("through-a-{i}");
        let sent = Instant::now();
        ka.ok(&["create", "configmap", &name]);
        let created = Instant::now();
        let seen = loop {
            let (at, line) = rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("B's watch did not see {name}"));
            if line == format!("configmap/{name}") {
                break at;
            }
        };
        assert!(
            seen.duration_since(created) < Duration::from_secs(1),
            "{name} took {:?} to reach B's watch",
            seen.duration_since(created)
        );
        delays.push(seen.duration_since(sent));
    }
    let _ = watch.kill();
    let _ = watch.wait();
    eprintln!("create through A → watch event on B: {delays:?}");

    // One of the two leads the controllers; killing it hands the lease to the other.
    let leader = eventually(
        "a controller-manager leader",
        Duration::from_secs(30),
        || holder(&ka, "kube-controller-manager"),
        |h| !h.is_empty(),
    );
    let a_leads = leader.ends_with(&identity_suffix(a.data_dir()));
    let (mut dead, live) = if a_leads { (a, b) } else { (b, a) };
    let killed = Instant::now();
    dead.kill9();
    let kl = live.kubectl();
    let new = eventually(
        "the surviving server taking the lease",
        Duration::from_secs(30),
        || holder(&kl, "kube-controller-manager"),
        |h| !h.is_empty() && *h != leader,
    );
    let failover = killed.elapsed();
    eprintln!("controller lease failover after kill -9 of {leader}: {failover:?} (to {new})");
    assert!(
        failover < Duration::from_secs(6 + 2 + 2),
        "failover took {failover:?}, lease duration 6s"
    );
    // The new leader's controllers act: a Deployment gets its ReplicaSet.
    kl.ok(&[
        "create",
        "deployment",
        "after-failover",
        "--image=registry.invalid/x:1",
    ]);
    eventually(
        "the new leader's deployment controller",
        Duration::from_secs(30),
        || kl.ok(&["get", "replicasets", "-o", "name"]),
        |rs| rs.contains("after-failover-"),
    );
    drop(dead);
}

/// The identity suffix a server's data dir gives it (see `spawn_elected`): the holder
/// identity is `<host>_<fnv32 of the canonical data dir>`.
fn identity_suffix(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap();
    let h = dir
        .to_string_lossy()
        .as_bytes()
        .iter()
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    format!("_{h:08x}")
}
