//! The Deployment controller driven with kubectl against simulated nodes: rollouts through
//! ReplicaSets, scaling, history and undo, pause and resume, the Recreate strategy, and
//! deletion with and without cascading.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// The simulator child process (nodes whose pods become Running and Ready), killed when
/// the test ends.
struct Sim {
    child: Child,
}

impl Sim {
    fn start(server: &Server, nodes: usize) -> Sim {
        let log: PathBuf = server.data_dir().join("sim.log");
        let child = Command::new(bin())
            .args([
                "sim",
                "--server",
                &server.url(),
                "--token",
                "x",
                "--kubeconfig",
            ])
            .arg(server.kubeconfig())
            .args(["--nodes", &nodes.to_string()])
            .env("SKIFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sim log"))
            .spawn()
            .expect("start skiff sim");
        Sim { child }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server with two simulated nodes.
fn cluster() -> (Server, Sim, Kubectl) {
    let server = Server::start(bin());
    let sim = Sim::start(&server, 2);
    let k = server.kubectl();
    (server, sim, k)
}

/// Polls `probe` until `want` holds of its result; panics with the last result otherwise.
fn eventually<T: std::fmt::Debug>(
    what: &str,
    probe: impl Fn() -> T,
    want: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(40);
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
    let out = k.run(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `name replicas revision image` of every ReplicaSet labelled app=web, sorted by name.
fn replica_sets(k: &Kubectl) -> Vec<String> {
    let out = get(
        k,
        &[
            "get",
            "rs",
            "-l",
            "app=web",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\.kubernetes\.io/revision} {.spec.template.spec.containers[0].image}{"\n"}{end}"#,
        ],
    );
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn field(k: &Kubectl, kind: &str, name: &str, path: &str) -> String {
    get(
        k,
        &["get", kind, name, "-o", &format!("jsonpath={{{path}}}")],
    )
}

fn rollout_status(k: &Kubectl) {
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=40s"]);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
}

fn pod_count(k: &Kubectl) -> usize {
    get(k, &["get", "pods", "-l", "app=web", "--no-headers"])
        .lines()
        .count()
}

#[test]
fn rolling_update_scale_history_and_undo() {
    let (_server, _sim, k) = cluster();
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=3",
    ]);
    rollout_status(&k);
    assert_eq!(
        field(&k, "deployment", "web", ".status.availableReplicas"),
        "3"
    );
    let first = replica_sets(&k);
    assert_eq!(first.len(), 1, "{first:?}");
    let rs1 = first[0].split(' ').next().unwrap_or("").to_string();
    let hash = field(&k, "rs", &rs1, ".metadata.labels.pod-template-hash");
    assert_eq!(rs1, format!("web-{hash}"));
    assert!(
        hash.len() >= 6
            && hash
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    assert_eq!(first[0], format!("{rs1} 3 1 nginx:1"));
    assert_eq!(
        field(
            &k,
            "rs",
            &rs1,
            ".spec.selector.matchLabels.pod-template-hash"
        ),
        hash
    );
    assert_eq!(
        field(
            &k,
            "rs",
            &rs1,
            ".spec.template.metadata.labels.pod-template-hash"
        ),
        hash
    );
    assert_eq!(
        field(
            &k,
            "rs",
            &rs1,
            "range .metadata.ownerReferences[*]}{.kind}/{.name} {.controller} {.blockOwnerDeletion}{end"
        ),
        "Deployment/web true true"
    );
    assert_eq!(
        field(
            &k,
            "deployment",
            "web",
            r".metadata.annotations.deployment\.kubernetes\.io/revision"
        ),
        "1"
    );
    let conds = field(
        &k,
        "deployment",
        "web",
        r#"range .status.conditions[*]}{.type}={.status}/{.reason}: {.message}{"\n"}{end"#,
    );
    assert!(
        conds.contains("Available=True/MinimumReplicasAvailable: Deployment has minimum availability.")
            && conds.contains(&format!(
                "Progressing=True/NewReplicaSetAvailable: ReplicaSet \"{rs1}\" has successfully progressed."
            )),
        "{conds}"
    );
    let events = get(
        &k,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web,reason=ScalingReplicaSet",
            "-o",
            "jsonpath={.items[*].message}",
        ],
    );
    assert!(
        events.contains(&format!("Scaled up replica set {rs1} from 0 to 3")),
        "{events}"
    );

    k.ok(&["scale", "deployment", "web", "--replicas=5"]);
    eventually(
        "5 available",
        || field(&k, "deployment", "web", ".status.availableReplicas"),
        |a| a == "5",
    );
    assert_eq!(replica_sets(&k), vec![format!("{rs1} 5 1 nginx:1")]);

    k.ok(&[
        "annotate",
        "deployment",
        "web",
        "kubernetes.io/change-cause=to v2",
    ]);
    k.ok(&["set", "image", "deployment/web", "*=nginx:2"]);
    rollout_status(&k);
    let second = replica_sets(&k);
    assert_eq!(second.len(), 2, "{second:?}");
    let rs2 = second
        .iter()
        .find(|l| l.ends_with("nginx:2"))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("")
        .to_string();
    assert!(second.contains(&format!("{rs1} 0 1 nginx:1")), "{second:?}");
    assert!(second.contains(&format!("{rs2} 5 2 nginx:2")), "{second:?}");
    assert_eq!(
        field(
            &k,
            "rs",
            &rs2,
            r".metadata.annotations.kubernetes\.io/change-cause"
        ),
        "to v2"
    );
    for (key, want) in [("desired-replicas", "5"), ("max-replicas", "7")] {
        assert_eq!(
            field(
                &k,
                "rs",
                &rs2,
                &format!(r".metadata.annotations.deployment\.kubernetes\.io/{key}")
            ),
            want
        );
    }
    let status = field(
        &k,
        "deployment",
        "web",
        ".status.replicas} {.status.updatedReplicas} {.status.readyReplicas} {.status.availableReplicas} {.status.observedGeneration}/{.metadata.generation",
    );
    let gen = field(&k, "deployment", "web", ".metadata.generation");
    assert_eq!(status, format!("5 5 5 5 {gen}/{gen}"));

    let history = k.ok(&["rollout", "history", "deployment/web"]);
    let rows: Vec<&str> = history
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(
        rows[0].starts_with('1') && rows[1].starts_with('2'),
        "{history}"
    );
    assert!(rows[1].contains("to v2"), "{history}");

    k.ok(&["rollout", "undo", "deployment/web"]);
    eventually(
        "revision 3 on the first ReplicaSet",
        || replica_sets(&k),
        |rss| rss.contains(&format!("{rs1} 5 3 nginx:1")),
    );
    rollout_status(&k);
    let third = replica_sets(&k);
    assert_eq!(
        third,
        {
            let mut want = vec![format!("{rs1} 5 3 nginx:1"), format!("{rs2} 0 2 nginx:2")];
            want.sort();
            want
        },
        "{third:?}"
    );
    assert_eq!(
        field(
            &k,
            "deployment",
            "web",
            ".spec.template.spec.containers[0].image"
        ),
        "nginx:1"
    );
    assert_eq!(
        field(
            &k,
            "deployment",
            "web",
            r".metadata.annotations.deployment\.kubernetes\.io/revision"
        ),
        "3"
    );
    assert_eq!(
        field(
            &k,
            "rs",
            &rs1,
            r".metadata.annotations.deployment\.kubernetes\.io/revision-history"
        ),
        "1"
    );
    // Pods of the rolled-back ReplicaSet terminate gracefully before they are gone.
    eventually("5 pods after undo", || pod_count(&k), |n| *n == 5);
}

#[test]
fn paused_deployment_does_not_roll_out_until_resumed() {
    let (_server, _sim, k) = cluster();
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=2",
    ]);
    rollout_status(&k);
    k.ok(&["rollout", "pause", "deployment/web"]);
    k.ok(&["set", "image", "deployment/web", "*=nginx:2"]);
    // Once the controller has seen the new template, it has decided not to act on it.
    let gen = field(&k, "deployment", "web", ".metadata.generation");
    eventually(
        "the paused template change observed",
        || {
            field(
                &k,
                "deployment",
                "web",
                r#".status.observedGeneration} {.status.conditions[?(@.type=="Progressing")].reason"#,
            )
        },
        |s| s == &format!("{gen} DeploymentPaused"),
    );
    let rss = replica_sets(&k);
    assert_eq!(rss.len(), 1, "{rss:?}");
    assert!(rss[0].ends_with(" 2 1 nginx:1"), "{rss:?}");
    assert_eq!(
        field(
            &k,
            "deployment",
            "web",
            r#".status.conditions[?(@.type=="Progressing")].status"#
        ),
        "Unknown"
    );

    // Scaling still applies while paused.
    k.ok(&["scale", "deployment", "web", "--replicas=3"]);
    eventually(
        "the paused deployment scaled",
        || replica_sets(&k),
        |rss| rss.len() == 1 && rss[0].ends_with(" 3 1 nginx:1"),
    );

    k.ok(&["rollout", "resume", "deployment/web"]);
    rollout_status(&k);
    let rss = replica_sets(&k);
    assert_eq!(rss.len(), 2, "{rss:?}");
    assert!(rss.iter().any(|l| l.ends_with(" 3 2 nginx:2")), "{rss:?}");
    assert!(rss.iter().any(|l| l.ends_with(" 0 1 nginx:1")), "{rss:?}");
}

