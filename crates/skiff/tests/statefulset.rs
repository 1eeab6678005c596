//! The StatefulSet controller against simulated nodes, driven with kubectl: ordered start,
//! stable names, claims from templates, ordered scale-down, rolling updates from the highest
//! ordinal, and kubectl's rollout commands over ControllerRevisions.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

struct Sim(Child);

impl Sim {
    fn start(server: &Server, nodes: usize) -> Sim {
        let child = Command::new(bin())
            .args(["sim", "--server", &server.url(), "--kubeconfig"])
            .arg(server.kubeconfig())
            .args(["--nodes", &nodes.to_string()])
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

/// Seconds since the epoch of an RFC 3339 UTC time as the API writes it.
fn epoch(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { t[r].parse().expect(t) };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

/// `name uid image ready` per pod of the set, sorted by name.
fn pods(k: &Kubectl) -> Vec<String> {
    let out = get(
        k,
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.spec.containers[0].image} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
        ],
    );
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn names(pods: &[String]) -> Vec<&str> {
    pods.iter().filter_map(|p| p.split(' ').next()).collect()
}

fn all_ready_with(pods: &[String], n: usize, image: &str) -> bool {
    pods.len() == n && pods.iter().all(|p| p.ends_with(&format!("{image} True")))
}

fn created(k: &Kubectl, pod: &str) -> i64 {
    epoch(&k.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.metadata.creationTimestamp}",
    ]))
}

fn ready_at(k: &Kubectl, pod: &str) -> i64 {
    epoch(&k.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].lastTransitionTime}"#,
    ]))
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

fn revision_numbers(k: &Kubectl) -> Vec<i64> {
    let out = k.ok(&[
        "get",
        "controllerrevisions",
        "-o",
        "jsonpath={.items[*].revision}",
    ]);
    let mut v: Vec<i64> = out
        .split_whitespace()
        .map(|n| n.parse().expect(n))
        .collect();
    v.sort();
    v
}

const LOCAL_CLASS: &str = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
";

const STS: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  minReadySeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: 'nginx:1.27'}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      storageClassName: local
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
";

