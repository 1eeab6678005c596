//! `kubectl drain` through the eviction API: a PodDisruptionBudget holds the drain back
//! (429s) until the ReplicaSet's replacements are ready elsewhere, and the budget is
//! never broken.

mod simkit;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use simkit::{bin, get, wait_for, Sim};
use testkit::{Kubectl, Server};

const RS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, image: nginx}]
"#;

/// Pods of the ReplicaSet: (name, node, ready and not being deleted).
fn pods(k: &Kubectl) -> Vec<(String, String, bool)> {
    let out = get(
        k,
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}"#,
        ],
    );
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let healthy = f.get(2) == Some(&"True") && f.get(3).is_none_or(|d| d.is_empty());
            Some((f.first()?.to_string(), f.get(1)?.to_string(), healthy))
        })
        .collect()
}

#[test]
fn drain_respects_the_disruption_budget() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let sim = Sim::start(&server, 3);

    // All three pods on sim-0: the other nodes are cordoned while they are placed.
    k.ok(&["cordon", "sim-1", "sim-2"]);
    k.ok_stdin(&["apply", "-f", "-"], RS);
    wait_for(
        "3 ready pods on sim-0",
        Duration::from_secs(30),
        &sim,
        || {
            let p = pods(&k);
            let ok = p.len() == 3 && p.iter().all(|(_, n, h)| n == "sim-0" && *h);
            (!ok).then(|| format!("{p:?}"))
        },
    );
    k.ok(&["uncordon", "sim-1", "sim-2"]);
    k.ok(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ]);
    wait_for(
        "the budget allows one disruption",
        Duration::from_secs(20),
        &sim,
        || {
            let s = get(&k, &["get", "pdb", "web", "-o", "jsonpath={.status.currentHealthy}/{.status.desiredHealthy}/{.status.expectedPods}/{.status.disruptionsAllowed}"]);
            (s != "3/2/3/1").then_some(s)
        },
    );

    k.ok(&["cordon", "sim-0"]);
    let watching = AtomicBool::new(true);
    let (drain, min_healthy) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let k = server.kubectl();
            let mut min = usize::MAX;
            while watching.load(Ordering::Relaxed) {
                let healthy = pods(&k).iter().filter(|p| p.2).count();
                min = min.min(healthy);
                std::thread::sleep(Duration::from_millis(100));
            }
            min
        });
        let out = k.run(&[
            "drain",
            "sim-0",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=60s",
        ]);
        watching.store(false, Ordering::Relaxed);
        (out, watcher.join().expect("watcher"))
    });
    let stdout = String::from_utf8_lossy(&drain.stdout);
    let stderr = String::from_utf8_lossy(&drain.stderr);
    assert!(drain.status.success(), "drain failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("node/sim-0 drained"), "{stdout}");
    assert!(
        stderr.contains("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."),
        "no eviction was refused:\n{stderr}"
    );
    assert_eq!(stdout.matches(" evicted").count(), 3, "{stdout}");
    assert!(
        min_healthy >= 2,
        "the budget was broken: {min_healthy} healthy pods"
    );

    // Replacements run elsewhere and the budget is whole again.
    wait_for(
        "3 ready pods off sim-0",
        Duration::from_secs(30),
        &sim,
        || {
            let p = pods(&k);
            let ok = p.len() == 3 && p.iter().all(|(_, n, h)| n != "sim-0" && *h);
            (!ok).then(|| format!("{p:?}"))
        },
    );
    wait_for("the budget refilled", Duration::from_secs(20), &sim, || {
        let s = get(
            &k,
            &[
                "get",
                "pdb",
                "web",
                "-o",
                r#"jsonpath={.status.disruptionsAllowed} {.status.conditions[?(@.type=="DisruptionAllowed")].reason}"#,
            ],
        );
        (s != "1 SufficientPods").then_some(s)
    });

    // Two budgets over one pod: the eviction API refuses to choose.
    k.ok(&[
        "create",
        "pdb",
        "web2",
        "--selector=app=web",
        "--max-unavailable=1",
    ]);
    // A healthy pod: evicting one already terminating (the scale-down's) is always allowed.
    let victim = pods(&k)
        .into_iter()
        .find(|p| p.2)
        .map(|p| p.0)
        .expect("a healthy pod");
    let eviction = format!(
        r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{victim}","namespace":"default"}}}}"#
    );
    let path = server.data_dir().join("eviction.json");
    std::fs::write(&path, eviction).expect("write eviction");
    let err = k.fails(&[
        "create",
        "--raw",
        &format!("/api/v1/namespaces/default/pods/{victim}/eviction"),
        "-f",
        path.to_str().expect("path"),
    ]);
    assert!(
        err.contains("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."),
        "{err}"
    );
    k.ok(&["delete", "pdb", "web2"]);

    // With the budget at its minimum, a direct eviction gets 429 and the pod stays.
    k.ok(&["scale", "rs", "web", "--replicas=2"]);
    wait_for(
        "no disruption allowed",
        Duration::from_secs(20),
        &sim,
        || {
            let s = get(
                &k,
                &[
                    "get",
                    "pdb",
                    "web",
                    "-o",
                    "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}",
                ],
            );
            (s != "2/0").then_some(s)
        },
    );
    // (in the older policy/v1beta1 form, which the subresource still takes)
    // A healthy pod: evicting one already terminating (the scale-down's) is always allowed.
    let victim = pods(&k)
        .into_iter()
        .find(|p| p.2)
        .map(|p| p.0)
        .expect("a healthy pod");
    let eviction = format!(
        r#"{{"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{{"name":"{victim}","namespace":"default"}}}}"#
    );
    std::fs::write(&path, eviction).expect("write eviction");
    let err = k.fails(&[
        "create",
        "--raw",
        &format!("/api/v1/namespaces/default/pods/{victim}/eviction"),
        "-f",
        path.to_str().expect("path"),
    ]);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    assert!(get(&k, &["get", "pod", &victim, "-o", "name"]).contains(&victim));
}
