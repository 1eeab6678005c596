//! Preemption, gang scheduling and PodDisruptionBudget-aware victim choice, with the real
//! scheduler and simulated nodes (`skiff sim`), driven by kubectl.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{eventually, Kubectl, Server, Sim};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

fn ready_nodes(k: &Kubectl, want: usize) {
    eventually(
        &format!("{want} Ready nodes"),
        Duration::from_secs(30),
        || get(k, &["get", "nodes", "--no-headers"]),
        |out| {
            out.lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
                .count()
                == want
        },
    );
}

fn priority_class(k: &Kubectl, name: &str, value: i64) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: {name}}}\nvalue: {value}\n"),
    );
}

struct PodSpec<'a> {
    name: &'a str,
    cpu: &'a str,
    class: Option<&'a str>,
    labels: &'a str,
    annotations: &'a str,
}

impl<'a> PodSpec<'a> {
    fn new(name: &'a str, cpu: &'a str) -> Self {
        PodSpec {
            name,
            cpu,
            class: None,
            labels: "",
            annotations: "",
        }
    }
}

/// Creates a pod; admission may not see a class created a moment ago yet, so retry.
fn create_pod(k: &Kubectl, p: &PodSpec) {
    let class = p
        .class
        .map(|c| format!("  priorityClassName: {c}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n  labels: {{{}}}\n  annotations: {{{}}}\nspec:\n{class}  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    resources: {{requests: {{cpu: \"{}\"}}}}\n",
        p.name, p.labels, p.annotations, p.cpu
    );
    eventually(
        &format!("pod {} created", p.name),
        Duration::from_secs(10),
        || k.run_stdin(&["create", "-f", "-"], &yaml),
        |out| out.status.success(),
    );
}

fn node_of(k: &Kubectl, pod: &str) -> String {
    get(k, &["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

fn wait_bound(k: &Kubectl, pod: &str, timeout: Duration) -> String {
    eventually(
        &format!("{pod} bound"),
        timeout,
        || node_of(k, pod),
        |n| !n.is_empty(),
    )
}

fn gone(k: &Kubectl, pod: &str) -> bool {
    let out = k.run(&["get", "pod", pod]);
    String::from_utf8_lossy(&out.stderr).contains("NotFound")
}

#[test]
fn a_high_priority_pod_preempts_a_low_priority_one() {
    let s = Server::start(bin());
    let k = s.kubectl();
    let _sim = Sim::start(&s, 1, &["--cpu", "2"]);
    ready_nodes(&k, 1);
    priority_class(&k, "low", 100);
    priority_class(&k, "high", 1000);

    create_pod(
        &k,
        &PodSpec {
            class: Some("low"),
            ..PodSpec::new("low", "1500m")
        },
    );
    assert_eq!(wait_bound(&k, "low", Duration::from_secs(20)), "sim-0");
    let victim_watch = k.spawn_lines(&[
        "get",
        "pod",
        "low",
        "-w",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].reason} {.status.conditions[?(@.type==\"DisruptionTarget\")].message}{\"\\n\"}",
    ]);
    let low_uid = k.ok(&["get", "pod", "low", "-o", "jsonpath={.metadata.uid}"]);

    // A pod of equal priority does not preempt, and says so.
    create_pod(&k, &PodSpec::new("peer", "1500m"));
    let msg = eventually(
        "peer unschedulable",
        Duration::from_secs(20),
        || {
            get(
                &k,
                &[
                    "get",
                    "pod",
                    "peer",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
                ],
            )
        },
        |m| m.contains("preemption:"),
    );
    assert_eq!(msg, "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.");
    k.ok(&["delete", "pod", "peer", "--wait=false"]);

    // A class that never preempts: higher priority, but it waits.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: polite}\nvalue: 5000\npreemptionPolicy: Never\n",
    );
    create_pod(
        &k,
        &PodSpec {
            class: Some("polite"),
            ..PodSpec::new("polite", "1500m")
        },
    );
    let msg = eventually(
        "polite unschedulable",
        Duration::from_secs(20),
        || {
            get(
                &k,
                &[
                    "get",
                    "pod",
                    "polite",
                    "-o",
                    "jsonpath={.spec.preemptionPolicy}: {.status.conditions[?(@.type==\"PodScheduled\")].message}",
                ],
            )
        },
        |m| m.contains("preemption:"),
    );
    assert_eq!(msg, "Never: 0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.");
    k.ok(&["delete", "pod", "polite", "--wait=false"]);

    // Every pod's nominated node, from before the preemptor exists.
    let high_watch = k.spawn_lines(&[
        "get",
        "pods",
        "-w",
        "-o",
        "jsonpath={.metadata.name}={.status.nominatedNodeName}{\"\\n\"}",
    ]);
    assert!(
        high_watch.wait_for(Duration::from_secs(10), |l| l.starts_with("low=")),
        "the watch started: {:?}",
        high_watch.lines()
    );
    create_pod(
        &k,
        &PodSpec {
            class: Some("high"),
            ..PodSpec::new("high", "1500m")
        },
    );
    assert!(
        victim_watch.wait_for(Duration::from_secs(20), |l| l
            == "PreemptionByScheduler default-scheduler: preempting to accommodate a higher priority pod"),
        "victim conditions: {:?}",
        victim_watch.lines()
    );
    eventually(
        "victim deleted",
        Duration::from_secs(20),
        || gone(&k, "low"),
        |g| *g,
    );
    assert_eq!(wait_bound(&k, "high", Duration::from_secs(20)), "sim-0");
    assert!(
        high_watch.wait_for(Duration::from_secs(5), |l| l == "high=sim-0"),
        "nominatedNodeName: {:?}",
        high_watch.lines()
    );
    // Bound, the nomination is cleared (the API server does it with the binding, as
    // upstream's since 1.34) and PodScheduled is True.
    let bound = eventually(
        "the nomination cleared",
        Duration::from_secs(10),
        || {
            get(
                &k,
                &[
                    "get",
                    "pod",
                    "high",
                    "-o",
                    "jsonpath={.spec.nodeName}|{.status.nominatedNodeName}|{.status.conditions[?(@.type==\"PodScheduled\")].status}",
                ],
            )
        },
        |s| s == "sim-0||True",
    );
    assert_eq!(bound, "sim-0||True");
    let high_uid = k.ok(&["get", "pod", "high", "-o", "jsonpath={.metadata.uid}"]);
    let events = eventually(
        "Preempted event",
        Duration::from_secs(10),
        || {
            get(
                &k,
                &[
                    "get",
                    "events",
                    "--field-selector",
                    &format!("involvedObject.uid={low_uid}"),
                    "-o",
                    "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
                ],
            )
        },
        |e| e.contains("Preempted"),
    );
    assert!(
        events.contains(&format!(
            "Preempted: Preempted by pod {high_uid} on node sim-0"
        )),
        "{events}"
    );
}

#[test]
fn a_gang_binds_all_or_nothing() {
    let s = Server::start(bin());
    let k = s.kubectl();
    let _a = Sim::start(&s, 1, &["--cpu", "2", "--name-prefix", "a-"]);
    ready_nodes(&k, 1);
    let member = |name: &'static str| PodSpec {
        labels: "scheduling.skiff.dev/group: trio",
        annotations:
            "scheduling.skiff.dev/min-members: \"3\", scheduling.skiff.dev/timeout-seconds: \"3\"",
        ..PodSpec::new(name, "1")
    };
    create_pod(&k, &member("m0"));
    let msg = eventually(
        "gang waits for members",
        Duration::from_secs(20),
        || {
            get(
                &k,
                &[
                    "get",
                    "pod",
                    "m0",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
                ],
            )
        },
        |m| m.contains("waiting for gang"),
    );
    assert!(
        msg.contains("waiting for gang trio: 1/3 members exist"),
        "{msg}"
    );
    create_pod(&k, &member("m1"));
    create_pod(&k, &member("m2"));

    // Room for two only: across several permit timeouts, nobody is bound.
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        for m in ["m0", "m1", "m2"] {
            assert_eq!(node_of(&k, m), "", "{m} bound without its gang");
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    // Another node: the whole gang goes at once.
    let _b = Sim::start(&s, 1, &["--cpu", "2", "--name-prefix", "b-"]);
    ready_nodes(&k, 2);
    let deadline = Instant::now() + Duration::from_secs(40);
    while ["m0", "m1", "m2"].iter().any(|m| node_of(&k, m).is_empty()) {
        assert!(
            Instant::now() < deadline,
            "gang not bound:\n{}\n{}",
            get(&k, &["get", "pods", "-o", "wide"]),
            get(&k, &["get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}: {.status.conditions}{\"\\n\"}{end}"])
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn preemption_spares_pods_a_disruption_budget_protects() {
    let s = Server::start(bin());
    let k = s.kubectl();
    let _sim = Sim::start(&s, 1, &["--cpu", "2"]);
    ready_nodes(&k, 1);
    priority_class(&k, "low", 100);
    priority_class(&k, "high", 1000);
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: keep}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: protected}}\n",
    );
    // The protected pod is the newer one: among equal priorities the older pod is spared
    // first, so without the budget the protected pod would be the victim.
    create_pod(
        &k,
        &PodSpec {
            class: Some("low"),
            ..PodSpec::new("unprotected", "1")
        },
    );
    create_pod(
        &k,
        &PodSpec {
            class: Some("low"),
            labels: "app: protected",
            ..PodSpec::new("protected", "1")
        },
    );
    wait_bound(&k, "unprotected", Duration::from_secs(20));
    wait_bound(&k, "protected", Duration::from_secs(20));
    eventually(
        "budget allows no disruption",
        Duration::from_secs(30),
        || {
            get(
                &k,
                &[
                    "get",
                    "pdb",
                    "keep",
                    "-o",
                    "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}",
                ],
            )
        },
        |s| s == "1/0",
    );
    create_pod(
        &k,
        &PodSpec {
            class: Some("high"),
            ..PodSpec::new("high", "1")
        },
    );
    assert_eq!(wait_bound(&k, "high", Duration::from_secs(30)), "sim-0");
    assert!(
        gone(&k, "unprotected"),
        "the unprotected pod was the victim"
    );
    assert_eq!(node_of(&k, "protected"), "sim-0");
}