#[test]
fn statefulset_orders_names_claims_and_rolls() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let _sim = Sim::start(&server, 2);
    eventually(
        "2 nodes",
        30,
        || get(&k, &["get", "nodes", "--no-headers"]),
        |o| o.lines().filter(|l| l.contains(" Ready ")).count() == 2,
    );

    // Claims wait for their pod (the scheduler's VolumeBinding), as with local volumes.
    k.ok_stdin(&["apply", "-f", "-"], LOCAL_CLASS);
    k.ok_stdin(&["apply", "-f", "-"], STS);
    let out = k.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );
    let first = eventually(
        "3 ready pods",
        30,
        || pods(&k),
        |p| all_ready_with(p, 3, "nginx:1.27"),
    );
    assert_eq!(names(&first), ["web-0", "web-1", "web-2"]);

    // OrderedReady: each pod is created only after its predecessor has been Ready for
    // minReadySeconds (2 s; times are whole seconds).
    for (prev, next) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let gap = created(&k, next) - ready_at(&k, prev);
        assert!(gap >= 1, "{next} created {gap}s after {prev} was ready");
    }

    // Identity: labels, DNS names, revision label, claims.
    let update_rev = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.updateRevision}",
    ]);
    assert!(update_rev.starts_with("web-"), "{update_rev}");
    let meta = k.ok(&[
        "get",
        "pod",
        "web-1",
        "-o",
        r#"jsonpath={.metadata.labels.statefulset\.kubernetes\.io/pod-name} {.metadata.labels.apps\.kubernetes\.io/pod-index} {.metadata.labels.controller-revision-hash} {.spec.hostname} {.spec.subdomain} {.spec.volumes[0].persistentVolumeClaim.claimName}"#,
    ]);
    assert_eq!(meta, format!("web-1 1 {update_rev} web-1 nginx www-web-1"));
    let claims = k.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "www-web-0 www-web-1 www-web-2");
    // availableReplicas follows readyReplicas by minReadySeconds.
    eventually(
        "status counts",
        10,
        || {
            get(
                &k,
                &[
                    "get",
                    "sts",
                    "web",
                    "-o",
                    "jsonpath={.status.replicas} {.status.readyReplicas} {.status.availableReplicas} {.status.currentReplicas} {.status.updatedReplicas} {.status.observedGeneration}",
                ],
            )
        },
        |s| s == "3 3 3 3 3 1",
    );
    let events = k.ok(&["get", "events", "-o", "jsonpath={.items[*].message}"]);
    assert!(
        events.contains("create Pod web-0 in StatefulSet web successful"),
        "{events}"
    );
    assert!(
        events.contains("create Claim www-web-0 Pod web-0 in StatefulSet web success"),
        "{events}"
    );

    // Settled: the controller no longer writes the StatefulSet.
    let rv = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    let rv2 = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(rv, rv2, "the StatefulSet keeps being written at rest");

    // A deleted pod comes back under the same name.
    let old_uid = first[1].split(' ').nth(1).expect("uid").to_string();
    k.ok(&["delete", "pod", "web-1", "--wait=false"]);
    let back = eventually(
        "web-1 replaced",
        30,
        || pods(&k),
        |p| all_ready_with(p, 3, "nginx:1.27") && !p[1].contains(&old_uid),
    );
    assert_eq!(names(&back), ["web-0", "web-1", "web-2"]);

    // A rolling update replaces the highest ordinal first.
    ok_despite_conflicts(&k, &["set", "image", "statefulset/web", "c=nginx:1.28"]);
    eventually(
        "updated pods",
        60,
        || pods(&k),
        |p| all_ready_with(p, 3, "nginx:1.28"),
    );
    let (c0, c1, c2) = (
        created(&k, "web-0"),
        created(&k, "web-1"),
        created(&k, "web-2"),
    );
    assert!(
        c2 < c1 && c1 < c0,
        "update order by creation: web-0 {c0}, web-1 {c1}, web-2 {c2}"
    );
    let out = k.ok(&["rollout", "status", "statefulset/web", "--timeout=30s"]);
    assert!(out.contains("3 new pods have been updated"), "{out}");
    let history = k.ok(&["rollout", "history", "statefulset/web"]);
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );
    assert_eq!(revision_numbers(&k), [1, 2]);

    // Scale down: web-2 goes before web-1; claims stay (whenScaled: Retain).
    ok_despite_conflicts(&k, &["scale", "statefulset/web", "--replicas=2"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let p = pods(&k);
        let n = names(&p);
        if n == ["web-0", "web-1"] {
            break;
        }
        assert!(Instant::now() < deadline, "scale down stuck: {n:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let claims = k.ok(&["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(claims, "www-web-0 www-web-1 www-web-2");

    // whenScaled: Delete: the scaled-down pod owns its claim, which goes with it.
    ok_despite_conflicts(
        &k,
        &[
            "patch",
            "sts",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenScaled":"Delete"}}}"#,
        ],
    );
    ok_despite_conflicts(&k, &["scale", "statefulset/web", "--replicas=1"]);
    eventually("web-1 gone", 30, || pods(&k), |p| names(p) == ["web-0"]);
    eventually(
        "claim www-web-1 collected",
        30,
        || {
            get(
                &k,
                &["get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"],
            )
        },
        |c| c == "www-web-0 www-web-2",
    );

    // Undo goes back to revision 1's template.
    ok_despite_conflicts(&k, &["rollout", "undo", "statefulset/web"]);
    eventually(
        "rolled back",
        30,
        || pods(&k),
        |p| all_ready_with(p, 1, "nginx:1.27"),
    );
    assert_eq!(revision_numbers(&k), [2, 3]);

    // Deleted with --cascade=orphan and created again, the set adopts its pod and its
    // history: web-0 stays the same pod, and the missing ordinals come back.
    let web0 = pods(&k)[0].clone();
    k.ok(&["delete", "statefulset", "web", "--cascade=orphan"]);
    eventually(
        "revisions orphaned",
        20,
        || {
            get(
                &k,
                &[
                    "get",
                    "controllerrevisions",
                    "-o",
                    "jsonpath={.items[*].metadata.ownerReferences}",
                ],
            )
        },
        |o| !o.contains("uid"),
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &STS.replace("nginx:1.28", "nginx:1.27"),
    );
    let again = eventually(
        "3 pods again",
        60,
        || pods(&k),
        |p| all_ready_with(p, 3, "nginx:1.27"),
    );
    assert_eq!(again[0], web0, "web-0 was replaced instead of adopted");
    assert_eq!(revision_numbers(&k), [2, 3]);
}
