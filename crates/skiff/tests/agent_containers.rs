//! `skiff agent` runs real containers: its own containerd under a temp data dir, images from
//! a local registry the test starts, pods on a CNI bridge. A 3-replica Deployment of our test
//! image reaches Running with pod IPs that answer HTTP; deleting it removes the containers.
//!
//! Needs root and the Debian packages containerd, runc, containernetworking-plugins, umoci,
//! skopeo and docker-registry; without them it fails and names them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testkit::{eventually, free_port, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const BRIDGE: &str = "skiff0";

fn require_host_tools() {
    let missing: Vec<&str> = [
        ("containerd", "containerd"),
        ("containerd-shim-runc-v2", "containerd"),
        ("ctr", "containerd"),
        ("runc", "runc"),
        ("umoci", "umoci"),
        ("skopeo", "skopeo"),
        ("docker-registry", "docker-registry"),
    ]
    .into_iter()
    .filter(|(b, _)| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
    .map(|(_, pkg)| pkg)
    .chain((!Path::new("/usr/lib/cni/bridge").exists()).then_some("containernetworking-plugins"))
    .collect();
    assert!(
        missing.is_empty(),
        "this test runs real containers and needs: apt-get install {}",
        missing.join(" ")
    );
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc_geteuid() },
        0,
        "this test runs containers and must run as root"
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Everything on the host this test creates, removed on drop even when the test fails.
struct Host {
    dir: tempfile::TempDir,
    registry_port: u16,
    agent: Option<Child>,
    bridge_existed: bool,
    netns_before: Vec<String>,
    unreachable_before: String,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::Builder::new()
            .prefix("skiff-agent-test-")
            .tempdir()
            .expect("tempdir");
        Host {
            dir,
            registry_port: free_port(),
            agent: None,
            bridge_existed: Path::new("/sys/class/net").join(BRIDGE).exists(),
            netns_before: netns(),
            unreachable_before: unreachable_routes(),
        }
    }

    fn registry(&self) -> String {
        format!("127.0.0.1:{}", self.registry_port)
    }

    fn registry_env(&self, cmd: &mut Command) {
        cmd.env("REGISTRY_DIR", self.dir.path().join("registry"))
            .env("REGISTRY_PORT", self.registry_port.to_string());
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("agent/containerd/containerd.sock")
    }

    fn start_registry_with_images(&self) {
        let mut start = Command::new(repo_root().join("scripts/registry.sh"));
        start.arg("start");
        self.registry_env(&mut start);
        let out = start.output().expect("run scripts/registry.sh");
        assert!(
            out.status.success(),
            "registry.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(repo_root().join("scripts/build-test-images.sh"))
            .args(["--push", &self.registry()])
            .output()
            .expect("run scripts/build-test-images.sh");
        assert!(
            out.status.success(),
            "build-test-images.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start_agent(&mut self, server: &Server, node: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .expect("agent log");
        let child = Command::new(bin())
            .args(["agent", "--server", &server.url(), "--kubeconfig"])
            .arg(server.kubeconfig())
            .arg("--data-dir")
            .arg(self.dir.path().join("agent"))
            .args(["--node-name", node])
            .args([
                "--pause-image",
                &format!("{}/skiff/pause:1", self.registry()),
            ])
            .env("SKIFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start skiff agent");
        self.agent = Some(child);
    }

    /// SIGTERM to the agent (it stops its containerd; containers live on in their shims).
    fn stop_agent(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = Command::new("kill").arg(agent.id().to_string()).status();
            for _ in 0..150 {
                if agent.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }

    fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// The containers (sandboxes included) in our containerd's CRI namespace.
    fn containers(&self) -> Vec<String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", "k8s.io", "containers", "ls", "--quiet"])
            .output()
            .expect("run ctr");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn ctr(&self, args: &[&str]) {
        let _ = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", "k8s.io"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.agent_log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- agent log (last 60 lines) ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
            let ctd =
                std::fs::read_to_string(self.dir.path().join("agent/containerd/containerd.log"))
                    .unwrap_or_default();
            eprintln!("--- containerd errors ---");
            for l in ctd.lines().filter(|l| l.contains("level=error")).take(20) {
                eprintln!("{l}");
            }
        }
        // Containers the agent did not remove (a failed test): kill their tasks while our
        // containerd still runs, so their shims exit.
        if self.socket().exists() {
            for id in self.containers() {
                self.ctr(&["tasks", "kill", "--signal", "SIGKILL", &id]);
            }
            std::thread::sleep(Duration::from_millis(500));
            for id in self.containers() {
                self.ctr(&["tasks", "delete", "--force", &id]);
                self.ctr(&["containers", "delete", &id]);
            }
        }
        self.stop_agent();
        let dir = self.dir.path().to_string_lossy().to_string();
        // Any process still pointing at our data dir: containerd (if the agent was killed
        // hard) and shims (`-address <dir>/.../containerd.sock`).
        for pid in pids_mentioning(&dir) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let mut stop = Command::new(repo_root().join("scripts/registry.sh"));
        stop.arg("stop");
        self.registry_env(&mut stop);
        let _ = stop.status();
        for mount in mounts_under(&dir) {
            let _ = Command::new("umount").args(["-l", &mount]).status();
        }
        for ns in netns() {
            if ns.starts_with("cni-") && !self.netns_before.contains(&ns) {
                let path = format!("/var/run/netns/{ns}");
                let _ = Command::new("umount").args(["-l", &path]).status();
                let _ = std::fs::remove_file(&path);
            }
        }
        for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
            if !self.unreachable_before.contains(cidr) {
                let _ = Command::new("ip")
                    .args(["route", "delete", "unreachable", cidr, "metric", "4242"])
                    .status();
            }
        }
        // The pods' parent cgroup, in each hierarchy (rmdir leaves it when in use).
        if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                let _ = std::fs::remove_dir(d.path().join("skiff"));
            }
        }
        let _ = std::fs::remove_dir("/sys/fs/cgroup/skiff");
        if !self.bridge_existed && Path::new("/sys/class/net").join(BRIDGE).exists() {
            let _ = Command::new("ip").args(["link", "delete", BRIDGE]).status();
        }
    }
}

