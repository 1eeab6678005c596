//! `skiff sim`: simulated nodes register, stay Ready with fresh Leases, and play the
//! kubelet's part for pods bound to them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// The simulator child process, killed when the test ends.
struct Sim {
    child: Child,
    log: PathBuf,
}

impl Sim {
    fn start(server: &Server, nodes: usize) -> Sim {
        let log = server.data_dir().join("sim.log");
        let child = Command::new(bin())
            .args([
                "sim",
                "--server",
                &server.url(),
                "--token",
                "x",
                "--kubeconfig",
            ])
            .arg(server.kubeconfig())
            .args(["--nodes", &nodes.to_string()])
            .env("SKIFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sim log"))
            .spawn()
            .expect("start skiff sim");
        Sim { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, sim: &Sim, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match check() {
            None => return,
            Some(state) => last = state,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "timed out waiting for {what}; last seen:\n{last}\nsim log:\n{}",
        sim.log()
    );
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    let out = k.run(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn simulated_nodes_register_and_run_pods() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let sim = Sim::start(&server, 3);

    wait_for("3 Ready nodes", Duration::from_secs(30), &sim, || {
        let out = get(
            &k,
            &[
                "get",
                "nodes",
                "--no-headers",
                "-L",
                "topology.kubernetes.io/zone",
            ],
        );
        let ready = out
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count();
        (ready != 3).then_some(out)
    });
    let nodes = k.ok(&[
        "get",
        "nodes",
        "--no-headers",
        "-L",
        "topology.kubernetes.io/zone",
    ]);
    for (name, zone) in [
        ("sim-0", "zone-a"),
        ("sim-1", "zone-b"),
        ("sim-2", "zone-c"),
    ] {
        assert!(
            nodes.lines().any(|l| l.starts_with(name)
                && l.ends_with(zone)
                && l.contains("v1.37.0-skiff-sim")),
            "{name} in {zone}:\n{nodes}"
        );
    }
    let cidr = k.ok(&["get", "node", "sim-1", "-o", "jsonpath={.spec.podCIDR}"]);
    assert_eq!(cidr, "10.42.1.0/24");
    let labels = k.ok(&["get", "node", "sim-1", "-o", "jsonpath={.metadata.labels}"]);
    for want in [
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
    ] {
        assert!(labels.contains(want), "{want}: {labels}");
    }
    let first_renew = k.ok(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        "sim-0",
        "-o",
        "jsonpath={.spec.renewTime}",
    ]);

    // A pod bound to a simulated node runs, with an address from that node's range.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeName: sim-1\n  containers: [{name: app, image: nginx:1.27}]\n",
    );
    wait_for("web Running 1/1", Duration::from_secs(20), &sim, || {
        let out = get(&k, &["get", "pod", "web", "--no-headers"]);
        let cols: Vec<&str> = out.split_whitespace().collect();
        (cols.get(1) != Some(&"1/1") || cols.get(2) != Some(&"Running")).then_some(out)
    });
    let ip = k.ok(&[
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.status.podIP} {.status.hostIP} {.status.containerStatuses[0].containerID}",
    ]);
    assert!(ip.starts_with("10.42.1."), "{ip}");
    assert!(ip.contains(" 198.18.0.2 sim://"), "{ip}");

    // A pod asked to succeed after a second ends Completed.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: once\n  annotations: {sim.skiff.dev/behavior: succeed-after=1s}\nspec:\n  nodeName: sim-2\n  restartPolicy: Never\n  containers: [{name: task, image: busybox}]\n",
    );
    wait_for("once Completed", Duration::from_secs(20), &sim, || {
        let out = get(&k, &["get", "pod", "once", "--no-headers"]);
        (out.split_whitespace().nth(2) != Some("Completed")).then_some(out)
    });
    assert_eq!(
        k.ok(&["get", "pod", "once", "-o", "jsonpath={.status.phase}"]),
        "Succeeded"
    );

    // Deleting a running pod finishes: the "kubelet" confirms and the pod is gone.
    let started = Instant::now();
    k.ok(&["delete", "pod", "web", "--timeout=20s"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let err = k.fails(&["get", "pod", "web"]);
    assert!(err.contains("pods \"web\" not found"), "{err}");

    // Each node has a Lease held in its name, renewed every 10 s.
    let leases = k.ok(&["get", "leases", "-n", "kube-node-lease", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.holderIdentity}/{.spec.leaseDurationSeconds} {end}"]);
    for want in ["sim-0=sim-0/40", "sim-1=sim-1/40", "sim-2=sim-2/40"] {
        assert!(leases.contains(want), "{want}: {leases}");
    }
    wait_for("a renewed lease", Duration::from_secs(20), &sim, || {
        let now = get(
            &k,
            &[
                "get",
                "lease",
                "-n",
                "kube-node-lease",
                "sim-0",
                "-o",
                "jsonpath={.spec.renewTime}",
            ],
        );
        (now == first_renew).then_some(now)
    });
}

#[test]
fn token_only_is_refused_in_one_line() {
    let out = Command::new(bin())
        .args([
            "sim",
            "--server",
            "https://127.0.0.1:1",
            "--token",
            "x",
            "--nodes",
            "1",
        ])
        .output()
        .expect("run skiff sim");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--token is not supported by this build yet"),
        "{err}"
    );
}