const RECREATE: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  strategy: {type: Recreate}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1}]
";

#[test]
fn recreate_scales_old_to_zero_before_new_and_orphan_delete_keeps_replica_sets() {
    let (_server, _sim, k) = cluster();
    k.ok_stdin(&["apply", "-f", "-"], RECREATE);
    rollout_status(&k);
    let rs1 = replica_sets(&k)[0]
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string();
    k.ok(&["set", "image", "deployment/web", "*=nginx:2"]);
    rollout_status(&k);
    let rss = replica_sets(&k);
    assert_eq!(rss.len(), 2, "{rss:?}");
    assert!(rss.contains(&format!("{rs1} 0 1 nginx:1")), "{rss:?}");
    let rs2 = rss
        .iter()
        .find(|l| l.ends_with(" 2 2 nginx:2"))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no new ReplicaSet: {rss:?}"))
        .to_string();

    // The old ReplicaSet went to 0 before the new one got any replica.
    let events = get(
        &k,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web,reason=ScalingReplicaSet",
            "--sort-by=.metadata.creationTimestamp",
            "-o",
            r#"jsonpath={range .items[*]}{.message}{"\n"}{end}"#,
        ],
    );
    let down = events.find(&format!("Scaled down replica set {rs1} from 2 to 0"));
    let up = events.find(&format!("Scaled up replica set {rs2} from 0 to 2"));
    assert!(
        matches!((down, up), (Some(d), Some(u)) if d < u),
        "{events}"
    );
    let pods_of_new = get(
        &k,
        &[
            "get",
            "pods",
            "-l",
            &format!("pod-template-hash={}", rs2.trim_start_matches("web-")),
            "--no-headers",
        ],
    );
    assert_eq!(pods_of_new.lines().count(), 2, "{pods_of_new}");

    // Orphaning: the ReplicaSets and their pods stay, without an owner.
    k.ok(&["delete", "deployment", "web", "--cascade=orphan"]);
    eventually(
        "the deployment gone",
        || get(&k, &["get", "deployments", "--no-headers"]),
        |out| out.trim().is_empty(),
    );
    eventually(
        "ReplicaSets released",
        || {
            get(
                &k,
                &[
                    "get",
                    "rs",
                    "-o",
                    r#"jsonpath={range .items[*]}{.metadata.name}:{.metadata.ownerReferences}{"\n"}{end}"#,
                ],
            )
        },
        |out| {
            out.lines().count() == 2 && out.lines().all(|l| l.ends_with(':') || l.ends_with(":[]"))
        },
    );
    eventually("2 orphaned pods", || pod_count(&k), |n| *n == 2);
}

