//! Requests and limits become the pod cgroup hierarchy by QoS class: a Guaranteed pod's
//! cgroup sits under /skiff with its limits, a BestEffort one under /skiff/besteffort
//! (CPU shares 2), and the pod cgroup goes away with the pod.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::eventually;
use testkit::node::NodeHost;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// The pod's cgroup dir in `controller`'s hierarchy (cgroup v1), or the unified one (v2).
fn cgroup(controller: &str, rel: &str) -> PathBuf {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        Path::new("/sys/fs/cgroup").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join(rel)
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("{}: {e}", p.display()))
}

#[test]
fn qos_classes_shape_the_pod_cgroups() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent(bin(), &server, "qos");
    let pod = |name: &str, resources: &str| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}"}},
               "spec": {{"terminationGracePeriodSeconds": 1, "containers": [{{"name": "main", "image": "{image}",
                 "args": ["sleep", "3600"], "resources": {resources}}}]}}}}"#
        )
    };
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod("gold", r#"{"limits": {"cpu": "500m", "memory": "64Mi"}}"#),
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod("scrap", "{}"));
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod("mid", r#"{"requests": {"cpu": "250m"}}"#),
    );
    let info = |name: &str| {
        kubectl.ok(&[
            "get",
            "pod",
            name,
            "-o",
            "jsonpath={.status.phase} {.status.qosClass} {.metadata.uid}",
        ])
    };
    let mut uids = Vec::new();
    for (name, class) in [
        ("gold", "Guaranteed"),
        ("scrap", "BestEffort"),
        ("mid", "Burstable"),
    ] {
        let out = eventually(
            "the pod Running",
            Duration::from_secs(60),
            || info(name),
            |s| s.starts_with(&format!("Running {class} ")),
        );
        uids.push(out.rsplit(' ').next().unwrap_or_default().to_string());
    }
    let gold = format!("skiff/pod{}", uids[0]);
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        assert_eq!(
            read(&cgroup("memory", &gold).join("memory.max")),
            "67108864"
        );
        assert_eq!(read(&cgroup("cpu", &gold).join("cpu.max")), "50000 100000");
    } else {
        assert_eq!(
            read(&cgroup("memory", &gold).join("memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(
            read(&cgroup("cpu", &gold).join("cpu.cfs_quota_us")),
            "50000"
        );
        assert_eq!(read(&cgroup("cpu", &gold).join("cpu.shares")), "512");
        assert_eq!(
            read(&cgroup("cpu", "skiff/besteffort").join("cpu.shares")),
            "2"
        );
        let mid = format!("skiff/burstable/pod{}", uids[2]);
        assert_eq!(read(&cgroup("cpu", &mid).join("cpu.shares")), "256");
    }
    let scrap = cgroup("cpu", &format!("skiff/besteffort/pod{}", uids[1]));
    assert!(scrap.is_dir(), "{} missing", scrap.display());

    kubectl.ok(&["delete", "pod", "gold", "scrap", "mid"]);
    eventually(
        "the pod cgroups to be removed",
        Duration::from_secs(30),
        || cgroup("cpu", &gold).exists() || scrap.exists(),
        |exists| !exists,
    );
}

/// Node-pressure eviction: with a memory threshold the machine cannot meet, the node
/// reports MemoryPressure (and is tainted), and pods are evicted one at a time, the
/// BestEffort one before the one within its requests.
#[test]
fn memory_pressure_evicts_best_effort_first() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent(bin(), &server, "tight");
    let pod = |name: &str, resources: &str| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}"}},
               "spec": {{"terminationGracePeriodSeconds": 1, "containers": [{{"name": "main", "image": "{image}",
                 "args": ["sleep", "3600"], "resources": {resources}}}]}}}}"#
        )
    };
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod("loose", "{}"));
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod("careful", r#"{"requests": {"memory": "1Gi"}}"#),
    );
    let phase = |name: &str| {
        kubectl.ok(&[
            "get",
            "pod",
            name,
            "-o",
            "jsonpath={.status.phase} {.status.reason}",
        ])
    };
    for name in ["loose", "careful"] {
        eventually(
            "the pod Running",
            Duration::from_secs(60),
            || phase(name),
            |s| s.starts_with("Running"),
        );
    }
    // The same agent, now with a threshold no machine meets.
    host.stop_agent("tight");
    host.start_agent_with(
        bin(),
        &server,
        "tight",
        &["--eviction-hard", "memory.available<1000Ti"],
    );
    eventually(
        "the node to report MemoryPressure and be tainted",
        Duration::from_secs(40),
        || {
            kubectl.ok(&[
                "get",
                "node",
                "tight",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"MemoryPressure\")].status} {.spec.taints[*].key}",
            ])
        },
        |s| s.starts_with("True ") && s.contains("node.kubernetes.io/memory-pressure"),
    );
    eventually(
        "the BestEffort pod to be evicted",
        Duration::from_secs(40),
        || phase("loose"),
        |s| s == "Failed Evicted",
    );
    // One pod per monitoring period: the pod within its requests is still running.
    assert!(
        phase("careful").starts_with("Running"),
        "{}",
        phase("careful")
    );
    let detail = kubectl.ok(&[
        "get",
        "pod",
        "loose",
        "-o",
        "jsonpath={.status.message}|{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}|{.status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert!(
        detail.starts_with(
            "The node was low on resource: memory. Threshold quantity: 1000Ti, available: "
        ) && detail.contains("Container main was using ")
            && detail.ends_with("|TerminationByKubelet|137"),
        "{detail}"
    );
    let events = kubectl.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=loose,reason=Evicted",
        "-o",
        "name",
    ]);
    assert!(!events.trim().is_empty(), "no Evicted event");
    // Stopped in the runtime, and not started again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(phase("loose"), "Failed Evicted");
    eventually(
        "the other pod to be evicted next",
        Duration::from_secs(40),
        || phase("careful"),
        |s| s == "Failed Evicted",
    );
    kubectl.ok(&["delete", "pod", "loose", "careful"]);
}
