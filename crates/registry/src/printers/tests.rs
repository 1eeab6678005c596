//! Data-driven printer tests: object JSON and a fixed "now" in, cells out.

use serde_json::{json, Value};

use super::*;

/// 2024-01-01T00:00:00Z.
const NOW: i64 = 1_704_067_200;

/// RFC 3339 timestamp `secs` before NOW.
fn ago(secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(NOW - secs).expect("valid timestamp");
    t.format(&Rfc3339).expect("formattable")
}

/// Cells of one row, " | "-joined; strings raw, numbers and booleans as JSON.
fn render(cells: &[Value]) -> String {
    cells
        .iter()
        .map(|c| match c {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn row(group: &str, plural: &str, obj: &Value) -> String {
    let printer = for_resource(group, plural).expect("printer exists");
    let cells = (printer.row)(obj, NOW);
    assert_eq!(
        cells.len(),
        printer.columns.len(),
        "{group}/{plural}: one cell per column"
    );
    render(&cells)
}

fn check_rows(group: &str, plural: &str, cases: &[(&str, Value, &str)]) {
    for (label, obj, expected) in cases {
        assert_eq!(row(group, plural, obj), *expected, "case {label}");
    }
}

#[test]
fn human_duration_table() {
    let cases: &[(i64, &str)] = &[
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "60s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (659, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 4 * 60, "3h4m"),
        (7 * 3600 + 59 * 60 + 59, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 - 1, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400 + 100 * 86400, "20y"),
    ];
    for (secs, expected) in cases {
        assert_eq!(human_duration(*secs), *expected, "{secs}s");
    }
}

#[test]
fn age_of_timestamps() {
    assert_eq!(age(None, NOW), "<unknown>");
    assert_eq!(age(Some("not a time"), NOW), "<unknown>");
    assert_eq!(age(Some("2023-12-31T23:59:00Z"), NOW), "60s");
    assert_eq!(age(Some("2023-12-31T23:57:30.123456Z"), NOW), "2m30s");
    assert_eq!(age(Some("2024-01-01T01:00:00+01:00"), NOW), "0s");
}

fn pod(status: Value) -> Value {
    json!({
        "metadata": {"name": "p", "creationTimestamp": ago(3600)},
        "spec": {"containers": [{"name": "c"}]},
        "status": status,
    })
}

fn running(name: &str, ready: bool) -> Value {
    json!({"name": name, "ready": ready, "restartCount": 0,
           "state": {"running": {"startedAt": ago(600)}}})
}

fn waiting(name: &str, reason: &str, restarts: i64) -> Value {
    json!({"name": name, "ready": false, "restartCount": restarts,
           "state": {"waiting": {"reason": reason}}})
}

fn terminated(name: &str, reason: Option<&str>, exit_code: i64, signal: i64) -> Value {
    let mut t = json!({"exitCode": exit_code, "finishedAt": ago(60)});
    if let Some(reason) = reason {
        t["reason"] = json!(reason);
    }
    if signal != 0 {
        t["signal"] = json!(signal);
    }
    json!({"name": name, "ready": false, "restartCount": 0, "state": {"terminated": t}})
}

fn with_init(mut p: Value, init_names: &[&str], init_statuses: Vec<Value>) -> Value {
    p["spec"]["initContainers"] =
        Value::Array(init_names.iter().map(|n| json!({"name": n})).collect());
    p["status"]["initContainerStatuses"] = Value::Array(init_statuses);
    p
}

/// The READY | STATUS | RESTARTS matrix of printPod.
#[test]
fn pod_status_matrix() {
    let ready_cond = json!([{"type": "Ready", "status": "True"}]);
    let two = |mut p: Value| {
        p["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
        p
    };
    let crash = {
        let mut c = waiting("c", "CrashLoopBackOff", 5);
        c["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(125)}});
        c
    };
    let deleting = |mut p: Value| {
        p["metadata"]["deletionTimestamp"] = json!(ago(10));
        p
    };
    let sidecar_pod = {
        let mut p = pod(json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{
                "name": "proxy", "ready": true, "started": true, "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}},
            }],
            "containerStatuses": [{
                "name": "c", "ready": true, "restartCount": 2, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}},
            }],
        }));
        p["spec"]["initContainers"] = json!([{"name": "proxy", "restartPolicy": "Always"}]);
        p
    };
    let sidecar_starting = {
        let mut p = pod(json!({
            "phase": "Pending",
            "initContainerStatuses": [{"name": "proxy", "ready": false, "started": false,
                "restartCount": 0, "state": {"running": {}}}],
            "containerStatuses": [waiting("c", "PodInitializing", 0)],
        }));
        p["spec"]["initContainers"] = json!([{"name": "proxy", "restartPolicy": "Always"}]);
        p
    };
    let gated = pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    }));

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "running",
            pod(json!({"phase": "Running", "conditions": ready_cond.clone(),
            "containerStatuses": [running("c", true)]})),
            "1/1 | Running | 0",
        ),
        (
            "pending, no statuses",
            pod(json!({"phase": "Pending"})),
            "0/1 | Pending | 0",
        ),
        (
            "no status at all",
            json!({"metadata": {"name": "p"}}),
            "0/0 |  | 0",
        ),
        (
            "container creating",
            pod(json!({"phase": "Pending",
            "containerStatuses": [waiting("c", "ContainerCreating", 0)]})),
            "0/1 | ContainerCreating | 0",
        ),
        (
            "crash loop with last restart",
            pod(json!({"phase": "Running",
            "containerStatuses": [crash]})),
            "0/1 | CrashLoopBackOff | 5 (2m5s ago)",
        ),
        (
            "image pull backoff",
            pod(json!({"phase": "Pending",
            "containerStatuses": [waiting("c", "ImagePullBackOff", 0)]})),
            "0/1 | ImagePullBackOff | 0",
        ),
        (
            "err image pull",
            pod(json!({"phase": "Pending",
            "containerStatuses": [waiting("c", "ErrImagePull", 0)]})),
            "0/1 | ErrImagePull | 0",
        ),
        (
            "completed",
            pod(json!({"phase": "Succeeded",
            "containerStatuses": [terminated("c", Some("Completed"), 0, 0)]})),
            "0/1 | Completed | 0",
        ),
        (
            "error",
            pod(json!({"phase": "Failed",
            "containerStatuses": [terminated("c", Some("Error"), 1, 0)]})),
            "0/1 | Error | 0",
        ),
        (
            "oom killed",
            pod(json!({"phase": "Running",
            "containerStatuses": [terminated("c", Some("OOMKilled"), 137, 0)]})),
            "0/1 | OOMKilled | 0",
        ),
        (
            "exit code without reason",
            pod(json!({"phase": "Failed",
            "containerStatuses": [terminated("c", None, 3, 0)]})),
            "0/1 | ExitCode:3 | 0",
        ),
        (
            "signal without reason",
            pod(json!({"phase": "Failed",
            "containerStatuses": [terminated("c", None, 0, 9)]})),
            "0/1 | Signal:9 | 0",
        ),
        (
            "evicted",
            pod(json!({"phase": "Failed", "reason": "Evicted"})),
            "0/1 | Evicted | 0",
        ),
        (
            "init running",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1", "i2"],
                vec![running("i1", false), waiting("i2", "PodInitializing", 0)],
            ),
            "0/1 | Init:0/2 | 0",
        ),
        (
            "second init running",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1", "i2"],
                vec![
                    terminated("i1", Some("Completed"), 0, 0),
                    running("i2", false),
                ],
            ),
            "0/1 | Init:1/2 | 0",
        ),
        (
            "init crash loop",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1"],
                vec![waiting("i1", "CrashLoopBackOff", 4)],
            ),
            "0/1 | Init:CrashLoopBackOff | 4",
        ),
        (
            "init error",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1"],
                vec![terminated("i1", Some("Error"), 1, 0)],
            ),
            "0/1 | Init:Error | 0",
        ),
        (
            "init exit code",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1"],
                vec![terminated("i1", None, 3, 0)],
            ),
            "0/1 | Init:ExitCode:3 | 0",
        ),
        (
            "init signal",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1"],
                vec![terminated("i1", None, 143, 15)],
            ),
            "0/1 | Init:Signal:15 | 0",
        ),
        // An init container that exited 0 counts as done even if a signal is recorded.
        (
            "init exit 0 with signal",
            with_init(
                pod(json!({"phase": "Pending"})),
                &["i1"],
                vec![terminated("i1", None, 0, 15)],
            ),
            "0/1 | Pending | 0",
        ),
        (
            "pod initializing",
            with_init(
                pod(json!({"phase": "Pending",
            "containerStatuses": [waiting("c", "PodInitializing", 0)]})),
                &["i1"],
                vec![terminated("i1", Some("Completed"), 0, 0)],
            ),
            "0/1 | PodInitializing | 0",
        ),
        (
            "completed but another runs, not ready",
            two(pod(json!({"phase": "Running",
            "containerStatuses": [running("a", true), terminated("b", Some("Completed"), 0, 0)]}))),
            "1/2 | NotReady | 0",
        ),
        (
            "completed but another runs, ready",
            two(pod(json!({"phase": "Running",
            "conditions": ready_cond.clone(),
            "containerStatuses": [running("a", true), terminated("b", Some("Completed"), 0, 0)]}))),
            "1/2 | Running | 0",
        ),
        (
            "running but not ready",
            pod(json!({"phase": "Running",
            "containerStatuses": [running("c", false)]})),
            "0/1 | Running | 0",
        ),
        (
            "terminating",
            deleting(pod(
                json!({"phase": "Running", "conditions": ready_cond.clone(),
            "containerStatuses": [running("c", true)]}),
            )),
            "1/1 | Terminating | 0",
        ),
        (
            "node lost",
            deleting(pod(json!({"phase": "Running", "reason": "NodeLost",
            "containerStatuses": [running("c", true)]}))),
            "1/1 | Unknown | 0",
        ),
        (
            "deleted after success",
            deleting(pod(json!({"phase": "Succeeded",
            "containerStatuses": [terminated("c", Some("Completed"), 0, 0)]}))),
            "0/1 | Completed | 0",
        ),
        ("scheduling gated", gated, "0/1 | SchedulingGated | 0"),
        (
            "sidecar counted in ready and restarts",
            sidecar_pod,
            "2/2 | Running | 3 (5m ago)",
        ),
        (
            "sidecar not started yet",
            sidecar_starting,
            "0/2 | Init:0/1 | 0",
        ),
    ];
    for (label, obj, expected) in cases {
        let summary = pods::summarize(&obj, NOW);
        let got = format!(
            "{} | {} | {}",
            summary.ready, summary.status, summary.restarts
        );
        assert_eq!(got, expected, "case {label}");
    }
}