#[test]
fn deleting_a_deployment_removes_its_replica_sets_and_pods() {
    let (_server, _sim, k) = cluster();
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=2",
    ]);
    rollout_status(&k);
    k.ok(&["set", "image", "deployment/web", "*=nginx:2"]);
    rollout_status(&k);
    assert_eq!(replica_sets(&k).len(), 2);
    k.ok(&["delete", "deployment", "web"]);
    eventually(
        "ReplicaSets and pods gone",
        || (replica_sets(&k).len(), pod_count(&k)),
        |n| *n == (0, 0),
    );
}

const NEVER_READY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {sim.skiff.dev/behavior: never-ready}
    spec:
      containers: [{name: web, image: nginx:1}]
";

#[test]
fn rollout_that_never_becomes_ready_exceeds_its_progress_deadline() {
    let (_server, _sim, k) = cluster();
    k.ok_stdin(&["apply", "-f", "-"], NEVER_READY);
    let err = k.fails(&["rollout", "status", "deployment/web", "--timeout=40s"]);
    assert!(
        err.contains("deployment \"web\" exceeded its progress deadline"),
        "{err}"
    );
    let rs = replica_sets(&k)[0]
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string();
    let conds = field(
        &k,
        "deployment",
        "web",
        r#"range .status.conditions[*]}{.type}={.status}/{.reason}: {.message}{"\n"}{end"#,
    );
    assert!(
        conds.contains(&format!(
            "Progressing=False/ProgressDeadlineExceeded: ReplicaSet \"{rs}\" has timed out progressing."
        )) && conds.contains(
            "Available=False/MinimumReplicasUnavailable: Deployment does not have minimum availability."
        ),
        "{conds}"
    );
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let (_server, _sim, k) = cluster();
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=10",
    ]);
    rollout_status(&k);
    // A template whose pods never become ready: the rollout stops at maxSurge 3 and
    // maxUnavailable 2 of 10, old 8 and new 5.
    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"sim.skiff.dev/behavior":"never-ready"}}}}}"#,
    ]);
    let sizes = |k: &Kubectl| -> Vec<String> {
        replica_sets(k)
            .iter()
            .map(|l| l.split(' ').skip(1).take(2).collect::<Vec<_>>().join("@r"))
            .collect()
    };
    eventually(
        "the stuck rollout",
        || sizes(&k),
        |s| s.contains(&"8@r1".to_string()) && s.contains(&"5@r2".to_string()),
    );
    // 13 pods were sized for 10 (+3 surge); at 20 (+5 surge) 25 are allowed: the 12
    // more are shared 8:5.
    k.ok(&["scale", "deployment", "web", "--replicas=20"]);
    eventually(
        "proportional scaling",
        || sizes(&k),
        |s| s.contains(&"15@r1".to_string()) && s.contains(&"10@r2".to_string()),
    );
}
