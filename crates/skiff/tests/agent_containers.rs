//! `skiff agent` runs real containers: its own containerd under a temp data dir, images from
//! a local registry the test starts, pods on a CNI bridge. A 3-replica Deployment of our test
//! image reaches Running with pod IPs that answer HTTP; deleting it removes the containers.
//!
//! Needs root and the Debian packages containerd, runc, containernetworking-plugins, umoci,
//! skopeo and docker-registry; without them it fails and names them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::node::{http_get, pids_mentioning, unreachable_routes, NodeHost};
use testkit::{eventually, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

#[test]
fn deployment_runs_real_containers() {
    let mut host = NodeHost::new();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    let node = format!("agent-e2e-{}", std::process::id());
    host.start_agent(bin(), &server, &node);

    // Networking safety: the cluster and service ranges never leave the machine.
    let routes = unreachable_routes();
    for cidr in [host.cluster_cidr(), host.service_cidr()] {
        assert!(
            routes.contains(&cidr),
            "no unreachable route for {cidr}: {routes}"
        );
    }
    let lease = kubectl.ok(&["get", "lease", "-n", "kube-node-lease", &node, "-o", "name"]);
    assert_eq!(lease.trim(), format!("lease.coordination.k8s.io/{node}"));

    let image = host.image();
    kubectl.ok(&[
        "create",
        "deployment",
        "web",
        &format!("--image={image}"),
        "--replicas=3",
        "--port=8080",
        "--",
        "/skiff-testimage",
        "serve-http",
        "--port",
        "8080",
    ]);
    let pods = eventually(
        "3 web pods Running with pod IPs",
        Duration::from_secs(120),
        || {
            kubectl.ok(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={range .items[*]}{.status.phase} {.status.podIP} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].containerID}{\"\\n\"}{end}",
            ])
        },
        |out| {
            let lines: Vec<&str> = out.lines().collect();
            lines.len() == 3
                && lines.iter().all(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    f.len() == 4
                        && f[0] == "Running"
                        && f[1].starts_with("10.42.")
                        && f[2] == "true"
                        && f[3].starts_with("containerd://")
                })
        },
    );
    let ips: Vec<String> = pods
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
        .collect();
    let mut unique = ips.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "pod IPs must differ: {ips:?}");
    // The pods' servers answer on their IPs (over the CNI bridge on this machine).
    for ip in &ips {
        let reply = eventually(
            "the pod's /healthz",
            Duration::from_secs(20),
            || http_get(ip, 8080, "/healthz"),
            |r| r.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        );
        assert!(reply.is_some_and(|r| r.ends_with("ok\n")));
    }
    // Each pod: a pause sandbox and one app container.
    assert_eq!(
        host.containers(&node).len(),
        6,
        "{:?}",
        host.containers(&node)
    );
    let ready_cond = kubectl.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{range .status.conditions[*]}{.type}={.status} {end}{\"\\n\"}{end}",
    ]);
    for line in ready_cond.lines() {
        for want in [
            "PodScheduled=True",
            "Initialized=True",
            "ContainersReady=True",
            "Ready=True",
            "PodReadyToStartContainers=True",
        ] {
            assert!(line.contains(want), "{want} missing in {line}");
        }
    }

    // containerd dies: the agent restarts it, and the containers live on in their shims.
    let config = host.socket(&node).with_file_name("config.toml");
    let containerd = pids_mentioning(&config.to_string_lossy());
    assert_eq!(containerd.len(), 1, "one containerd: {containerd:?}");
    let _ = Command::new("kill")
        .args(["-9", &containerd[0].to_string()])
        .status();
    eventually(
        "containerd to be back with the pods' containers",
        Duration::from_secs(30),
        || {
            (
                pids_mentioning(&config.to_string_lossy()),
                host.containers(&node).len(),
            )
        },
        |(pids, n)| pids.len() == 1 && pids[0] != containerd[0] && *n == 6,
    );
    for ip in &ips {
        eventually(
            "the pod's /healthz after the containerd restart",
            Duration::from_secs(10),
            || http_get(ip, 8080, "/healthz"),
            |r| r.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        );
    }

    // The kubelet's events, as `kubectl describe pod` shows them.
    let events = eventually(
        "the pods' events",
        Duration::from_secs(10),
        || {
            kubectl.ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.kind=Pod",
                "-o",
                "jsonpath={range .items[*]}{.reason}{\"\\n\"}{end}",
            ])
        },
        |out| {
            ["Pulling", "Pulled", "Created", "Started"]
                .iter()
                .all(|r| out.lines().any(|l| l == *r))
        },
    );
    let _ = events;

    // The agent restarts: it adopts the running sandboxes and containers instead of
    // starting them again.
    let ids = || {
        kubectl.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={range .items[*]}{.status.containerStatuses[0].containerID}{\"\\n\"}{end}",
        ])
    };
    let before = ids();
    host.stop_agent(&node);
    assert!(
        pids_mentioning(&config.to_string_lossy()).is_empty(),
        "the agent stops its containerd on SIGTERM"
    );
    host.start_agent(bin(), &server, &node);
    // Synced again: each pod's worker reported it running a second time.
    eventually(
        "the restarted agent to sync the 3 pods",
        Duration::from_secs(30),
        || host.agent_log(&node).matches("pod running").count(),
        |n| *n == 6,
    );
    assert_eq!(
        host.containers(&node).len(),
        6,
        "{:?}",
        host.containers(&node)
    );
    assert_eq!(ids(), before, "containers were restarted, not adopted");
    for ip in &ips {
        assert!(http_get(ip, 8080, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")));
    }

    kubectl.ok(&["delete", "deployment", "web"]);
    eventually(
        "the web pods to be gone from the API",
        Duration::from_secs(90),
        || kubectl.ok(&["get", "pods", "-l", "app=web", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
    eventually(
        "the containers to be gone from containerd",
        Duration::from_secs(30),
        || host.containers(&node),
        |c| c.is_empty(),
    );
    // An image that does not exist: the container waits with ErrImagePull and the
    // registry's answer; deleting the pod removes its sandbox.
    let missing = format!("{}/skiff/nope:1", host.registry());
    kubectl.ok(&[
        "run",
        "nope",
        &format!("--image={missing}"),
        "--restart=Never",
    ]);
    let waiting = eventually(
        "the missing image's ErrImagePull",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "nope",
                "-o",
                "jsonpath={.status.phase} {.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].state.waiting.message}",
            ])
        },
        |out| out.starts_with("Pending ErrImagePull "),
    );
    assert!(waiting.contains("skiff/nope"), "{waiting}");
    // Then, while the agent backs off (10 s, doubling), ImagePullBackOff.
    eventually(
        "ImagePullBackOff",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "nope",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].state.waiting.message}",
            ])
        },
        |out| out == &format!("ImagePullBackOff Back-off pulling image \"{missing}\""),
    );
    kubectl.ok(&["delete", "pod", "nope", "--wait=false"]);
    eventually(
        "the nope pod to be gone",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pods", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
    eventually(
        "its sandbox to be gone",
        Duration::from_secs(30),
        || host.containers(&node),
        |c| c.is_empty(),
    );

    // Containers that exit: restartPolicy Never ends in Succeeded or Failed with the exit
    // code; Always restarts with the crash back-off.
    let image_arg = format!("--image={image}");
    for (name, restart, code) in [
        ("done", "Never", "0"),
        ("fail", "Never", "3"),
        ("crash", "Always", "1"),
    ] {
        kubectl.ok(&[
            "run",
            name,
            &image_arg,
            &format!("--restart={restart}"),
            "--command",
            "--",
            "/skiff-testimage",
            "exit",
            code,
        ]);
    }
    let state = |pod: &str| {
        kubectl.ok(&[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}",
        ])
    };
    eventually(
        "done to succeed",
        Duration::from_secs(30),
        || state("done"),
        |s| s == "Succeeded Completed 0",
    );
    eventually(
        "fail to fail",
        Duration::from_secs(30),
        || state("fail"),
        |s| s == "Failed Error 3",
    );
    eventually(
        "crash to loop",
        Duration::from_secs(40),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "crash",
                "-o",
                "jsonpath={.status.phase} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}",
            ])
        },
        |s| {
            s.starts_with("Running ")
                && s.ends_with(" CrashLoopBackOff 1")
                && !s.starts_with("Running 0 ")
        },
    );
    // Past its memory limit a container is OOMKilled, exit code 137.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "hog"}},
               "spec": {{"restartPolicy": "Never", "containers": [{{"name": "hog", "image": "{image}",
                 "command": ["/skiff-testimage", "alloc", "128"],
                 "resources": {{"limits": {{"memory": "32Mi"}}}}}}]}}}}"#
        ),
    );
    eventually(
        "hog to be OOMKilled",
        Duration::from_secs(30),
        || state("hog"),
        |s| s == "Failed OOMKilled 137",
    );
    kubectl.ok(&[
        "delete",
        "pod",
        "done",
        "fail",
        "crash",
        "hog",
        "--wait=false",
    ]);
    eventually(
        "the exited pods to be gone",
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

/// Without containerd on PATH the agent exits at once and names the Debian packages.
#[test]
fn missing_runtime_names_the_packages() {
    let server = Server::start(bin());
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = Command::new(bin())
        .args(["agent", "--server", &server.url(), "--kubeconfig"])
        .arg(server.kubeconfig())
        .arg("--data-dir")
        .arg(dir.path().join("agent"))
        .args(["--node-name", "no-runtime"])
        .env("PATH", &empty)
        .output()
        .expect("run skiff agent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("skiff: error: missing containerd")
            && stderr.contains("apt-get install containerd runc containernetworking-plugins"),
        "{stderr}"
    );
}
