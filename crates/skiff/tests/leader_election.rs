//! Leader election: the controllers and the scheduler run only while this server holds
//! their Leases in kube-system; a restarted server takes them back at once, and a lease
//! held by someone else keeps the controllers idle until it expires.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{eventually, Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout)
        .trim()
        .to_string()
}

fn holder(k: &Kubectl, lease: &str) -> String {
    get(
        k,
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            lease,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
}

fn rs(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: c, image: x}}]}}\n"
    )
}

fn pods(k: &Kubectl, app: &str) -> usize {
    get(
        k,
        &["get", "pods", "-l", &format!("app={app}"), "-o", "name"],
    )
    .lines()
    .count()
}

#[test]
fn controllers_run_only_under_their_lease() {
    let mut server = Server::start(bin());
    let k = server.kubectl();
    let me = eventually(
        "controller lease",
        Duration::from_secs(10),
        || holder(&k, "kube-controller-manager"),
        |h| !h.is_empty(),
    );
    assert_eq!(holder(&k, "kube-scheduler"), me);

    // A restart keeps the identity, so the controllers are back without waiting.
    server.kill9();
    server.restart();
    let k = server.kubectl();
    assert_eq!(holder(&k, "kube-controller-manager"), me);
    let started = Instant::now();
    k.ok_stdin(&["apply", "-f", "-"], &rs("after-restart"));
    eventually(
        "pod after restart",
        Duration::from_secs(10),
        || pods(&k, "after-restart"),
        |n| *n == 1,
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Another holder that keeps renewing: our controllers stop and stay stopped.
    let steal = |k: &Kubectl| {
        let ts = time_now();
        k.ok(&[
            "patch",
            "lease",
            "-n",
            "kube-system",
            "kube-controller-manager",
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"holderIdentity":"someone-else","renewTime":"{ts}"}}}}"#),
        ]);
    };
    steal(&k);
    std::thread::sleep(Duration::from_secs(5));
    k.ok_stdin(&["apply", "-f", "-"], &rs("while-away"));
    for _ in 0..8 {
        steal(&k);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            pods(&k, "while-away"),
            0,
            "controllers acted without the lease"
        );
    }
    // Once the other holder goes quiet for the lease duration, we lead again.
    let back = eventually(
        "lease back",
        Duration::from_secs(40),
        || holder(&k, "kube-controller-manager"),
        |h| *h == me,
    );
    assert_eq!(back, me);
    eventually(
        "pod once leading",
        Duration::from_secs(10),
        || pods(&k, "while-away"),
        |n| *n == 1,
    );
}

fn time_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
