//! A pod's life on real containers beyond starting them: init containers in order (and a
//! failing one failing the pod), a sidecar that outlives init and the app, readiness,
//! liveness and startup probes, and a preStop hook that runs before the kill. The pods run
//! side by side on one agent to keep the suite short.
//!
//! Needs root and the Debian packages containerd, runc, containernetworking-plugins, umoci,
//! skopeo and docker-registry; without them it fails and names them.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::eventually;
use testkit::node::{http_get, NodeHost};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

#[test]
fn init_sidecars_probes_and_hooks() {
    let mut host = NodeHost::new();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    let node = format!("life-e2e-{}", std::process::id());
    // Only a memory threshold no machine meets: a full disk on the test machine must not
    // evict these pods midway.
    host.start_agent_with(
        bin(),
        &server,
        &node,
        &["--eviction-hard", "memory.available<1Ki"],
    );
    let image = host.image();
    let cmd = |args: &[&str]| {
        let mut v = vec!["/skiff-testimage"];
        v.extend_from_slice(args);
        json!(v)
    };
    let container =
        |name: &str, args: &[&str]| json!({"name": name, "image": image, "command": cmd(args)});
    let http_probe = |path: &str, extra: Value| {
        let mut p = json!({"httpGet": {"path": path, "port": 8080}, "periodSeconds": 1});
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        p
    };
    let serve = |name: &str, unhealthy: bool| {
        let mut args = vec!["serve-http", "--port", "8080"];
        if unhealthy {
            args.push("--unhealthy");
        }
        container(name, &args)
    };
    let mut pods = Vec::new();
    let mut pod = |name: &str, spec: Value| {
        pods.push(name.to_string());
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    };
    let mut sidecar = serve("proxy", false);
    sidecar["restartPolicy"] = json!("Always");
    sidecar["command"] = cmd(&["serve-http", "--port", "8081"]);
    sidecar["readinessProbe"] =
        json!({"exec": {"command": cmd(&["exit", "0"])}, "periodSeconds": 1});
    // A sidecar that exits now and then: restarted although the pod's policy is Never.
    let mut ticker = container("ticker", &["sleep", "2"]);
    ticker["restartPolicy"] = json!("Always");
    let mut ready = serve("web", true);
    ready["readinessProbe"] = http_probe("/healthz", json!({}));
    let mut live = serve("web", true);
    live["livenessProbe"] = http_probe("/healthz", json!({"failureThreshold": 1}));
    let mut startup = serve("web", true);
    startup["startupProbe"] = http_probe("/healthz", json!({"failureThreshold": 300}));
    startup["readinessProbe"] = json!({"tcpSocket": {"port": 8080}, "periodSeconds": 1});
    let mut prestop = serve("web", false);
    prestop["lifecycle"] = json!({"preStop": {"exec": {"command": cmd(&["sleep", "3"])}}});
    let mut poststart = serve("web", false);
    poststart["lifecycle"] = json!({"postStart": {"exec": {"command": cmd(&["exit", "1"])}}});
    let mut exec_ready = serve("web", false);
    exec_ready["readinessProbe"] =
        json!({"exec": {"command": cmd(&["cat", "/nope"])}, "periodSeconds": 1});
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        pod("init-order", json!({"initContainers": [
            container("first", &["sleep", "5"]), container("second", &["exit", "0"])],
            "containers": [serve("web", false)]})),
        pod("init-fail", json!({"restartPolicy": "Never",
            "initContainers": [container("setup", &["exit", "3"])],
            "containers": [serve("web", false)]})),
        pod("sidecar", json!({"restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
            "initContainers": [sidecar.clone(), ticker],
            "containers": [container("job", &["sleep", "6"])]})),
        pod("ready", json!({"containers": [ready]})),
        pod("live", json!({"containers": [live]})),
        pod("startup", json!({"containers": [startup]})),
        pod("prestop", json!({"terminationGracePeriodSeconds": 30, "containers": [prestop]})),
        pod("init-crash", json!({"initContainers": [container("setup", &["exit", "1"])],
            "containers": [serve("web", false)]})),
        pod("poststart", json!({"containers": [poststart]})),
        pod("exec-ready", json!({"containers": [exec_ready]})),
        pod("side-del", json!({"initContainers": [sidecar], "containers": [serve("web", false)]})),
    ]});
    kubectl.ok_stdin(&["apply", "-f", "-"], &list.to_string());
    let get = |name: &str| -> Value {
        serde_json::from_str(&kubectl.ok(&["get", "pod", name, "-o", "json"])).unwrap_or_default()
    };
    let printed_status = |name: &str| {
        kubectl
            .ok(&["get", "pod", name, "--no-headers"])
            .split_whitespace()
            .nth(2)
            .unwrap_or("")
            .to_string()
    };
    let condition = |p: &Value, kind: &str| -> Value {
        p["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
            .unwrap_or_default()
    };

    // Init containers in order: kubectl counts them while the first runs, the app starts
    // only after the last one ended.
    eventually(
        "init-order to show Init:0/2",
        Duration::from_secs(60),
        || printed_status("init-order"),
        |s| s == "Init:0/2",
    );
    let p = get("init-order");
    let c = condition(&p, "Initialized");
    assert_eq!(
        (
            c["status"].as_str(),
            c["reason"].as_str(),
            c["message"].as_str()
        ),
        (
            Some("False"),
            Some("ContainersNotInitialized"),
            Some("containers with incomplete status: [first second]")
        ),
        "{c}"
    );
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    let p = eventually(
        "init-order to run its app",
        Duration::from_secs(60),
        || get("init-order"),
        |p| p["status"]["containerStatuses"][0]["ready"] == true,
    );
    let init = &p["status"]["initContainerStatuses"];
    let first = &init[0]["state"]["terminated"];
    let second = &init[1]["state"]["terminated"];
    let app = &p["status"]["containerStatuses"][0]["state"]["running"];
    assert_eq!(
        (&first["reason"], &second["reason"]),
        (&json!("Completed"), &json!("Completed")),
        "{init}"
    );
    let at = |v: &Value| v.as_str().unwrap_or("").to_string();
    assert!(
        at(&first["finishedAt"]) <= at(&second["startedAt"])
            && at(&second["finishedAt"]) <= at(&app["startedAt"]),
        "out of order: {init} {app}"
    );
    assert_eq!(condition(&p, "Initialized")["status"], "True");
    assert_eq!(printed_status("init-order"), "Running");

    // A failing init container with restartPolicy Never fails the pod; the app never runs.
    let p = eventually(
        "init-fail to fail",
        Duration::from_secs(60),
        || get("init-fail"),
        |p| p["status"]["phase"] == "Failed",
    );
    assert_eq!(
        p["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"],
        3
    );
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert_eq!(printed_status("init-fail"), "Init:Error");

    // The sidecar starts before the app, runs beside it, and is stopped once the app is
    // done: the pod completes. Its final status tells it all (the test may come late).
    let p = eventually(
        "the sidecar pod to succeed",
        Duration::from_secs(60),
        || get("sidecar"),
        |p| p["status"]["phase"] == "Succeeded",
    );
    let side = &p["status"]["initContainerStatuses"][0]["state"]["terminated"];
    let job = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert!(
        at(&side["startedAt"]) <= at(&job["startedAt"])
            && at(&side["finishedAt"]) >= at(&job["finishedAt"]),
        "the sidecar runs before, beside and after the job: {p}"
    );
    assert_eq!(
        p["status"]["initContainerStatuses"][0]["restartCount"], 0,
        "{p}"
    );
    let ticker = &p["status"]["initContainerStatuses"][1];
    assert!(ticker["state"]["terminated"].is_object(), "{ticker}");
    assert!(ticker["restartCount"].as_u64() >= Some(1), "{ticker}");

    // A failing init container of a pod that restarts: the crash back-off, as kubectl shows.
    eventually(
        "init-crash to loop",
        Duration::from_secs(60),
        || printed_status("init-crash"),
        |s| s == "Init:CrashLoopBackOff",
    );

    // A failing readiness probe: Running, not Ready, until the server recovers.
    let p = eventually(
        "ready to run unready",
        Duration::from_secs(60),
        || get("ready"),
        |p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let p2 = get("ready");
    let c = condition(&p2, "Ready");
    assert_eq!(
        (
            c["status"].as_str(),
            c["reason"].as_str(),
            c["message"].as_str()
        ),
        (
            Some("False"),
            Some("ContainersNotReady"),
            Some("containers with unready status: [web]")
        ),
        "{c}"
    );
    assert_eq!(p2["status"]["containerStatuses"][0]["ready"], false);
    let ip = p["status"]["podIP"].as_str().unwrap_or("").to_string();
    assert!(http_get(&ip, 8080, "/recover").is_some_and(|r| r.starts_with("HTTP/1.1 200")));
    eventually(
        "ready to become Ready",
        Duration::from_secs(10),
        || condition(&get("ready"), "Ready")["status"].clone(),
        |s| s == "True",
    );

    // A failing liveness probe restarts the container.
    let p = eventually(
        "live to be restarted",
        Duration::from_secs(60),
        || get("live"),
        |p| p["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(1),
    );
    assert!(p["status"]["containerStatuses"][0]["lastState"]["terminated"].is_object());

    // The startup probe holds the container unstarted and unready until it passes.
    let p = eventually(
        "startup to run",
        Duration::from_secs(60),
        || get("startup"),
        |p| p["status"]["podIP"].is_string() && p["status"]["phase"] == "Running",
    );
    std::thread::sleep(Duration::from_secs(2));
    let s = &get("startup")["status"]["containerStatuses"][0];
    assert_eq!(
        (&s["started"], &s["ready"]),
        (&json!(false), &json!(false)),
        "{s}"
    );
    let ip = p["status"]["podIP"].as_str().unwrap_or("").to_string();
    assert!(http_get(&ip, 8080, "/recover").is_some_and(|r| r.starts_with("HTTP/1.1 200")));
    eventually(
        "startup to be started and ready",
        Duration::from_secs(10),
        || {
            let s = &get("startup")["status"]["containerStatuses"][0];
            (s["started"].clone(), s["ready"].clone())
        },
        |s| s == &(json!(true), json!(true)),
    );

    // The probes' and the kill's events, with upstream's messages.
    let events = kubectl.ok(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[*]}{.involvedObject.name} {.reason} {.message}{\"\\n\"}{end}",
    ]);
    let hook_failed = "poststart FailedPostStartHook Exec lifecycle hook ([/skiff-testimage exit 1]) for Container \"web\" in Pod \"poststart_default(";
    assert!(
        events.lines().any(|l| l.starts_with(hook_failed)),
        "no {hook_failed:?} in\n{events}"
    );
    // An exec probe's failure carries the command's output.
    let exec_failed = "exec-ready Unhealthy Readiness probe failed: skiff-testimage: /nope: ";
    assert!(
        events.lines().any(|l| l.starts_with(exec_failed)),
        "no {exec_failed:?} in\n{events}"
    );
    for want in [
        "poststart Killing FailedPostStartHook",
        "ready Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500",
        "live Unhealthy Liveness probe failed: HTTP probe failed with statuscode: 500",
        "live Killing Container web failed liveness probe, will be restarted",
        "startup Unhealthy Startup probe failed: HTTP probe failed with statuscode: 500",
    ] {
        assert!(
            events.lines().any(|l| l == want),
            "no {want:?} in\n{events}"
        );
    }

    // The preStop hook runs before SIGTERM: the server exits at once on SIGTERM, so the
    // delete takes the hook's 3 s — and far less than the 30 s grace period.
    eventually(
        "prestop to run",
        Duration::from_secs(60),
        || get("prestop")["status"]["containerStatuses"][0]["ready"].clone(),
        |r| r == true,
    );
    let began = Instant::now();
    kubectl.ok(&["delete", "pod", "prestop", "--wait=true"]);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "deleting prestop took {took:?}"
    );

    // Deleting a pod stops its app containers first, then its sidecars.
    eventually(
        "side-del to be ready",
        Duration::from_secs(30),
        || condition(&get("side-del"), "Ready")["status"].clone(),
        |s| s == "True",
    );
    kubectl.ok(&["delete", "pod", "side-del", "--wait=true"]);
    // Event names end in their creation time in hex nanoseconds: they sort by time.
    let kills = kubectl.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=side-del,reason=Killing",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.message}{\"\\n\"}{end}",
    ]);
    let mut kills: Vec<&str> = kills.lines().collect();
    kills.sort();
    let order: Vec<&str> = kills
        .iter()
        .filter_map(|l| l.split_once(' ').map(|x| x.1))
        .collect();
    assert_eq!(
        order,
        ["Stopping container web", "Stopping container proxy"],
        "{kills:?}"
    );

    // The agent restarts: probed containers it adopts keep their readiness (no flip to
    // unready until the first probe), so Ready keeps its transition time.
    let ready_since = |name: &str| {
        let p = get(name);
        (
            condition(&p, "Ready")["status"].clone(),
            condition(&p, "Ready")["lastTransitionTime"].clone(),
        )
    };
    let before = [ready_since("ready"), ready_since("startup")];
    assert!(before.iter().all(|(s, _)| s == "True"), "{before:?}");
    let synced = host.agent_log(&node).matches("pod running").count();
    host.stop_agent(&node);
    host.start_agent_with(
        bin(),
        &server,
        &node,
        &["--eviction-hard", "memory.available<1Ki"],
    );
    eventually(
        "the restarted agent to adopt the running pods",
        Duration::from_secs(30),
        || host.agent_log(&node).matches("pod running").count(),
        |n| *n >= synced + 3,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!([ready_since("ready"), ready_since("startup")], before);

    let names: Vec<&str> = pods
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "prestop" && *n != "side-del")
        .collect();
    let mut args = vec!["delete", "pod", "--wait=false"];
    args.extend(names);
    kubectl.ok(&args);
    eventually(
        "the pods to be gone",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pods", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
    eventually(
        "their containers to be gone",
        Duration::from_secs(30),
        || host.containers(&node),
        |c| c.is_empty(),
    );
    let log = host.agent_log(&node);
    assert!(!log.contains("panicked"), "agent log:\n{log}");
}
