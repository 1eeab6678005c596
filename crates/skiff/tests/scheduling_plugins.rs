//! The scheduler's plugins against simulated nodes: pod anti-affinity, pod affinity,
//! topology spread over zones, extended resources and node selectors, checked through
//! kubectl as a user sees them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server, Sim};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// A pod on the three web nodes (nodeSelector role=web) with `labels` and `extra` spec.
fn web_pod(k: &Kubectl, name: &str, labels: &str, extra: &str) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n  nodeSelector: {{role: web}}\n{extra}  containers:\n  - name: c\n    image: registry.local/pause:1\n"
        ),
    );
}

fn node_of(k: &Kubectl, pod: &str) -> String {
    eventually(
        &format!("{pod} bound"),
        Duration::from_secs(30),
        || k.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]),
        |n| !n.is_empty(),
    )
}

fn pending_message(k: &Kubectl, pod: &str) -> String {
    eventually(
        &format!("{pod} reported unschedulable"),
        Duration::from_secs(30),
        || {
            k.ok(&[
                "get",
                "pod",
                pod,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
            ])
        },
        |m| m.contains("nodes are available"),
    )
}

fn zone_of(k: &Kubectl, node: &str) -> String {
    k.ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.metadata.labels.topology\\.kubernetes\\.io/zone}",
    ])
}

#[test]
fn plugins_place_pods_as_upstream_does() {
    let server = Server::start(bin());
    let k = server.kubectl();
    // Three web nodes in zones a, b, c; one GPU node.
    let _web = Sim::start(
        &server,
        3,
        &["--name-prefix", "web-", "--label", "role=web"],
    );
    let _gpu = Sim::start(
        &server,
        1,
        &[
            "--name-prefix",
            "gpu-",
            "--label",
            "gpu=true",
            "--extended-resource",
            "nvidia.com/gpu=1",
            "--cluster-cidr",
            "10.99.0.0/16",
        ],
    );
    eventually(
        "4 nodes",
        Duration::from_secs(30),
        || k.ok(&["get", "nodes", "--no-headers", "-o", "name"]),
        |out| out.lines().count() == 4,
    );

    // Required anti-affinity on the hostname: one replica per web node, the fourth waits.
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: anti}}\n        topologyKey: kubernetes.io/hostname\n";
    for i in 0..4 {
        web_pod(&k, &format!("anti-{i}"), "app: anti", anti);
    }
    let placed: std::collections::BTreeSet<String> =
        (0..3).map(|i| node_of(&k, &format!("anti-{i}"))).collect();
    assert_eq!(placed.len(), 3, "one per node: {placed:?}");
    assert_eq!(
        pending_message(&k, "anti-3"),
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 3 node(s) didn't match pod anti-affinity rules. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
    );

    // Required affinity on the hostname: followers join the leader's node.
    web_pod(&k, "leader", "app: leader", "");
    let leader = node_of(&k, "leader");
    let follow = "  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: leader}}\n        topologyKey: kubernetes.io/hostname\n";
    for i in 0..2 {
        web_pod(&k, &format!("follower-{i}"), "app: follower", follow);
        assert_eq!(node_of(&k, &format!("follower-{i}")), leader);
    }
    // Affinity to pods that do not exist: unresolvable everywhere.
    let lost = "  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: nobody}}\n        topologyKey: kubernetes.io/hostname\n";
    web_pod(&k, "lost", "app: lost", lost);
    assert_eq!(
        pending_message(&k, "lost"),
        "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 3 node(s) didn't match pod affinity rules. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );

    // Topology spread over the three zones with maxSkew 1: six pods land 2/2/2.
    let spread = "  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: topology.kubernetes.io/zone\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector: {matchLabels: {app: spread}}\n";
    for i in 0..6 {
        web_pod(&k, &format!("spread-{i}"), "app: spread", spread);
    }
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        let node = node_of(&k, &format!("spread-{i}"));
        *per_zone.entry(zone_of(&k, &node)).or_default() += 1;
    }
    assert_eq!(
        per_zone.into_iter().collect::<Vec<_>>(),
        [
            ("zone-a".to_string(), 2),
            ("zone-b".to_string(), 2),
            ("zone-c".to_string(), 2)
        ]
    );

    // An extended resource: only the GPU node has one, and only one.
    let gpu_pod = |name: &str| {
        k.ok_stdin(
            &["create", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: c\n    image: registry.local/cuda:1\n    resources:\n      requests: {{nvidia.com/gpu: 1}}\n      limits: {{nvidia.com/gpu: 1}}\n"
            ),
        )
    };
    gpu_pod("gpu-a");
    assert_eq!(node_of(&k, "gpu-a"), "gpu-0");
    gpu_pod("gpu-b");
    assert_eq!(
        pending_message(&k, "gpu-b"),
        "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."
    );
    let events = eventually(
        "FailedScheduling event",
        Duration::from_secs(20),
        || {
            k.ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=gpu-b,reason=FailedScheduling",
                "-o",
                "jsonpath={.items[*].message}",
            ])
        },
        |m| m.contains("Insufficient nvidia.com/gpu"),
    );
    assert!(events.contains("0/4 nodes are available"), "{events}");
    // Successful placements are announced as upstream words them.
    let scheduled = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=gpu-a,reason=Scheduled",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert_eq!(scheduled, "Successfully assigned default/gpu-a to gpu-0");

    // Freeing the GPU lets the waiting pod in.
    k.ok(&["delete", "pod", "gpu-a", "--wait=false"]);
    assert_eq!(node_of(&k, "gpu-b"), "gpu-0");

    // A plain nodeSelector.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: on-gpu-node}\nspec:\n  nodeSelector: {gpu: \"true\"}\n  containers:\n  - name: c\n    image: registry.local/pause:1\n",
    );
    assert_eq!(node_of(&k, "on-gpu-node"), "gpu-0");

    // Scheduling gates keep a pod out until they are removed; another scheduler's pods
    // are left alone.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: gated}\nspec:\n  schedulingGates: [{name: example.com/wait}]\n  containers:\n  - name: c\n    image: registry.local/pause:1\n",
    );
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: not-ours}\nspec:\n  schedulerName: other-scheduler\n  containers:\n  - name: c\n    image: registry.local/pause:1\n",
    );
    std::thread::sleep(Duration::from_secs(2));
    for p in ["gated", "not-ours"] {
        assert_eq!(
            k.ok(&["get", "pod", p, "-o", "jsonpath={.spec.nodeName}"]),
            "",
            "{p} must stay unscheduled"
        );
    }
    let gated_reason = eventually(
        "the gated pod's condition",
        Duration::from_secs(20),
        || {
            k.ok(&[
                "get",
                "pod",
                "gated",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
            ])
        },
        |r| !r.is_empty(),
    );
    assert_eq!(gated_reason, "SchedulingGated");
    k.ok(&[
        "patch",
        "pod",
        "gated",
        "--type=json",
        "-p",
        "[{\"op\":\"remove\",\"path\":\"/spec/schedulingGates\"}]",
    ]);
    assert!(!node_of(&k, "gated").is_empty());
}
