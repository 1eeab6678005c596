//! The ReplicaSet controller, driven through the API with kubectl: pods created, scaled,
//! replaced, adopted and released, and the status counts following them.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx:1}]
";

fn rs_manifest(replicas: u32) -> String {
    RS.replace("REPLICAS", &replicas.to_string())
}

/// Polls `probe` until `want` holds of its result; panics with the last result otherwise.
fn eventually<T: std::fmt::Debug>(
    what: &str,
    probe: impl Fn() -> T,
    want: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
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

/// `name ownerKind ownerName controller` for each pod labelled app=web.
fn pods(k: &Kubectl) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}{"\n"}{end}"#,
    ]);
    out.lines().map(str::to_string).collect()
}

fn status_field(k: &Kubectl, field: &str) -> String {
    k.ok(&[
        "get",
        "replicaset",
        "web",
        "-o",
        &format!("jsonpath={{.status.{field}}}"),
    ])
}

fn owned_count(k: &Kubectl, n: usize) -> Vec<String> {
    eventually(
        &format!("{n} pods owned by web"),
        || pods(k),
        |p| p.len() == n && p.iter().all(|l| l.ends_with(" ReplicaSet web true")),
    )
}

#[test]
fn replicaset_creates_scales_and_replaces_pods() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], &rs_manifest(3));
    let three = owned_count(&k, 3);
    for line in &three {
        let name = line.split(' ').next().unwrap_or("");
        assert!(
            name.starts_with("web-") && name.len() == "web-".len() + 5,
            "{name}"
        );
    }
    eventually(
        "status.replicas 3",
        || status_field(&k, "replicas"),
        |r| r == "3",
    );

    k.ok(&["scale", "replicaset", "web", "--replicas=5"]);
    owned_count(&k, 5);
    eventually(
        "status.replicas 5",
        || status_field(&k, "replicas"),
        |r| r == "5",
    );

    k.ok(&["scale", "replicaset", "web", "--replicas=1"]);
    let one = owned_count(&k, 1);
    eventually(
        "status.replicas 1",
        || status_field(&k, "replicas"),
        |r| r == "1",
    );
    let observed = status_field(&k, "observedGeneration");
    let generation = k.ok(&[
        "get",
        "replicaset",
        "web",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(observed, generation);

    // A deleted pod is replaced by a new one.
    let victim = one[0].split(' ').next().unwrap_or("").to_string();
    k.ok(&["delete", "pod", &victim]);
    let replaced = eventually(
        "a replacement pod",
        || pods(&k),
        |p| p.len() == 1 && !p[0].starts_with(&format!("{victim} ")),
    );
    assert!(
        replaced[0].ends_with(" ReplicaSet web true"),
        "{replaced:?}"
    );
}

#[test]
fn replicaset_adopts_orphans_and_releases_pods_that_stop_matching() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: orphan, labels: {app: web}}\nspec:\n  containers: [{name: c, image: nginx:1}]\n",
    );
    k.ok_stdin(&["apply", "-f", "-"], &rs_manifest(2));
    let two = owned_count(&k, 2);
    assert!(
        two.iter().any(|l| l == "orphan ReplicaSet web true"),
        "{two:?}"
    );
    let block = k.ok(&[
        "get",
        "pod",
        "orphan",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].blockOwnerDeletion} {.metadata.ownerReferences[0].apiVersion}",
    ]);
    assert_eq!(block, "true apps/v1");
    // Give the controller a moment to overshoot, should it be going to.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(pods(&k).len(), 2, "{:?}", pods(&k));

    // Relabelled out of the selector: released and replaced.
    k.ok(&["label", "pod", "orphan", "app=other", "--overwrite"]);
    eventually(
        "orphan released",
        || {
            k.ok(&[
                "get",
                "pod",
                "orphan",
                "-o",
                "jsonpath={.metadata.ownerReferences}",
            ])
        },
        |refs| refs.is_empty() || refs == "[]",
    );
    let after = owned_count(&k, 2);
    assert!(!after.iter().any(|l| l.starts_with("orphan ")), "{after:?}");
}

#[test]
fn replicaset_counts_ready_pods() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], &rs_manifest(2));
    let two = owned_count(&k, 2);
    eventually(
        "status.replicas 2",
        || status_field(&k, "replicas"),
        |r| r == "2",
    );
    assert_eq!(status_field(&k, "readyReplicas"), "0");
    let first = two[0].split(' ').next().unwrap_or("").to_string();
    k.ok(&[
        "patch",
        "pod",
        &first,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
    ]);
    eventually(
        "readyReplicas 1",
        || status_field(&k, "readyReplicas"),
        |r| r == "1",
    );
    assert_eq!(status_field(&k, "availableReplicas"), "1");
    assert_eq!(status_field(&k, "fullyLabeledReplicas"), "2");
}

#[test]
fn replicationcontroller_keeps_its_pods() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx:1}]
",
    );
    eventually(
        "2 pods owned by the replication controller",
        || pods(&k),
        |p| {
            p.len() == 2
                && p.iter()
                    .all(|l| l.ends_with(" ReplicationController web true"))
        },
    );
    eventually(
        "rc status.replicas 2",
        || {
            k.ok(&[
                "get",
                "replicationcontroller",
                "web",
                "-o",
                "jsonpath={.status.replicas}",
            ])
        },
        |r| r == "2",
    );
    k.ok(&["scale", "replicationcontroller", "web", "--replicas=0"]);
    eventually("no pods", || pods(&k), |p| p.is_empty());
}
