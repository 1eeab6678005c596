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