#[test]
fn pod_rows_with_wide_cells() {
    let p = json!({
        "metadata": {"name": "web-1", "creationTimestamp": ago(300)},
        "spec": {"containers": [{"name": "c"}], "nodeName": "n1",
                 "readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                   "conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}],
                   "containerStatuses": [running("c", true)]},
    });
    check_rows(
        "",
        "pods",
        &[
            (
                "wide",
                p,
                "web-1 | 1/1 | Running | 0 | 5m | 10.0.0.5 | n1 | <none> | 1/2",
            ),
            (
                "bare",
                json!({}),
                " | 0/0 |  | 0 | <unknown> | <none> | <none> | <none> | <none>",
            ),
        ],
    );
}

#[test]
fn services() {
    let svc = |spec: Value, status: Value| json!({"metadata": {"name": "s", "creationTimestamp": ago(90)}, "spec": spec, "status": status});
    check_rows("", "services", &[
        ("cluster ip", svc(json!({"type": "ClusterIP", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            "selector": {"k8s-app": "dns", "a": "b"}}), json!({})),
            "s | ClusterIP | 10.96.0.10 | <none> | 53/UDP,53/TCP | 90s | a=b,k8s-app=dns"),
        ("node port", svc(json!({"type": "NodePort", "clusterIPs": ["10.96.0.11"],
            "externalIPs": ["1.2.3.4"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}), json!({})),
            "s | NodePort | 10.96.0.11 | 1.2.3.4 | 80:30080/TCP | 90s | <none>"),
        ("headless, no ports", svc(json!({"type": "ClusterIP", "clusterIPs": ["None"]}), json!({})),
            "s | ClusterIP | None | <none> | <none> | 90s | <none>"),
        ("load balancer pending", svc(json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"],
            "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}), json!({})),
            "s | LoadBalancer | 10.0.0.1 | <pending> | 443:31443/TCP | 90s | <none>"),
        ("load balancer with ingress", svc(json!({"type": "LoadBalancer",
            "clusterIPs": ["10.0.0.1"], "externalIPs": ["9.9.9.9"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"},
                {"ip": "1.2.3.4"}, {"ip": "1.2.3.4"}]}})),
            "s | LoadBalancer | 10.0.0.1 | 1.2.3.4,5.6.7.8,lb.example.com,9.9.9.9 | <none> | 90s | <none>"),
        ("external name", svc(json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({})), "s | ExternalName | <none> | db.example.com | <none> | 90s | <none>"),
        ("no type", svc(json!({}), json!({})), "s |  | <none> | <unknown> | <none> | 90s | <none>"),
    ]);
}

fn deployment(replicas: Value, status: Value, selector: Value) -> Value {
    json!({
        "metadata": {"name": "web", "creationTimestamp": ago(7200)},
        "spec": {"replicas": replicas, "selector": selector, "template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}},
        "status": status,
    })
}

#[test]
fn deployments() {
    check_rows("apps", "deployments", &[
        ("ready", deployment(json!(3),
            json!({"readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            json!({"matchLabels": {"app": "web"}})),
            "web | 3/3 | 3 | 3 | 120m | nginx,log | nginx:1.25,busybox | app=web"),
        ("rolling", deployment(json!(3), json!({"readyReplicas": 1, "updatedReplicas": 2}),
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"}]})),
            "web | 1/3 | 2 | 0 | 120m | nginx,log | nginx:1.25,busybox | app=web,!canary,tier in (api,web),zone"),
        ("empty selector prints empty", deployment(json!(0), json!({}), json!({})),
            "web | 0/0 | 0 | 0 | 120m | nginx,log | nginx:1.25,busybox | "),
        ("invalid selector", deployment(json!(1), json!({}),
            json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "web | 0/1 | 0 | 0 | 120m | nginx,log | nginx:1.25,busybox | <invalid>"),
    ]);
}

#[test]
fn other_workloads() {
    let meta = json!({"name": "w", "creationTimestamp": ago(30)});
    check_rows(
        "apps",
        "replicasets",
        &[(
            "rs",
            json!({"metadata": meta,
        "spec": {"replicas": 2, "selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1}}),
            "w | 2 | 2 | 1 | 30s | c | i | <none>",
        )],
    );
    check_rows(
        "apps",
        "statefulsets",
        &[(
            "sts",
            json!({"metadata": meta,
        "spec": {"replicas": 3}, "status": {"readyReplicas": 2}}),
            "w | 2/3 | 30s |  | ",
        )],
    );
    check_rows(
        "apps",
        "daemonsets",
        &[(
            "ds",
            json!({"metadata": meta,
        "spec": {"selector": {"matchLabels": {"app": "x"}},
                 "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                   "updatedNumberScheduled": 2, "numberAvailable": 1}}),
            "w | 2 | 2 | 1 | 2 | 1 | kubernetes.io/os=linux | 30s |  |  | app=x",
        )],
    );
    check_rows(
        "",
        "replicationcontrollers",
        &[(
            "rc",
            json!({"metadata": meta,
        "spec": {"replicas": 1, "selector": {"app": "x"}}}),
            "w | 1 | 0 | 0 | 30s |  |  | app=x",
        )],
    );
    check_rows(
        "apps",
        "controllerrevisions",
        &[(
            "cr",
            json!({"metadata": {"name": "w-1",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "w", "controller": true}]},
        "revision": 4}),
            "w-1 | daemonset.apps/w | 4 | <unknown>",
        )],
    );
    check_rows(
        "policy",
        "poddisruptionbudgets",
        &[(
            "pdb",
            json!({"metadata": meta,
        "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}),
            "w | 50% | N/A | 1 | 30s",
        )],
    );
    check_rows(
        "",
        "podtemplates",
        &[(
            "pt",
            json!({"metadata": meta, "template": {
        "metadata": {"labels": {"b": "2", "a": "1"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}}),
            "w | c | i | a=1,b=2",
        )],
    );
}

fn job(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "j", "creationTimestamp": ago(600)}, "spec": spec, "status": status})
}

#[test]
fn jobs() {
    let cond = |t: &str| json!([{"type": t, "status": "True"}]);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "running",
            job(
                json!({"completions": 3}),
                json!({"succeeded": 1, "startTime": ago(150)}),
            ),
            "j | Running | 1/3 | 2m30s | 10m |  |  | <none>",
        ),
        (
            "not started",
            job(json!({}), json!({})),
            "j | Running | 0/1 |  | 10m |  |  | <none>",
        ),
        (
            "parallel without completions",
            job(json!({"parallelism": 4}), json!({})),
            "j | Running | 0/1 of 4 |  | 10m |  |  | <none>",
        ),
        (
            "complete",
            job(
                json!({"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}}}),
                json!({"succeeded": 1, "startTime": ago(500), "completionTime": ago(440),
                   "conditions": cond("Complete")}),
            ),
            "j | Complete | 1/1 | 60s | 10m |  |  | batch.kubernetes.io/controller-uid=u",
        ),
        (
            "failed",
            job(
                json!({"completions": 1}),
                json!({"conditions": cond("Failed")}),
            ),
            "j | Failed | 0/1 |  | 10m |  |  | <none>",
        ),
        (
            "suspended",
            job(json!({}), json!({"conditions": cond("Suspended")})),
            "j | Suspended | 0/1 |  | 10m |  |  | <none>",
        ),
        (
            "failure target",
            job(json!({}), json!({"conditions": cond("FailureTarget")})),
            "j | FailureTarget | 0/1 |  | 10m |  |  | <none>",
        ),
        (
            "success criteria met",
            job(json!({}), json!({"conditions": cond("SuccessCriteriaMet")})),
            "j | SuccessCriteriaMet | 0/1 |  | 10m |  |  | <none>",
        ),
        (
            "false condition ignored",
            job(
                json!({}),
                json!({"conditions": [{"type": "Complete", "status": "False"}]}),
            ),
            "j | Running | 0/1 |  | 10m |  |  | <none>",
        ),
    ];
    check_rows("batch", "jobs", &cases);
    let mut deleting = job(json!({}), json!({"conditions": cond("Suspended")}));
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    check_rows(
        "batch",
        "jobs",
        &[(
            "terminating",
            deleting,
            "j | Terminating | 0/1 |  | 10m |  |  | <none>",
        )],
    );
}

#[test]
fn cron_jobs() {
    check_rows(
        "batch",
        "cronjobs",
        &[
            (
                "fresh",
                json!({"metadata": {"name": "c", "creationTimestamp": ago(60)},
            "spec": {"schedule": "*/5 * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "busybox"}]}}}}}}),
                "c | */5 * * * * | <none> | False | 0 | <none> | 60s | x | busybox | <none>",
            ),
            (
                "scheduled",
                json!({"metadata": {"name": "c", "creationTimestamp": ago(86400)},
            "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC"},
            "status": {"active": [{"name": "c-1"}], "lastScheduleTime": ago(300)}}),
                "c | @hourly | Etc/UTC | <unset> | 1 | 5m | 24h |  |  | <none>",
            ),
        ],
    );
}

#[test]
fn nodes() {
    let node = json!({
        "metadata": {"name": "n1", "creationTimestamp": ago(3 * 86400),
            "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "x",
                       "kubernetes.io/role": "worker", "kubernetes.io/os": "linux"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"},
        },
    });
    check_rows("", "nodes", &[
        ("cordoned control plane", node,
            "n1 | Ready,SchedulingDisabled | control-plane,worker | 3d | v1.37.0 | 192.168.1.10 | <none> | Debian GNU/Linux 12 (bookworm) | 6.1.0 | containerd://1.7.0"),
        ("not ready", json!({"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            "n2 | NotReady | <none> | <unknown> |  | <none> | <none> | <unknown> | <unknown> | <unknown>"),
        ("no conditions", json!({"metadata": {"name": "n3"}}),
            "n3 | Unknown | <none> | <unknown> |  | <none> | <none> | <unknown> | <unknown> | <unknown>"),
    ]);
}

#[test]
fn events() {
    let core = json!({
        "metadata": {"name": "p.17a"},
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "reason": "BackOff", "type": "Warning", "message": "  Back-off restarting failed container\n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 7,
    });
    let series = json!({
        "metadata": {"name": "e2"},
        "involvedObject": {"kind": "Node"},
        "reason": "Starting", "type": "Normal", "message": "m",
        "eventTime": ago(900), "reportingController": "kube-proxy",
        "series": {"count": 3, "lastObservedTime": ago(5)},
    });
    let singleton = json!({"metadata": {"name": "e3"}, "involvedObject": {"kind": "Pod", "name": "q"},
        "reason": "Scheduled", "type": "Normal", "message": "ok", "eventTime": ago(45),
        "reportingController": "default-scheduler", "reportingInstance": "sched-1"});
    check_rows("", "events", &[
        ("core", core, "30s | Warning | BackOff | pod/p | spec.containers{c} | kubelet, n1 | Back-off restarting failed container | 10m | 7 | p.17a"),
        ("series", series, "5s | Normal | Starting | node |  | kube-proxy | m | 15m | 3 | e2"),
        ("singleton", singleton, "45s | Normal | Scheduled | pod/q |  | default-scheduler, sched-1 | ok | 45s | 1 | e3"),
        ("empty", json!({}), "<unknown> |  |  |  |  |  |  | <unknown> | 1 | "),
    ]);
    let v1 = json!({
        "metadata": {"name": "e4"}, "regarding": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet", "type": "Normal", "note": "Scaled up",
        "eventTime": ago(120), "reportingController": "deployment-controller",
        "deprecatedSource": {"component": "old"}, "deprecatedCount": 2,
    });
    check_rows(
        "events.k8s.io",
        "events",
        &[(
            "v1",
            v1,
            "2m | Normal | ScalingReplicaSet | deployment/web |  | old | Scaled up | 2m | 2 | e4",
        )],
    );
    let columns: Vec<&str> = for_resource("", "events")
        .map(|p| {
            p.columns
                .iter()
                .filter(|c| c.priority == 0)
                .map(|c| c.name)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        columns,
        ["Last Seen", "Type", "Reason", "Object", "Message"]
    );
}

#[test]
fn network_kinds() {
    let meta = json!({"name": "x", "creationTimestamp": ago(10)});
    check_rows(
        "",
        "endpoints",
        &[
            ("none", json!({"metadata": meta}), "x | <none> | 10s"),
            (
                "many",
                json!({"metadata": meta, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]}]}),
                "x | 10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more... | 10s",
            ),
            (
                "ipv6",
                json!({"metadata": meta, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]}),
                "x | [fd00::1]:53 | 10s",
            ),
        ],
    );
    check_rows(
        "discovery.k8s.io",
        "endpointslices",
        &[
            (
                "slice",
                json!({"metadata": meta, "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "http"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]}),
                "x | IPv4 | 80,http,* | 10.0.0.1,10.0.0.2,10.0.0.3 + 1 more... | 10s",
            ),
            (
                "empty",
                json!({"metadata": meta}),
                "x |  | <unset> | <unset> | 10s",
            ),
        ],
    );
    check_rows(
        "networking.k8s.io",
        "ingresses",
        &[
            (
                "ingress",
                json!({"metadata": meta, "spec": {"ingressClassName": "nginx", "tls": [{}],
            "rules": [{"host": "a.example"}, {}, {"host": "b.example"}, {"host": "c.example"}, {"host": "d.example"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
                "x | nginx | a.example,b.example,c.example + 2 more... | 1.2.3.4 | 80, 443 | 10s",
            ),
            (
                "bare",
                json!({"metadata": meta}),
                "x | <none> | * |  | 80 | 10s",
            ),
        ],
    );
    check_rows(
        "networking.k8s.io",
        "ingressclasses",
        &[(
            "class",
            json!({"metadata": meta,
        "spec": {"controller": "k8s.io/ingress-nginx",
                 "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}}),
            "x | k8s.io/ingress-nginx | IngressParameters.k8s.example.com/p | 10s",
        )],
    );
    check_rows(
        "networking.k8s.io",
        "networkpolicies",
        &[
            (
                "all pods",
                json!({"metadata": meta, "spec": {"podSelector": {}}}),
                "x | <none> | 10s",
            ),
            (
                "some pods",
                json!({"metadata": meta, "spec": {"podSelector": {"matchLabels": {"role": "db"}}}}),
                "x | role=db | 10s",
            ),
        ],
    );
    check_rows(
        "networking.k8s.io",
        "ipaddresses",
        &[(
            "ip",
            json!({"metadata": meta,
        "spec": {"parentRef": {"group": "", "resource": "services", "namespace": "default", "name": "kubernetes"}}}),
            "x | services/default/kubernetes",
        )],
    );
    check_rows(
        "networking.k8s.io",
        "servicecidrs",
        &[(
            "cidr",
            json!({"metadata": meta,
        "spec": {"cidrs": ["10.96.0.0/12", "fd00::/108"]}}),
            "x | 10.96.0.0/12,fd00::/108 | 10s",
        )],
    );
}

#[test]
fn config_and_storage_kinds() {
    let meta = json!({"name": "x", "creationTimestamp": ago(10)});
    check_rows(
        "",
        "secrets",
        &[(
            "secret",
            json!({"metadata": meta, "type": "Opaque",
        "data": {"a": "", "b": ""}}),
            "x | Opaque | 2 | 10s",
        )],
    );
    check_rows(
        "",
        "configmaps",
        &[(
            "cm",
            json!({"metadata": meta, "data": {"a": "1"},
        "binaryData": {"b": ""}}),
            "x | 2 | 10s",
        )],
    );
    check_rows(
        "",
        "serviceaccounts",
        &[("sa", json!({"metadata": meta}), "x | 0 | 10s")],
    );
    check_rows(
        "",
        "namespaces",
        &[(
            "ns",
            json!({"metadata": meta, "status": {"phase": "Active"}}),
            "x | Active | 10s",
        )],
    );
    check_rows(
        "",
        "resourcequotas",
        &[(
            "quota",
            json!({"metadata": meta, "status": {
        "hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1", "limits.memory": "1Gi"},
        "used": {"pods": "3", "requests.cpu": "500m"}}}),
            "x | pods: 3/10, requests.cpu: 500m/1 | limits.cpu: 0/2, limits.memory: 0/1Gi | 10s",
        )],
    );
    check_rows("", "persistentvolumes", &[("pv", json!({"metadata": meta,
        "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                 "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}}),
        "x | 5Gi | RWO,RWX | Retain | Bound | default/data | fast | <unset> |  | 10s | Filesystem")]);
    check_rows(
        "",
        "persistentvolumeclaims",
        &[
            (
                "bound",
                json!({"metadata": meta, "spec": {"volumeName": "pv1", "storageClassName": "fast"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}),
                "x | Bound | pv1 | 1Gi | RWO | fast | <unset> | 10s | <unset>",
            ),
            (
                "pending",
                json!({"metadata": meta, "status": {"phase": "Pending"}}),
                "x | Pending |  |  |  |  | <unset> | 10s | <unset>",
            ),
        ],
    );
    check_rows(
        "storage.k8s.io",
        "storageclasses",
        &[(
            "default class",
            json!({"metadata": {
        "name": "standard", "creationTimestamp": ago(10),
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path"}),
            "standard (default) | rancher.io/local-path | Delete | Immediate | false | 10s",
        )],
    );
    check_rows(
        "storage.k8s.io",
        "csidrivers",
        &[(
            "driver",
            json!({"metadata": meta, "spec": {}}),
            "x | true | false | false | <unset> | false | <none> | 10s",
        )],
    );
}

#[test]
fn remaining_kinds() {
    let meta = json!({"name": "x", "creationTimestamp": ago(10)});
    check_rows(
        "autoscaling",
        "horizontalpodautoscalers",
        &[
            (
                "v2",
                json!({"metadata": meta, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Pods", "pods": {"target": {"averageValue": "1k"}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"averageValue": "100Mi"}}}]},
            "status": {"currentReplicas": 2, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}]}}),
                "x | Deployment/web | cpu: 42%/80%, <unknown>/1k + 1 more... | 1 | 5 | 2 | 10s",
            ),
            (
                "v1",
                json!({"metadata": meta, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}}),
                "x | Deployment/web | cpu: <unknown>/50% | <unset> | 3 | 0 | 10s",
            ),
        ],
    );
    check_rows(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        &[(
            "crb",
            json!({"metadata": meta,
        "roleRef": {"kind": "ClusterRole", "name": "admin"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "ops"},
            {"kind": "ServiceAccount", "namespace": "kube-system", "name": "sa"}, {"kind": "User", "name": "bob"}]}),
            "x | ClusterRole/admin | 10s | alice, bob | ops | kube-system/sa",
        )],
    );
    check_rows(
        "certificates.k8s.io",
        "certificatesigningrequests",
        &[(
            "csr",
            json!({"metadata": meta,
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "Zm9v"}}),
            "x | 10s | kubernetes.io/kube-apiserver-client | alice | 24h | Approved,Issued",
        )],
    );
    check_rows(
        "apiregistration.k8s.io",
        "apiservices",
        &[
            (
                "local",
                json!({"metadata": meta, "status": {"conditions": [{"type": "Available", "status": "True"}]}}),
                "x | Local | True | 10s",
            ),
            (
                "remote down",
                json!({"metadata": meta, "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
            "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}),
                "x | kube-system/metrics-server | False (MissingEndpoints) | 10s",
            ),
        ],
    );
    check_rows(
        "resource.k8s.io",
        "resourceclaims",
        &[
            ("pending", json!({"metadata": meta}), "x | pending | 10s"),
            (
                "reserved",
                json!({"metadata": meta, "status": {"allocation": {}, "reservedFor": [{"name": "p"}]}}),
                "x | allocated,reserved | 10s",
            ),
        ],
    );
    check_rows(
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
        &[
            (
                "exempt",
                json!({"metadata": meta, "spec": {"type": "Exempt"}}),
                "x | Exempt | <none> | <none> | <none> | <none> | 10s",
            ),
            (
                "limited",
                json!({"metadata": meta, "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 30,
            "limitResponse": {"type": "Queue", "queuing": {"queues": 64, "handSize": 6, "queueLengthLimit": 50}}}}}),
                "x | Limited | 30 | 64 | 6 | 50 | 10s",
            ),
        ],
    );
    check_rows("admissionregistration.k8s.io", "validatingadmissionpolicybindings", &[
        ("named", json!({"metadata": meta, "spec": {"policyName": "p", "paramRef": {"name": "cfg"}}}), "x | p | */cfg | 10s"),
        ("selector", json!({"metadata": meta, "spec": {"policyName": "p", "paramRef": {"selector": {"matchLabels": {"a": "b"}}}}}),
            "x | p | &LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},} | 10s"),
    ]);
}

/// Every printer: columns well formed, and any object (even a wrong one) prints one cell
/// per column without panicking.
#[test]
fn every_printer_is_total() {
    let odd_objects = [
        json!({}),
        json!(null),
        json!("string"),
        json!({"metadata": {"name": 5, "creationTimestamp": "yesterday"}, "spec": [], "status": "x"}),
        json!({"spec": {"containers": "no", "ports": {}, "selector": [1]}, "status": {"conditions": {}}}),
    ];
    for (group, plural) in PRINTED_RESOURCES {
        let printer = for_resource(group, plural).expect("listed resources have printers");
        assert!(printer
            .columns
            .iter()
            .all(|c| !c.name.is_empty() && !c.type_.is_empty()));
        assert!(
            printer.columns.iter().any(|c| c.format == "name"),
            "{group}/{plural} has a name column"
        );
        for obj in &odd_objects {
            let cells = (printer.row)(obj, NOW);
            assert_eq!(cells.len(), printer.columns.len(), "{group}/{plural}");
        }
    }
    for (group, plural) in [
        ("rbac.authorization.k8s.io", "roles"),
        ("", "limitranges"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("storage.k8s.io", "csistoragecapacities"),
    ] {
        assert!(
            for_resource(group, plural).is_none(),
            "{plural} uses the default table"
        );
    }
}

#[test]
fn selectors_format() {
    assert_eq!(format_labels(None), "<none>");
    assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
    assert_eq!(format_label_selector(None), "<none>");
    assert_eq!(
        format_label_selector(Some(
            &json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]})
        )),
        "<error>"
    );
    assert_eq!(
        format_label_selector(Some(
            &json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]})
        )),
        "env notin (prod)"
    );
}
