//! The Job and TTL-after-finished controllers, driven with kubectl against simulated nodes
//! whose pods succeed or fail as their `sim.skiff.dev/behavior` annotation says.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// `skiff sim` as a child process, killed when the test ends.
struct Sim {
    child: Child,
    log: PathBuf,
}

impl Sim {
    fn start(server: &Server, k: &Kubectl) -> Sim {
        let log = server.data_dir().join("sim.log");
        let child = Command::new(bin())
            .args(["sim", "--server", &server.url(), "--token", "x"])
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .args(["--nodes", "2"])
            .env("SKIFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sim log"))
            .spawn()
            .expect("start skiff sim");
        let sim = Sim { child, log };
        eventually("a Ready node", Duration::from_secs(30), || {
            let out = get(k, &["get", "nodes", "--no-headers"]);
            out.lines()
                .any(|l| l.split_whitespace().nth(1) == Some("Ready"))
                .then_some(())
                .ok_or(out)
        });
        sim
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("sim log:\n{log}");
        }
    }
}

/// Polls `probe` until it returns `Ok`; panics with the last `Err` after `timeout`.
fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out waiting for {what}; last seen:\n{last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

fn jsonpath(k: &Kubectl, what: &str, path: &str) -> String {
    get(k, &["get", what, "-o", &format!("jsonpath={path}")])
}

/// A Job whose pods do `behavior` on the simulated nodes; `extra` is spliced into spec.
fn job_yaml(name: &str, behavior: &str, extra: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
{extra}
  template:
    metadata:
      annotations: {{sim.skiff.dev/behavior: \"{behavior}\"}}
    spec:
      restartPolicy: Never
      containers: [{{name: main, image: busybox}}]
"
    )
}

fn condition(k: &Kubectl, job: &str, type_: &str) -> String {
    jsonpath(
        k,
        &format!("job/{job}"),
        &format!("{{.status.conditions[?(@.type==\"{type_}\")].status}} {{.status.conditions[?(@.type==\"{type_}\")].reason}}"),
    )
}

#[test]
fn completions_with_bounded_parallelism() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let _sim = Sim::start(&server, &k);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "five",
            "succeed-after=2s",
            "  completions: 5\n  parallelism: 2",
        ),
    );

    // Watch the pods while the Job runs: never more than 2 at once.
    let mut most_active = 0;
    eventually("the job to complete", Duration::from_secs(60), || {
        let phases = get(
            &k,
            &[
                "get",
                "pods",
                "-l",
                "batch.kubernetes.io/job-name=five",
                "-o",
                r#"jsonpath={range .items[*]}{.status.phase}/{.metadata.deletionTimestamp}{"\n"}{end}"#,
            ],
        );
        let active = phases
            .lines()
            .filter(|l| matches!(*l, "Pending/" | "Running/" | "/"))
            .count();
        most_active = most_active.max(active);
        let c = condition(&k, "five", "Complete");
        (c == "True CompletionsReached")
            .then_some(())
            .ok_or(format!("{c}\n{phases}"))
    });
    assert!(most_active <= 2, "{most_active} pods ran at once");
    assert!(most_active >= 1);
    k.ok(&[
        "wait",
        "--for=condition=complete",
        "job/five",
        "--timeout=30s",
    ]);

    let counts = jsonpath(
        &k,
        "job/five",
        "{.status.succeeded} {.status.failed} {.status.active} {.status.uncountedTerminatedPods}",
    );
    assert_eq!(counts, "5 0 0 {}");
    assert!(!jsonpath(&k, "job/five", "{.status.completionTime}").is_empty());
    assert_eq!(
        condition(&k, "five", "SuccessCriteriaMet"),
        "True CompletionsReached"
    );
    let row = k.ok(&["get", "job", "five", "--no-headers"]);
    assert!(row.contains("Complete") && row.contains("5/5"), "{row}");

    // Every pod: owned by the Job, labelled, counted (finalizer gone).
    let pods = get(
        &k,
        &[
            "get",
            "pods",
            "-l",
            "job-name=five",
            "-o",
            r#"jsonpath={range .items[*]}{.status.phase} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller} {.metadata.labels.batch\.kubernetes\.io/controller-uid} [{.metadata.finalizers}]{"\n"}{end}"#,
        ],
    );
    let uid = jsonpath(&k, "job/five", "{.metadata.uid}");
    let want = format!("Succeeded Job/five/true {uid} [");
    assert_eq!(pods.lines().count(), 5, "{pods}");
    assert!(
        pods.lines()
            .all(|l| l.starts_with(&want) && !l.contains("job-tracking")),
        "{pods}"
    );

    // Settled: no sync keeps rewriting the finished Job.
    let rv = jsonpath(&k, "job/five", "{.metadata.resourceVersion}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(jsonpath(&k, "job/five", "{.metadata.resourceVersion}"), rv);

    let events = k.ok(&["describe", "job", "five"]);
    for want in [
        "SuccessfulCreate",
        "Created pod: five-",
        "Completed",
        "Job completed",
    ] {
        assert!(events.contains(want), "{want} in:\n{events}");
    }
}

