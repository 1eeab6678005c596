//! The CronJob controller: a schedule fires a Job owned by the CronJob, and
//! `kubectl create job --from=cronjob/...` runs one by hand.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out waiting for {what}; last seen:\n{last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

#[test]
fn schedule_fires_a_job() {
    let server = Server::start(bin());
    let k = server.kubectl();
    k.ok(&[
        "create",
        "cronjob",
        "tick",
        "--image=busybox",
        "--schedule=*/1 * * * *",
    ]);
    let cj_uid = k.ok(&["get", "cronjob", "tick", "-o", "jsonpath={.metadata.uid}"]);

    // By hand: kubectl makes the CronJob the owner; the Job controller runs it.
    k.ok(&["create", "job", "manual", "--from=cronjob/tick"]);
    let owner = k.ok(&[
        "get",
        "job",
        "manual",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(owner, "CronJob/tick");
    eventually("a pod for the manual job", Duration::from_secs(20), || {
        let pods = get(
            &k,
            &["get", "pods", "-l", "job-name=manual", "--no-headers"],
        );
        (!pods.trim().is_empty()).then_some(()).ok_or(pods)
    });

    // The schedule: the next minute boundary, at most ~60 s away.
    let (job, scheduled) = eventually("a scheduled job", Duration::from_secs(75), || {
        let out = get(
            &k,
            &[
                "get",
                "jobs",
                "-o",
                r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].uid} {.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}{"\n"}{end}"#,
            ],
        );
        out.lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                ))
            })
            .find(|(name, owner, _)| name.starts_with("tick-") && *owner == cj_uid)
            .map(|(name, _, stamp)| (name, stamp))
            .ok_or(out)
    });
    // Named after the scheduled minute since the epoch.
    let minutes: i64 = job["tick-".len()..].parse().expect("minutes in the name");
    assert!(scheduled.ends_with(":00Z"), "{scheduled}");

    let status = eventually("the cronjob status", Duration::from_secs(15), || {
        let st = k.ok(&[
            "get",
            "cronjob",
            "tick",
            "-o",
            "jsonpath={.status.lastScheduleTime} {.status.active[*].name}",
        ]);
        st.contains(&job).then_some(st.clone()).ok_or(st)
    });
    assert!(status.starts_with(&scheduled), "{status} vs {scheduled}");
    assert!(minutes > 28_000_000, "{minutes}");

    let events = k.ok(&["describe", "cronjob", "tick"]);
    assert!(
        events.contains("SuccessfulCreate") && events.contains(&format!("Created job {job}")),
        "{events}"
    );
    let row = k.ok(&["get", "cronjob", "tick", "--no-headers"]);
    assert!(row.contains("*/1 * * * *"), "{row}");
}
