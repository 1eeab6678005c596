use super::*;
use serde_json::{json, Value};

const NOW: &str = "2024-01-01T00:10:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn job(spec: Value, status: Value) -> Job {
    let mut full = json!({
        "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
        "podReplacementPolicy": "TerminatingOrFailed",
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}},
    });
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    serde_json::from_value(json!({
        "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid"},
        "spec": full, "status": status,
    }))
    .unwrap()
}

/// A pod named after its uid; `state` is `running`, `ready`, `succeeded`, `failed`,
/// `deleting`, with `+fin` for the tracking finalizer and `@N` for a completion index.
fn pod(name: &str, state: &str) -> Pod {
    let fin = state.contains("+fin");
    let index = state.split('@').nth(1).map(|s| s.trim_end_matches("+fin"));
    let base = state.split(['+', '@']).next().unwrap();
    let phase = match base {
        "succeeded" => "Succeeded",
        "failed" => "Failed",
        _ => "Running",
    };
    let mut p = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": name,
            "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": phase, "containerStatuses": [{
            "name": "c", "image": "x", "ready": base == "ready", "restartCount": 0,
            "state": if phase == "Running" { json!({"running": {}}) } else {
                json!({"terminated": {"exitCode": if phase == "Failed" { 2 } else { 0 },
                    "finishedAt": "2024-01-01T00:09:57Z"}})
            },
        }]},
    });
    if base == "ready" {
        p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    }
    if base == "deleting" {
        p["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:09:59Z");
    }
    if fin {
        p["metadata"]["finalizers"] = json!([TRACKING_FINALIZER]);
    }
    if let Some(ix) = index {
        p["metadata"]["annotations"] = json!({indexed::COMPLETION_INDEX: ix});
    }
    serde_json::from_value(p).unwrap()
}

/// The plan in one line per aspect, for table comparison.
fn summary(p: &Plan) -> String {
    let st = &p.status;
    let unc = st.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut out = format!(
        "active={} ready={} terminating={} succeeded={} failed={} uncounted={:?}/{:?}",
        st.active.unwrap_or(-1),
        st.ready.unwrap_or(-1),
        st.terminating.unwrap_or(-1),
        st.succeeded.unwrap_or(-1),
        st.failed.unwrap_or(-1),
        unc.succeeded.unwrap_or_default(),
        unc.failed.unwrap_or_default(),
    );
    if let Some(ix) = &st.completed_indexes {
        out += &format!(" completedIndexes={ix}");
    }
    if let Some(ix) = &st.failed_indexes {
        out += &format!(" failedIndexes={ix:?}");
    }
    out += &format!("\nconditions={:?}", condition_types(st));
    let creates: Vec<String> = p
        .create
        .iter()
        .map(|c| c.index.map_or("pod".into(), |i| format!("#{i}")))
        .collect();
    out += &format!(
        "\ncreate={creates:?} delete={:?} release={:?}",
        p.delete, p.release
    );
    let events: Vec<&str> = p.events.iter().map(|e| e.reason.as_str()).collect();
    out += &format!("\nevents={events:?} requeue={:?}", p.requeue);
    if st.completion_time.is_some() {
        out += " completed";
    }
    out
}