#[test]
fn failing_pods_exhaust_the_backoff_limit() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let _sim = Sim::start(&server, &k);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("doomed", "fail-after=1s,code=2", "  backoffLimit: 1"),
    );
    // One failure, a 10 s backoff, the second failure.
    eventually("the job to fail", Duration::from_secs(60), || {
        let c = condition(&k, "doomed", "Failed");
        (c == "True BackoffLimitExceeded").then_some(()).ok_or(c)
    });
    k.ok(&[
        "wait",
        "--for=condition=failed",
        "job/doomed",
        "--timeout=10s",
    ]);
    let msg = jsonpath(
        &k,
        "job/doomed",
        r#"{.status.conditions[?(@.type=="Failed")].message}"#,
    );
    assert_eq!(msg, "Job has reached the specified backoff limit");
    assert_eq!(
        condition(&k, "doomed", "FailureTarget"),
        "True BackoffLimitExceeded"
    );
    assert_eq!(
        jsonpath(&k, "job/doomed", "{.status.failed} {.status.active}"),
        "2 0"
    );
    let pods = get(
        &k,
        &["get", "pods", "-l", "job-name=doomed", "--no-headers"],
    );
    assert_eq!(pods.lines().count(), 2, "{pods}");
    let events = k.ok(&["describe", "job", "doomed"]);
    assert!(events.contains("BackoffLimitExceeded"), "{events}");
    let row = k.ok(&["get", "job", "doomed", "--no-headers"]);
    assert!(row.contains("Failed") && row.contains("0/1"), "{row}");
}

#[test]
fn indexed_job_and_ttl_after_finished() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let _sim = Sim::start(&server, &k);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "idx",
            "succeed-after=1s",
            "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
        ),
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("brief", "succeed-after=1s", "  ttlSecondsAfterFinished: 0"),
    );

    eventually(
        "the indexed job to complete",
        Duration::from_secs(60),
        || {
            let c = condition(&k, "idx", "Complete");
            (c == "True CompletionsReached").then_some(()).ok_or(c)
        },
    );
    assert_eq!(
        jsonpath(
            &k,
            "job/idx",
            "{.status.completedIndexes} {.status.succeeded}"
        ),
        "0-2 3"
    );
    let pods = get(
        &k,
        &[
            "get",
            "pods",
            "-l",
            "job-name=idx",
            "--sort-by=.spec.hostname",
            "-o",
            r#"jsonpath={range .items[*]}{.spec.hostname} {.metadata.annotations.batch\.kubernetes\.io/job-completion-index} {.metadata.labels.batch\.kubernetes\.io/job-completion-index}{"\n"}{end}"#,
        ],
    );
    assert_eq!(pods, "idx-0 0 0\nidx-1 1 1\nidx-2 2 2\n");

    // The TTL job is deleted once finished, and its pods with it.
    eventually("the ttl job to go", Duration::from_secs(45), || {
        let out = k.run(&["get", "job", "brief"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.contains("NotFound").then_some(()).ok_or(err)
    });
    eventually("the ttl job's pods to go", Duration::from_secs(30), || {
        let pods = get(&k, &["get", "pods", "-l", "job-name=brief", "--no-headers"]);
        pods.trim().is_empty().then_some(()).ok_or(pods)
    });
}

#[test]
fn suspend_and_resume() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let _sim = Sim::start(&server, &k);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "paused",
            "run",
            "  suspend: true\n  completions: 2\n  parallelism: 2",
        ),
    );
    eventually("the Suspended condition", Duration::from_secs(20), || {
        let c = condition(&k, "paused", "Suspended");
        (c == "True JobSuspended").then_some(()).ok_or(c)
    });
    let pods = get(
        &k,
        &["get", "pods", "-l", "job-name=paused", "--no-headers"],
    );
    assert!(pods.trim().is_empty(), "{pods}");
    assert_eq!(jsonpath(&k, "job/paused", "{.status.startTime}"), "");

    k.ok(&[
        "patch",
        "job",
        "paused",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    eventually("2 running pods", Duration::from_secs(30), || {
        let a = jsonpath(&k, "job/paused", "{.status.active} {.status.ready}");
        (a == "2 2").then_some(()).ok_or(a)
    });
    assert_eq!(condition(&k, "paused", "Suspended"), "False JobResumed");
    assert!(!jsonpath(&k, "job/paused", "{.status.startTime}").is_empty());
    // A running Job at rest is not rewritten by its own syncs.
    let rv = jsonpath(&k, "job/paused", "{.metadata.resourceVersion}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        jsonpath(&k, "job/paused", "{.metadata.resourceVersion}"),
        rv
    );

    // Suspending again deletes the running pods without counting them as failures.
    k.ok(&[
        "patch",
        "job",
        "paused",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    eventually("the pods to go", Duration::from_secs(30), || {
        let pods = get(
            &k,
            &["get", "pods", "-l", "job-name=paused", "--no-headers"],
        );
        let st = jsonpath(&k, "job/paused", "{.status.active} {.status.failed}");
        (pods.trim().is_empty() && st == "0 0")
            .then_some(())
            .ok_or(format!("{st}\n{pods}"))
    });
    assert_eq!(condition(&k, "paused", "Suspended"), "True JobSuspended");
    let events = k.ok(&["describe", "job", "paused"]);
    for want in ["Suspended", "Resumed", "SuccessfulDelete"] {
        assert!(events.contains(want), "{want} in:\n{events}");
    }
}
