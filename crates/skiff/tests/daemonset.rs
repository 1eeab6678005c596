//! The DaemonSet controller against simulated nodes, driven with kubectl: one pod per
//! matching node (node selector, taints), pods for nodes that join later and none left on
//! nodes that stop matching, and a rolling update within maxUnavailable.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

struct Sim(Child);

impl Sim {
    fn start(server: &Server, nodes: usize, prefix: &str) -> Sim {
        let child = Command::new(bin())
            .args(["sim", "--server", &server.url(), "--kubeconfig"])
            .arg(server.kubeconfig())
            .args(["--nodes", &nodes.to_string(), "--name-prefix", prefix])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start skiff sim");
        Sim(child)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn eventually<T: std::fmt::Debug>(
    what: &str,
    secs: u64,
    probe: impl Fn() -> T,
    want: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = probe();
        if want(&got) {
            return got;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last seen {got:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

fn ready_nodes(k: &Kubectl) -> usize {
    get(k, &["get", "nodes", "--no-headers"])
        .lines()
        .filter(|l| l.contains(" Ready "))
        .count()
}

/// `node image ready` per live (not terminating) pod of the set, sorted.
fn pods(k: &Kubectl) -> Vec<String> {
    let out = get(
        k,
        &[
            "get",
            "pods",
            "-l",
            "app=agent",
            "-o",
            r#"jsonpath={range .items[*]}{.spec.nodeName} {.spec.containers[0].image} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}"#,
        ],
    );
    let mut v: Vec<String> = out
        .lines()
        .map(str::trim_end)
        .filter(|l| l.split(' ').count() == 3)
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Runs kubectl, retrying a 409 (kubectl's read-modify-write commands such as `set image`
/// may still lose a race with a controller's write, as against upstream).
fn ok_despite_conflicts(k: &Kubectl, args: &[&str]) {
    for _ in 0..10 {
        let r = k.run(args);
        if r.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(
            err.contains("the object has been modified"),
            "{args:?}: {err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{args:?} kept conflicting");
}

fn on(nodes: &[&str], image: &str) -> Vec<String> {
    nodes.iter().map(|n| format!("{n} {image} True")).collect()
}

const DS: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {ds: 'yes'}
      containers: [{name: c, image: 'agent:1'}]
";

#[test]
fn daemonset_follows_nodes_and_rolls() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let _sim = Sim::start(&server, 4, "sim-");
    eventually("4 nodes", 30, || ready_nodes(&k), |n| *n == 4);
    for node in ["sim-0", "sim-1", "sim-3"] {
        k.ok(&["label", "node", node, "ds=yes"]);
    }
    k.ok(&["taint", "node", "sim-3", "dedicated=x:NoSchedule"]);

    k.ok_stdin(&["apply", "-f", "-"], DS);
    // On the matching nodes; not on sim-2 (no label) nor sim-3 (untolerated taint).
    eventually(
        "pods on sim-0 and sim-1",
        30,
        || pods(&k),
        |p| *p == on(&["sim-0", "sim-1"], "agent:1"),
    );
    let out = k.ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert!(
        out.contains("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );

    // Each pod is pinned to its node and tolerates node conditions, as upstream's are.
    let pod = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "--field-selector",
        "spec.nodeName=sim-0",
        "-o",
        "jsonpath={.items[0].spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]} {.items[0].spec.tolerations[*].key} {.items[0].metadata.labels.controller-revision-hash}",
    ]);
    assert!(
        pod.starts_with("sim-0 node.kubernetes.io/not-ready node.kubernetes.io/unreachable"),
        "{pod}"
    );
    assert!(pod.contains("node.kubernetes.io/unschedulable"), "{pod}");
    let hash = pod.rsplit(' ').next().unwrap_or_default().to_string();
    let revision = k.ok(&[
        "get",
        "controllerrevisions",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert_eq!(revision, format!("agent-{hash}"));

    // A node that joins later and matches gets a pod.
    let _late = Sim::start(&server, 1, "late-");
    eventually("5 nodes", 30, || ready_nodes(&k), |n| *n == 5);
    k.ok(&["label", "node", "late-0", "ds=yes"]);
    eventually(
        "pod on late-0",
        30,
        || pods(&k),
        |p| *p == on(&["late-0", "sim-0", "sim-1"], "agent:1"),
    );

    // A node that stops matching loses its pod; a toleration lets the tainted node in.
    k.ok(&["label", "node", "sim-1", "ds-"]);
    eventually(
        "pod gone from sim-1",
        30,
        || pods(&k),
        |p| *p == on(&["late-0", "sim-0"], "agent:1"),
    );
    let status = eventually(
        "status",
        10,
        || {
            get(
                &k,
                &[
                    "get",
                    "ds",
                    "agent",
                    "-o",
                    "jsonpath={.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady} {.status.numberAvailable} {.status.updatedNumberScheduled} {.status.numberMisscheduled} {.status.observedGeneration}",
                ],
            )
        },
        |s| s == "2 2 2 2 2 0 1",
    );
    assert_eq!(status, "2 2 2 2 2 0 1");
    ok_despite_conflicts(
        &k,
        &[
            "patch",
            "ds",
            "agent",
            "--type=strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Exists"}]}}}}"#,
        ],
    );
    eventually(
        "pods on three nodes, updated",
        40,
        || pods(&k),
        |p| *p == on(&["late-0", "sim-0", "sim-3"], "agent:1"),
    );

    // A rolling update replaces pods with at most one node (maxUnavailable 1) short.
    // The toleration changed the template, so every pod is replaced; once that is done
    // the controller stops writing the DaemonSet.
    let settled = |k: &Kubectl| {
        get(
            k,
            &[
                "get",
                "ds",
                "agent",
                "-o",
                "jsonpath={.status.desiredNumberScheduled} {.status.updatedNumberScheduled} {.status.numberAvailable} {.status.observedGeneration}",
            ],
        )
    };
    eventually(
        "rolled to the toleration",
        40,
        || settled(&k),
        |s| s == "3 3 3 2",
    );
    // Settled: the controller no longer writes the DaemonSet.
    let rv = k.ok(&[
        "get",
        "ds",
        "agent",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let rv2 = k.ok(&[
        "get",
        "ds",
        "agent",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(rv, rv2, "the DaemonSet keeps being written at rest");
    ok_despite_conflicts(&k, &["set", "image", "daemonset/agent", "c=agent:2"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let p = pods(&k);
        let ready = p.iter().filter(|l| l.ends_with(" True")).count();
        assert!(ready >= 2, "more than one node without a ready pod: {p:?}");
        if p == on(&["late-0", "sim-0", "sim-3"], "agent:2") {
            break;
        }
        assert!(Instant::now() < deadline, "rolling update stuck: {p:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = k.ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    // With maxSurge the new pod starts beside the old one: no node is ever without a
    // ready pod.
    ok_despite_conflicts(
        &k,
        &[
            "patch",
            "ds",
            "agent",
            "--type=merge",
            "-p",
            r#"{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}"#,
        ],
    );
    ok_despite_conflicts(&k, &["set", "image", "daemonset/agent", "c=agent:3"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let p = pods(&k);
        let mut covered: Vec<&str> = p
            .iter()
            .filter(|l| l.ends_with(" True"))
            .filter_map(|l| l.split(' ').next())
            .collect();
        covered.dedup();
        assert_eq!(
            covered,
            ["late-0", "sim-0", "sim-3"],
            "a node lost its ready pod: {p:?}"
        );
        if p == on(&["late-0", "sim-0", "sim-3"], "agent:3") {
            break;
        }
        assert!(Instant::now() < deadline, "surge update stuck: {p:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let history = k.ok(&["rollout", "history", "daemonset/agent"]);
    assert!(history.contains("\n4 "), "{history}");
    let events = k.ok(&["get", "events", "-o", "jsonpath={.items[*].message}"]);
    assert!(events.contains("Created pod: agent-"), "{events}");
    assert!(events.contains("Deleted pod: agent-"), "{events}");
}