#[test]
fn sync_table() {
    let cases: Vec<(&str, Job, Vec<Pod>, &str)> = vec![
        (
            "new job starts parallelism pods",
            job(json!({"completions": 5, "parallelism": 2}), json!({})),
            vec![],
            "active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[]/[]
conditions=[]
create=[\"pod\", \"pod\"] delete=[] release=[]
events=[] requeue=None",
        ),
        (
            "running pods are counted, ready ones too",
            job(json!({"completions": 5, "parallelism": 2}), json!({})),
            vec![pod("a", "ready+fin"), pod("b", "running+fin")],
            "active=2 ready=1 terminating=0 succeeded=0 failed=0 uncounted=[]/[]
conditions=[]
create=[] delete=[] release=[]
events=[] requeue=None",
        ),
        (
            "a success goes to uncounted and is replaced",
            job(json!({"completions": 5, "parallelism": 2}), json!({})),
            vec![pod("a", "succeeded+fin"), pod("b", "running+fin")],
            "active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[\"a\"]/[]
conditions=[]
create=[\"pod\"] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
        (
            "uncounted pods without finalizer are counted",
            job(
                json!({"completions": 5, "parallelism": 2}),
                json!({"succeeded": 1, "uncountedTerminatedPods": {"succeeded": ["a", "gone"]}}),
            ),
            vec![pod("a", "succeeded"), pod("b", "running+fin"), pod("c", "running+fin")],
            "active=2 ready=0 terminating=0 succeeded=3 failed=0 uncounted=[]/[]
conditions=[]
create=[] delete=[] release=[]
events=[] requeue=None",
        ),
        (
            "only the remaining completions run",
            job(json!({"completions": 5, "parallelism": 3}), json!({"succeeded": 4})),
            vec![],
            "active=0 ready=0 terminating=0 succeeded=4 failed=0 uncounted=[]/[]
conditions=[]
create=[\"pod\"] delete=[] release=[]
events=[] requeue=None",
        ),
        (
            "too many active pods: the unready one goes",
            job(json!({"completions": 5, "parallelism": 1}), json!({})),
            vec![pod("a", "ready+fin"), pod("b", "running+fin")],
            "active=1 ready=1 terminating=1 succeeded=0 failed=0 uncounted=[]/[]
conditions=[]
create=[] delete=[\"b\"] release=[]
events=[\"SuccessfulDelete\"] requeue=None",
        ),
        (
            "a recent failure delays the replacement",
            job(json!({"completions": 1}), json!({})),
            vec![pod("a", "failed+fin")],
            "active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[]/[\"a\"]
conditions=[]
create=[] delete=[] release=[\"a\"]
events=[] requeue=Some(7s)",
        ),
        (
            "past the backoff limit: failure target, running pods deleted and counted",
            job(json!({"completions": 2, "parallelism": 2, "backoffLimit": 0}), json!({})),
            vec![pod("a", "failed+fin"), pod("b", "running+fin")],
            "active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=[]/[\"a\", \"b\"]
conditions=[\"FailureTarget=True BackoffLimitExceeded\"]
create=[] delete=[\"b\"] release=[\"a\", \"b\"]
events=[\"SuccessfulDelete\"] requeue=None",
        ),
        (
            "failure target and every pod counted: Failed",
            job(
                json!({"backoffLimit": 0}),
                json!({"failed": 1, "conditions": [{"type": "FailureTarget", "status": "True",
                    "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
            ),
            vec![pod("a", "failed")],
            "active=0 ready=0 terminating=0 succeeded=0 failed=1 uncounted=[]/[]
conditions=[\"FailureTarget=True BackoffLimitExceeded\", \"Failed=True BackoffLimitExceeded\"]
create=[] delete=[] release=[]
events=[\"BackoffLimitExceeded\"] requeue=None",
        ),
        (
            "all completions counted: success criteria and Complete at once",
            job(json!({"completions": 2}), json!({"succeeded": 2})),
            vec![pod("a", "succeeded"), pod("b", "succeeded")],
            "active=0 ready=0 terminating=0 succeeded=2 failed=0 uncounted=[]/[]
conditions=[\"SuccessCriteriaMet=True CompletionsReached\", \"Complete=True CompletionsReached\"]
create=[] delete=[] release=[]
events=[\"Completed\"] requeue=None completed",
        ),
        (
            "last success still uncounted: criteria met, Complete waits",
            job(json!({"completions": 1}), json!({})),
            vec![pod("a", "succeeded+fin")],
            "active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[\"a\"]/[]
conditions=[\"SuccessCriteriaMet=True CompletionsReached\"]
create=[] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
        (
            "indexed: done indexes recorded, the lowest free index started",
            job(
                json!({"completions": 3, "parallelism": 2, "completionMode": "Indexed"}),
                json!({}),
            ),
            vec![pod("a", "succeeded@0+fin"), pod("b", "running@1+fin")],
            "active=1 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[]/[] completedIndexes=0
conditions=[]
create=[\"#2\"] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
        (
            "indexed: duplicates of an index are deleted",
            job(
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
                json!({"completedIndexes": "0"}),
            ),
            vec![pod("a", "ready@1+fin"), pod("b", "running@1+fin"), pod("c", "running@0+fin")],
            "active=1 ready=1 terminating=2 succeeded=1 failed=0 uncounted=[]/[] completedIndexes=0
conditions=[]
create=[\"#2\"] delete=[\"b\", \"c\"] release=[]
events=[\"SuccessfulDelete\", \"SuccessfulDelete\"] requeue=None",
        ),
        (
            "indexed: all indexes done",
            job(
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
                json!({"completedIndexes": "0-2"}),
            ),
            vec![],
            "active=0 ready=0 terminating=0 succeeded=3 failed=0 uncounted=[]/[] completedIndexes=0-2
conditions=[\"SuccessCriteriaMet=True CompletionsReached\", \"Complete=True CompletionsReached\"]
create=[] delete=[] release=[]
events=[\"Completed\"] requeue=None completed",
        ),
        (
            "success policy ends an indexed job early, leftovers not counted as failed",
            job(
                json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
                    "successPolicy": {"rules": [{"succeededIndexes": "0"}]}}),
                json!({}),
            ),
            vec![pod("a", "succeeded@0+fin"), pod("b", "running@1+fin")],
            "active=0 ready=0 terminating=1 succeeded=1 failed=0 uncounted=[]/[] completedIndexes=0
conditions=[\"SuccessCriteriaMet=True SuccessPolicy\"]
create=[] delete=[\"b\"] release=[\"a\", \"b\"]
events=[\"SuccessfulDelete\"] requeue=None",
        ),
        (
            "per-index backoff: an index failing past its limit is failed",
            job(
                json!({"completions": 2, "parallelism": 2, "completionMode": "Indexed",
                    "backoffLimitPerIndex": 0, "backoffLimit": 2147483647}),
                json!({}),
            ),
            vec![pod("a", "failed@0+fin"), pod("b", "succeeded@1+fin")],
            "active=0 ready=0 terminating=0 succeeded=1 failed=0 uncounted=[]/[\"a\"] completedIndexes=1 failedIndexes=\"0\"
conditions=[\"FailureTarget=True FailedIndexes\"]
create=[] delete=[] release=[\"a\", \"b\"]
events=[] requeue=None",
        ),
        (
            "pod failure policy FailJob",
            job(
                json!({"podFailurePolicy": {"rules": [{"action": "FailJob",
                    "onExitCodes": {"operator": "In", "values": [2]}}]}}),
                json!({}),
            ),
            vec![pod("a", "failed+fin")],
            "active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[]/[\"a\"]
conditions=[\"FailureTarget=True PodFailurePolicy\"]
create=[] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
        (
            "pod failure policy Ignore: not counted, replaced at once",
            job(
                json!({"podFailurePolicy": {"rules": [{"action": "Ignore",
                    "onExitCodes": {"operator": "In", "values": [2]}}]}}),
                json!({}),
            ),
            vec![pod("a", "failed+fin")],
            "active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[]/[]
conditions=[]
create=[\"pod\"] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
        (
            "active deadline passed",
            job(
                json!({"activeDeadlineSeconds": 60}),
                json!({"startTime": "2024-01-01T00:00:00Z"}),
            ),
            vec![pod("a", "running+fin")],
            "active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=[]/[\"a\"]
conditions=[\"FailureTarget=True DeadlineExceeded\"]
create=[] delete=[\"a\"] release=[\"a\"]
events=[\"SuccessfulDelete\"] requeue=None",
        ),
        (
            "active deadline ahead: requeue at it",
            job(
                json!({"activeDeadlineSeconds": 660}),
                json!({"startTime": "2024-01-01T00:00:00Z"}),
            ),
            vec![pod("a", "running+fin")],
            "active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[]/[]
conditions=[]
create=[] delete=[] release=[]
events=[] requeue=Some(60s)",
        ),
        (
            "suspend deletes running pods without counting them",
            job(json!({"suspend": true, "parallelism": 2, "completions": 2}), json!({})),
            vec![pod("a", "running+fin"), pod("b", "deleting+fin")],
            "active=0 ready=0 terminating=2 succeeded=0 failed=0 uncounted=[]/[]
conditions=[\"Suspended=True JobSuspended\"]
create=[] delete=[\"a\"] release=[\"b\", \"a\"]
events=[\"Suspended\", \"SuccessfulDelete\"] requeue=None",
        ),
        (
            "resume: condition false and pods again",
            job(
                json!({"suspend": false}),
                json!({"conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}]}),
            ),
            vec![],
            "active=0 ready=0 terminating=0 succeeded=0 failed=0 uncounted=[]/[]
conditions=[\"Suspended=False JobResumed\"]
create=[\"pod\"] delete=[] release=[]
events=[\"Resumed\"] requeue=None",
        ),
        (
            "a pod deleted while running counts as failed",
            job(json!({}), json!({})),
            vec![pod("a", "deleting+fin")],
            "active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=[]/[\"a\"]
conditions=[]
create=[\"pod\"] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
        (
            "finished jobs let their pods go",
            job(
                json!({}),
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
            ),
            vec![pod("a", "succeeded+fin")],
            "active=-1 ready=-1 terminating=-1 succeeded=1 failed=-1 uncounted=[]/[]
conditions=[\"Complete=True \"]
create=[] delete=[] release=[\"a\"]
events=[] requeue=None",
        ),
    ];
    for (name, job, pods, want) in cases {
        let got = summary(&plan(&job, &pods, now()));
        assert_eq!(
            got, want,
            "case: {name}\n--- got:\n{got}\n--- want:\n{want}"
        );
    }
}

#[test]
fn start_time_set_once() {
    let p = plan(&job(json!({}), json!({})), &[], now());
    assert_eq!(p.status.start_time.map(|t| t.0), Some(now()));
    let p = plan(
        &job(json!({}), json!({"startTime": "2024-01-01T00:00:00Z"})),
        &[],
        now(),
    );
    assert_eq!(
        p.status.start_time.map(|t| t.0.to_string()),
        Some("2024-01-01T00:00:00Z".to_string())
    );
    let p = plan(&job(json!({"suspend": true}), json!({})), &[], now());
    assert!(p.status.start_time.is_none());
}
