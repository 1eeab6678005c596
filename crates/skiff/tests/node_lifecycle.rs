//! Node lifecycle: a node whose heartbeats stop goes Unknown, is tainted unreachable, and
//! its pods are evicted after their toleration and recreated elsewhere; new nodes get a
//! pod range from the cluster CIDR.

use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server, Sim};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    let out = k.run(args);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx:1}]
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
";

#[test]
fn silent_node_goes_unknown_and_its_pods_move() {
    let server = Server::start_with(
        bin(),
        &[
            "--node-monitor-grace-period",
            "4s",
            "--node-monitor-period",
            "1s",
        ],
    );
    let k = server.kubectl();
    // Two simulators so one can "lose power" while the other keeps running; separate
    // cluster ranges keep their pod IPs apart.
    let mut lost = Sim::start(
        &server,
        1,
        &["--name-prefix", "a-", "--cluster-cidr", "10.44.0.0/16"],
    );
    let _kept = Sim::start(&server, 2, &["--name-prefix", "b-"]);
    let ready = "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=='Ready')].status} {end}";
    eventually(
        "3 Ready nodes",
        Duration::from_secs(30),
        || get(&k, &["get", "nodes", "-o", ready]),
        |s| s.matches("=True").count() == 3,
    );

    // Pods land on a-0 only, then the other nodes open up again.
    k.ok(&["cordon", "b-0", "b-1"]);
    k.ok_stdin(&["apply", "-f", "-"], RS);
    let placed = "jsonpath={range .items[*]}{.spec.nodeName}:{.status.phase} {end}";
    eventually(
        "2 pods running on a-0",
        Duration::from_secs(30),
        || get(&k, &["get", "pods", "-l", "app=web", "-o", placed]),
        |s| s.matches("a-0:Running").count() == 2,
    );
    k.ok(&["uncordon", "b-0", "b-1"]);

    lost.kill();
    eventually(
        "a-0 Unknown",
        Duration::from_secs(20),
        || {
            get(&k, &["get", "node", "a-0", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}/{.status.conditions[?(@.type=='Ready')].reason}"])
        },
        |s| s == "Unknown/NodeStatusUnknown",
    );
    let taints = eventually(
        "unreachable taints",
        Duration::from_secs(10),
        || {
            get(
                &k,
                &[
                    "get",
                    "node",
                    "a-0",
                    "-o",
                    "jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}",
                ],
            )
        },
        |s| s.contains("node.kubernetes.io/unreachable:NoExecute"),
    );
    assert!(
        taints.contains("node.kubernetes.io/unreachable:NoSchedule"),
        "{taints}"
    );
    assert!(
        get(&k, &["get", "nodes"]).contains("NotReady"),
        "kubectl shows NotReady"
    );

    // After the 2 s toleration the pods are evicted and the ReplicaSet replaces them.
    let moved = eventually(
        "2 pods running on b nodes",
        Duration::from_secs(30),
        || {
            get(&k, &["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.nodeName}:{.status.phase}:{.metadata.deletionTimestamp} {end}"])
        },
        |s| {
            s.split(' ')
                .filter(|p| p.starts_with("b-") && p.ends_with(":Running:"))
                .count()
                == 2
        },
    );
    assert!(
        moved.contains("a-0"),
        "evicted pods stay Terminating on the dead node: {moved}"
    );
    let reasons = get(&k, &["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='DisruptionTarget')].reason} {end}"]);
    assert!(reasons.contains("DeletionByTaintManager"), "{reasons}");
}

#[test]
fn pods_get_default_tolerations_and_nodes_get_ranges() {
    let server = Server::start(bin());
    let k = server.kubectl();
    k.ok(&["run", "p", "--image=nginx:1"]);
    let tolerations = get(
        &k,
        &[
            "get",
            "pod",
            "p",
            "-o",
            "jsonpath={range .spec.tolerations[*]}{.key}:{.effect}:{.tolerationSeconds} {end}",
        ],
    );
    assert_eq!(
        tolerations,
        "node.kubernetes.io/not-ready:NoExecute:300 node.kubernetes.io/unreachable:NoExecute:300"
    );

    // Nodes registered without a range get the lowest free ones, skipping taken ones.
    k.ok_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata: {name: taken}\nspec: {podCIDR: 10.42.0.0/24, podCIDRs: [10.42.0.0/24]}\n");
    for name in ["n1", "n2"] {
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"),
        );
    }
    let ranges = eventually(
        "pod ranges",
        Duration::from_secs(10),
        || {
            get(
                &k,
                &[
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}",
                ],
            )
        },
        |s| !s.contains("= ") && !s.ends_with('='),
    );
    let mut got: Vec<&str> = ranges.split_whitespace().collect();
    got.sort();
    assert_eq!(got.len(), 3, "{ranges}");
    let cidrs: std::collections::BTreeSet<&str> = got
        .iter()
        .filter_map(|s| s.split_once('=').map(|(_, c)| c))
        .collect();
    assert_eq!(
        cidrs.into_iter().collect::<Vec<_>>(),
        ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"],
        "{ranges}"
    );

    // A deleted node's range is free again: the next node gets it.
    k.ok(&["delete", "node", "taken"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata: {name: n3}\n",
    );
    eventually(
        "n3 to get the range the deleted node held",
        Duration::from_secs(10),
        || get(&k, &["get", "node", "n3", "-o", "jsonpath={.spec.podCIDR}"]),
        |c| c == "10.42.0.0/24",
    );
}