fn unreachable_routes() -> String {
    Command::new("ip")
        .args(["route", "show", "type", "unreachable"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

fn netns() -> Vec<String> {
    std::fs::read_dir("/var/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn pids_mentioning(text: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| *pid != me)
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).contains(text))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Mount points under `dir`, deepest first.
fn mounts_under(dir: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(dir))
        .map(str::to_string)
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts
}

fn http_get(ip: &str, port: u16, path: &str) -> Option<String> {
    let addr = format!("{ip}:{port}").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn deployment_runs_real_containers() {
    require_host_tools();
    let mut host = Host::new();
    host.start_registry_with_images();
    let server = Server::start(bin());
    let kubectl = server.kubectl();
    let node = format!("agent-e2e-{}", std::process::id());
    host.start_agent(&server, &node);

    let ready = eventually(
        "the agent's node to be Ready",
        Duration::from_secs(60),
        || {
            String::from_utf8_lossy(
                &kubectl
                    .run(&[
                        "get",
                        "node",
                        &node,
                        "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.podCIDR}",
                    ])
                    .stdout,
            )
            .to_string()
        },
        |out| out.starts_with("True 10.42."),
    );
    let _ = ready;
    // Networking safety: the cluster and service ranges never leave the machine.
    let routes = unreachable_routes();
    for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
        assert!(
            routes.contains(cidr),
            "no unreachable route for {cidr}: {routes}"
        );
    }
    let lease = kubectl.ok(&["get", "lease", "-n", "kube-node-lease", &node, "-o", "name"]);
    assert_eq!(lease.trim(), format!("lease.coordination.k8s.io/{node}"));

    let image = format!("{}/skiff/testimage:1", host.registry());
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
    assert_eq!(host.containers().len(), 6, "{:?}", host.containers());
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
    let config = host.dir.path().join("agent/containerd/config.toml");
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
                host.containers().len(),
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
    host.stop_agent();
    assert!(
        pids_mentioning(&config.to_string_lossy()).is_empty(),
        "the agent stops its containerd on SIGTERM"
    );
    host.start_agent(&server, &node);
    // Synced again: each pod's worker reported it running a second time.
    eventually(
        "the restarted agent to sync the 3 pods",
        Duration::from_secs(30),
        || host.agent_log().matches("pod running").count(),
        |n| *n == 6,
    );
    assert_eq!(host.containers().len(), 6, "{:?}", host.containers());
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
        || host.containers(),
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
        || host.containers(),
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
        || host.containers(),
        |c| c.is_empty(),
    );

    let log = host.agent_log();
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
