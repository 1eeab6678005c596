//! `kubectl debug` against a real container: an ephemeral container joins a running pod
//! through `pods/ephemeralcontainers`, in the target container's process namespace when
//! `--target` names one, attached to kubectl's stdin with `-i`; it never restarts and never
//! touches the pod's readiness. The API refuses ephemeral containers on create, their
//! removal or change, and the fields an ephemeral container may not have.
//!
//! Needs root and the packages agent_containers.rs names.

use std::path::Path;
use std::time::Duration;

use testkit::node::NodeHost;
use testkit::pty::{kubectl_line, under_pty};
use testkit::{eventually, Kubectl};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn ephemeral_state(kubectl: &Kubectl, pod: &str, name: &str) -> String {
    kubectl.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        &format!("jsonpath={{.status.ephemeralContainerStatuses[?(@.name==\"{name}\")].state}}"),
    ])
}

fn wait_terminated(kubectl: &Kubectl, pod: &str, name: &str) -> String {
    eventually(
        &format!("ephemeral container {name} to finish"),
        Duration::from_secs(60),
        || ephemeral_state(kubectl, pod, name),
        |s| s.contains("terminated"),
    )
}

fn pod_json_list(pod_json: &str) -> Vec<serde_json::Value> {
    let pod: serde_json::Value = serde_json::from_str(pod_json).unwrap();
    pod["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn kubectl_debug_adds_ephemeral_containers() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server_with_agent(bin(), "debug", &[]);
    let kubectl = server.kubectl();
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "app"}},
               "spec": {{"terminationGracePeriodSeconds": 1,
                 "containers": [{{"name": "main", "image": "{image}",
                   "command": ["/skiff-testimage"], "args": ["serve-http", "--port", "8080"]}}]}}}}"#
        ),
    );
    eventually(
        "pod app Ready",
        Duration::from_secs(120),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "app",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])
        },
        |s| s == "True",
    );
    let generation = kubectl.ok(&["get", "pod", "app", "-o", "jsonpath={.metadata.generation}"]);

    // With --target the debugger sees the target's processes: its pid 1 is the server.
    kubectl.ok(&[
        "debug",
        "app",
        "--image",
        &image,
        "--target",
        "main",
        "-c",
        "peek",
        "--",
        "/skiff-testimage",
        "cat",
        "/proc/1/cmdline",
    ]);
    let state = wait_terminated(&kubectl, "app", "peek");
    assert!(state.contains("\"exitCode\":0"), "{state}");
    let seen = kubectl.ok(&["logs", "app", "-c", "peek"]);
    assert!(seen.contains("serve-http"), "{seen:?}");
    let later = kubectl.ok(&["get", "pod", "app", "-o", "jsonpath={.metadata.generation}"]);
    assert!(
        later.parse::<i64>().unwrap() > generation.parse::<i64>().unwrap(),
        "generation {generation} -> {later}"
    );

    // Without a target it has its own process namespace: pid 1 is itself.
    kubectl.ok(&[
        "debug",
        "app",
        "--image",
        &image,
        "-c",
        "alone",
        "--",
        "/skiff-testimage",
        "cat",
        "/proc/1/cmdline",
    ]);
    wait_terminated(&kubectl, "app", "alone");
    let seen = kubectl.ok(&["logs", "app", "-c", "alone"]);
    assert!(
        seen.contains("cat") && !seen.contains("serve-http"),
        "{seen:?}"
    );

    // -it: kubectl waits for it to run and attaches a terminal; ^D ends its cat.
    let cmd = kubectl_line(
        &kubectl,
        &format!("debug -it app --image {image} -c talk -- /skiff-testimage cat"),
    );
    let (code, out) = under_pty(&cmd, &["hello-debug\r", "\x04"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
    // Typed once, echoed by the terminal and printed by cat.
    assert!(out.matches("hello-debug").count() >= 2, "{out:?}");
    wait_terminated(&kubectl, "app", "talk");

    // Finished debuggers stay finished, and the pod stays Running and Ready, with its app
    // container never restarted.
    std::thread::sleep(Duration::from_secs(3));
    let summary = kubectl.ok(&[
        "get",
        "pod",
        "app",
        "-o",
        "jsonpath={.status.phase} {.status.conditions[?(@.type==\"Ready\")].status} {.status.containerStatuses[0].restartCount} {.status.ephemeralContainerStatuses[*].restartCount}",
    ]);
    assert_eq!(summary, "Running True 0 0 0 0", "{summary}");
    let ready_column = kubectl.ok(&["get", "pod", "app", "--no-headers"]);
    assert!(ready_column.contains(" 1/1 "), "{ready_column}");

    // Bad input: refused with the field named, and nothing changes.
    let created = kubectl.run_stdin(
        &["create", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "early"}},
               "spec": {{"containers": [{{"name": "main", "image": "{image}"}}],
                 "ephemeralContainers": [{{"name": "dbg", "image": "{image}"}}]}}}}"#
        ),
    );
    assert!(!created.status.success());
    let created = String::from_utf8_lossy(&created.stderr);
    assert!(
        created.contains("spec.ephemeralContainers: Forbidden: cannot be set on create"),
        "{created}"
    );
    let pod_json = kubectl.ok(&["get", "pod", "app", "-o", "json"]);
    let mut pod: serde_json::Value = serde_json::from_str(&pod_json).unwrap();
    pod["spec"]["ephemeralContainers"] = serde_json::json!([]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.json");
    std::fs::write(&file, pod.to_string()).unwrap();
    let removed = kubectl.fails(&[
        "replace",
        "--raw",
        "/api/v1/namespaces/default/pods/app/ephemeralcontainers",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert!(removed.contains("may not be removed"), "{removed}");
    // An ephemeral container with a port and a target that does not exist.
    let mut list = pod_json_list(&pod_json);
    list.push(serde_json::json!({"name": "web", "image": image,
        "targetContainerName": "nope", "ports": [{"containerPort": 80}]}));
    pod["spec"]["ephemeralContainers"] = serde_json::json!(list);
    std::fs::write(&file, pod.to_string()).unwrap();
    let bad_raw = kubectl.fails(&[
        "replace",
        "--raw",
        "/api/v1/namespaces/default/pods/app/ephemeralcontainers",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert!(
        bad_raw.contains("cannot be set for an Ephemeral Container")
            && bad_raw.contains("targetContainerName"),
        "{bad_raw}"
    );
    let names = kubectl.ok(&[
        "get",
        "pod",
        "app",
        "-o",
        "jsonpath={.spec.ephemeralContainers[*].name}",
    ]);
    assert_eq!(names, "peek alone talk");
    kubectl.ok(&["delete", "pod", "app", "--wait=true"]);

    // kubectl debug node/NAME: a pod in the node's process, network and IPC namespaces with
    // the node's root at /host.
    let out = kubectl.ok(&[
        "debug",
        "node/debug",
        "--image",
        &image,
        "--",
        "/skiff-testimage",
        "cat",
        "/proc/1/cmdline",
        "/host/proc/sys/kernel/hostname",
    ]);
    let pod = out
        .split_whitespace()
        .find(|w| w.starts_with("node-debugger-"))
        .unwrap_or_else(|| panic!("no debugger pod in {out:?}"))
        .to_string();
    eventually(
        "the node debugger to finish",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pod", &pod, "-o", "jsonpath={.status.phase}"]),
        |p| p == "Succeeded",
    );
    let ips = kubectl.ok(&[
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.spec.hostNetwork} {.status.podIP} {.status.hostIP}",
    ]);
    let ips: Vec<&str> = ips.split(' ').collect();
    assert!(ips[0] == "true" && ips[1] == ips[2], "{ips:?}");
    let seen = kubectl.ok(&["logs", &pod]);
    let init = std::fs::read_to_string("/proc/1/cmdline").unwrap();
    let init = init.split('\0').next().unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        seen.contains(init) && seen.contains(hostname.trim()),
        "{seen:?} (host init {init:?}, hostname {hostname:?})"
    );
    kubectl.ok(&["delete", "pod", &pod, "--wait=true"]);
    drop(host);
}
