//! The scheduler binds pods to nodes that fit and explains, as upstream does, why a pod
//! stays Pending. Nodes here are plain Node objects with allocatable resources.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn add_node(k: &Kubectl, name: &str, cpu: &str, labels: &str) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n"),
    );
    let status = format!(
        r#"{{"status":{{"allocatable":{{"cpu":"{cpu}","memory":"8Gi","pods":"110"}},"capacity":{{"cpu":"{cpu}","memory":"8Gi","pods":"110"}},"conditions":[{{"type":"Ready","status":"True","reason":"KubeletReady","message":"ready"}}]}}}}"#
    );
    k.ok(&[
        "patch",
        "node",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ]);
}

fn pod(k: &Kubectl, name: &str, cpu: &str, extra: &str) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra}  containers:\n  - name: c\n    image: busybox\n    resources: {{requests: {{cpu: \"{cpu}\"}}}}\n"
        ),
    );
}

fn wait_for(k: &Kubectl, args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = k.run(args);
        let got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got.contains(want) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?}: wanted {want:?}, last got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn node_of(k: &Kubectl, pod: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = k.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]);
        if !n.is_empty() {
            return n;
        }
        assert!(Instant::now() < deadline, "{pod} never scheduled");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pods_go_where_they_fit_and_pending_pods_say_why() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    add_node(&k, "big", "4", "size: big");
    add_node(&k, "small", "1", "size: small, disk: ssd");

    // Resources: only `big` has 2 cpus free.
    pod(&k, "needs-two", "2", "");
    assert_eq!(node_of(&k, "needs-two"), "big");

    // nodeSelector.
    pod(&k, "wants-ssd", "100m", "  nodeSelector: {disk: ssd}\n");
    assert_eq!(node_of(&k, "wants-ssd"), "small");

    // Too big for any node: Pending, with upstream's message on the condition and an event.
    pod(&k, "too-big", "8", "");
    let msg = wait_for(
        &k,
        &[
            "get",
            "pod",
            "too-big",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ],
        "nodes are available",
    );
    assert_eq!(msg, "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.");
    let reason = k.ok(&[
        "get",
        "pod",
        "too-big",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
    ]);
    assert_eq!(reason, "Unschedulable");
    let events = wait_for(
        &k,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=too-big",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
        "FailedScheduling",
    );
    assert!(events.contains("FailedScheduling"), "{events}");

    // Taints and cordons: reasons are counted per node.
    k.ok(&["taint", "node", "big", "dedicated=gpu:NoSchedule"]);
    k.ok(&["cordon", "small"]);
    pod(&k, "nowhere", "100m", "");
    let msg = wait_for(
        &k,
        &[
            "get",
            "pod",
            "nowhere",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ],
        "nodes are available",
    );
    assert_eq!(msg, "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");

    // A toleration opens the tainted node.
    pod(
        &k,
        "tolerant",
        "100m",
        "  tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]\n",
    );
    assert_eq!(node_of(&k, "tolerant"), "big");

    // Uncordoning lets the waiting pod go.
    k.ok(&["uncordon", "small"]);
    assert_eq!(node_of(&k, "nowhere"), "small");
}
