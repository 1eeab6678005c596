//! Real-container test hosts: a local registry with our test images, a `skiff server` and
//! `skiff agent`s that run pods through their own containerd on a CNI bridge.
//!
//! Tests on one machine run at once (test threads, and other checkouts' test runs), so each
//! [`NodeHost`] takes a free *slot* (an flock'd file) and uses only what the slot owns: its
//! bridge `sktN`, cluster CIDR `10.42.(8N).0/21` and service CIDR `10.43.(8N).0/21`. On drop
//! it removes everything it made: containers, processes, mounts, netns, routes, the bridge.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{eventually, free_port, Kubectl, Server};

const SLOTS: u32 = 32;

/// The hard eviction thresholds of test agents: memory only.
pub const TEST_EVICTION_HARD: &str = "memory.available<100Mi";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Panics naming the Debian packages (or root) a real-container test needs.
pub fn require_host_tools() {
    let missing: Vec<&str> = [
        ("containerd", "containerd"),
        ("containerd-shim-runc-v2", "containerd"),
        ("ctr", "containerd"),
        ("runc", "runc"),
        ("umoci", "umoci"),
        ("skopeo", "skopeo"),
        ("docker-registry", "docker-registry"),
        ("nft", "nftables"),
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
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1);
    assert_eq!(euid, 0, "this test runs containers and must run as root");
}

/// One machine-wide slot, held (flock) while the host lives.
struct Slot {
    n: u32,
    _lock: File,
}

impl Slot {
    fn take() -> Slot {
        let dir = Path::new("/run/skiff-test-slots");
        std::fs::create_dir_all(dir).expect("slot dir");
        for _ in 0..600 {
            for n in 0..SLOTS {
                let f = File::create(dir.join(format!("{n}.lock"))).expect("slot file");
                if f.try_lock().is_ok() {
                    return Slot { n, _lock: f };
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("no free test slot in {}", dir.display());
    }
}

/// An agent process and its data dir.
struct AgentProc {
    node: String,
    child: Option<Child>,
    data_dir: PathBuf,
    log: PathBuf,
}

pub struct NodeHost {
    pub dir: tempfile::TempDir,
    slot: Slot,
    registry_port: u16,
    agents: Vec<AgentProc>,
    netns_before: Vec<String>,
    routes_before: String,
    /// A server running its own agent: dropped after the containers are cleaned up.
    own_server: Option<Server>,
    /// Registries a test asked for besides the main one (dir, port).
    extra_registries: Vec<(PathBuf, u16)>,
}

impl NodeHost {
    /// Checks the tools, takes a slot and starts a registry holding our test images.
    pub fn new() -> NodeHost {
        require_host_tools();
        let dir = tempfile::Builder::new()
            .prefix("skiff-node-test-")
            .tempdir()
            .expect("tempdir");
        let host = NodeHost {
            dir,
            slot: Slot::take(),
            registry_port: free_port(),
            agents: Vec::new(),
            netns_before: netns(),
            routes_before: unreachable_routes(),
            own_server: None,
            extra_registries: Vec::new(),
        };
        // Leftovers of a killed test run in the same slot.
        host.remove_bridge();
        host.start_registry_with_images();
        host
    }

    pub fn slot(&self) -> u32 {
        self.slot.n
    }

    pub fn bridge(&self) -> String {
        format!("skt{}", self.slot.n)
    }

    pub fn cluster_cidr(&self) -> String {
        format!("10.42.{}.0/21", self.slot.n * 8)
    }

    pub fn service_cidr(&self) -> String {
        format!("10.43.{}.0/21", self.slot.n * 8)
    }

    /// The prefix every pod IP of this host's cluster starts with.
    pub fn pod_ip_prefix(&self) -> String {
        "10.42.".to_string()
    }

    pub fn registry(&self) -> String {
        format!("127.0.0.1:{}", self.registry_port)
    }

    /// Our agnhost-like test image (`/skiff-testimage <command>`).
    pub fn image(&self) -> String {
        format!("{}/skiff/testimage:1", self.registry())
    }

    fn registry_env(&self, cmd: &mut Command) {
        cmd.env("REGISTRY_DIR", self.dir.path().join("registry"))
            .env("REGISTRY_PORT", self.registry_port.to_string());
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

    /// Starts a second registry that demands basic auth for `user`/`password` and pushes the
    /// test images there; returns its HOST:PORT.
    pub fn private_registry(&mut self, user: &str, password: &str) -> String {
        self.extra_registry("127.0.0.1", Some((user, password)))
    }

    /// Starts another registry listening on `addr` (loopback, or this host's end of a test
    /// network namespace's veth), with basic auth if given, and pushes the test images
    /// there; returns its HOST:PORT.
    pub fn extra_registry(&mut self, addr: &str, auth: Option<(&str, &str)>) -> String {
        let port = free_port();
        let dir = self
            .dir
            .path()
            .join(format!("registry-extra-{}", self.extra_registries.len()));
        std::fs::create_dir_all(&dir).expect("registry dir");
        let mut start = Command::new(repo_root().join("scripts/registry.sh"));
        start
            .arg("start")
            .env("REGISTRY_DIR", &dir)
            .env("REGISTRY_PORT", port.to_string())
            .env("REGISTRY_ADDR", addr);
        if let Some((user, password)) = auth {
            // bcrypt, which the registry's htpasswd wants, from libcrypt through Python.
            let out = Command::new("python3")
                .args([
                    "-W",
                    "ignore",
                    "-c",
                    "import crypt,sys; print(sys.argv[1] + ':' + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                    user,
                    password,
                ])
                .output()
                .expect("python3 for bcrypt");
            assert!(
                out.status.success(),
                "bcrypt: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, &out.stdout).expect("htpasswd");
            start.env("REGISTRY_HTPASSWD", &htpasswd);
        }
        let out = start.output().expect("run scripts/registry.sh");
        assert!(
            out.status.success(),
            "registry.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.extra_registries.push((dir, port));
        let hostport = format!("{addr}:{port}");
        let mut push = Command::new(repo_root().join("scripts/build-test-images.sh"));
        push.args(["--push", &hostport]);
        if let Some((user, password)) = auth {
            push.env("REGISTRY_CREDS", format!("{user}:{password}"));
        }
        let out = push.output().expect("run scripts/build-test-images.sh");
        assert!(
            out.status.success(),
            "build-test-images.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        hostport
    }

    /// `skiff server --disable-agent` with this slot's CIDRs, plus `extra_args`.
    pub fn server(&self, bin: &Path, extra_args: &[&str]) -> Server {
        let (cluster, service) = (self.cluster_cidr(), self.service_cidr());
        let mut args = vec![
            "--cluster-cidr",
            &cluster,
            "--service-cidr",
            &service,
            "--node-cidr-mask-size",
            "24",
        ];
        args.extend_from_slice(extra_args);
        Server::start_with(bin, &args)
    }

    /// `skiff server` running its own node agent (named `node`) with this slot's network;
    /// waits until the node is Ready. The host owns it, so its containers are cleaned up
    /// before it stops.
    pub fn server_with_agent(&mut self, bin: &Path, node: &str, extra_args: &[&str]) -> &Server {
        let (cluster, service, bridge) = (self.cluster_cidr(), self.service_cidr(), self.bridge());
        let pause = format!("{}/skiff/pause:1", self.registry());
        let mut args = vec![
            "--cluster-cidr",
            &cluster,
            "--service-cidr",
            &service,
            "--node-cidr-mask-size",
            "24",
            "--node-name",
            node,
            "--pause-image",
            &pause,
            "--cni-bridge",
            &bridge,
            "--eviction-hard",
            TEST_EVICTION_HARD,
            // Agents of parallel tests share the machine: each takes a free port.
            "--kubelet-port",
            "0",
            // Never the machine's 80/443: tests that want the ingress pass free ports.
            "--ingress-http-port",
            "0",
            "--ingress-https-port",
            "0",
        ];
        args.extend_from_slice(extra_args);
        let server = Server::start_opts(bin, &args, true);
        self.agents.push(AgentProc {
            node: node.to_string(),
            child: None,
            data_dir: server.data_dir().join("agent"),
            log: server.data_dir().join("server.log"),
        });
        wait_node_ready(&server.kubectl(), node);
        self.own_server.insert(server)
    }

    /// The flags an agent of this host needs besides its server and name.
    pub fn agent_args(&self, data_dir: &Path) -> Vec<String> {
        vec![
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--pause-image".into(),
            format!("{}/skiff/pause:1", self.registry()),
            "--cluster-cidr".into(),
            self.cluster_cidr(),
            "--service-cidr".into(),
            self.service_cidr(),
            "--cni-bridge".into(),
            self.bridge(),
            // Test machines' disks are often fuller than a node's default thresholds
            // allow (nodefs.available<10%); tests that exercise eviction set their own.
            "--eviction-hard".into(),
            TEST_EVICTION_HARD.into(),
            "--kubelet-port".into(),
            "0".into(),
            "--ingress-http-port".into(),
            "0".into(),
            "--ingress-https-port".into(),
            "0".into(),
        ]
    }

    /// Starts `skiff agent` for `node` with the server's admin credentials, and waits until
    /// the node is Ready with a podCIDR.
    pub fn start_agent(&mut self, bin: &Path, server: &Server, node: &str) {
        self.start_agent_with(bin, server, node, &[]);
    }

    /// [`NodeHost::start_agent`] with extra `skiff agent` flags.
    pub fn start_agent_with(&mut self, bin: &Path, server: &Server, node: &str, extra: &[&str]) {
        let data_dir = self.dir.path().join(format!("agent-{node}"));
        let log = self.dir.path().join(format!("agent-{node}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("agent log");
        let child = Command::new(bin)
            .args(["agent", "--server", &server.url(), "--kubeconfig"])
            .arg(server.kubeconfig())
            .args(["--node-name", node])
            .args(self.agent_args(&data_dir))
            .args(extra)
            .env("SKIFF_LOG", crate::log_filter())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start skiff agent");
        match self.agents.iter_mut().find(|a| a.node == node) {
            Some(a) => a.child = Some(child),
            None => self.agents.push(AgentProc {
                node: node.to_string(),
                child: Some(child),
                data_dir,
                log,
            }),
        }
        wait_node_ready(&server.kubectl(), node);
    }

    /// Starts `skiff agent --server URL --token TOKEN` for `node` (no admin credentials: the
    /// agent joins with the token and keeps its own in its data dir), and waits until the
    /// node is Ready with a podCIDR. Again for a node already known, it restarts that agent.
    pub fn start_agent_with_token(&mut self, bin: &Path, server: &Server, node: &str, token: &str) {
        self.start_agent_with_token_args(bin, server, node, token, &[]);
    }

    /// [`NodeHost::start_agent_with_token`] with extra `skiff agent` flags.
    pub fn start_agent_with_token_args(
        &mut self,
        bin: &Path,
        server: &Server,
        node: &str,
        token: &str,
        extra: &[&str],
    ) {
        let data_dir = self.dir.path().join(format!("agent-{node}"));
        let log = self.dir.path().join(format!("agent-{node}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("agent log");
        let child = Command::new(bin)
            .args(["agent", "--server", &server.url(), "--token", token])
            .args(["--node-name", node])
            .args(self.agent_args(&data_dir))
            .args(extra)
            .env("SKIFF_LOG", crate::log_filter())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start skiff agent");
        match self.agents.iter_mut().find(|a| a.node == node) {
            Some(a) => a.child = Some(child),
            None => self.agents.push(AgentProc {
                node: node.to_string(),
                child: Some(child),
                data_dir,
                log,
            }),
        }
        wait_node_ready(&server.kubectl(), node);
    }

    /// The data dir of the node's agent.
    pub fn agent_data_dir(&self, node: &str) -> PathBuf {
        self.agents
            .iter()
            .find(|a| a.node == node)
            .map(|a| a.data_dir.clone())
            .unwrap_or_else(|| self.dir.path().join(format!("agent-{node}")))
    }

    /// SIGTERM to the node's agent (it stops its containerd; containers live on in their
    /// shims), SIGKILL after 15 s.
    pub fn stop_agent(&mut self, node: &str) {
        if let Some(a) = self.agents.iter_mut().find(|a| a.node == node) {
            stop_child(&mut a.child);
        }
    }

    /// SIGKILL to the node's agent: it cleans nothing up (its containerd follows it through
    /// the parent-death signal; containers live on in their shims until drop).
    pub fn kill_agent(&mut self, node: &str) {
        if let Some(mut c) = self
            .agents
            .iter_mut()
            .find(|a| a.node == node)
            .and_then(|a| a.child.take())
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The node's agent process id, while it runs.
    pub fn agent_pid(&self, node: &str) -> Option<u32> {
        self.agents
            .iter()
            .find(|a| a.node == node)
            .and_then(|a| a.child.as_ref())
            .map(Child::id)
    }

    pub fn agent_log(&self, node: &str) -> String {
        self.agents
            .iter()
            .find(|a| a.node == node)
            .and_then(|a| std::fs::read_to_string(&a.log).ok())
            .unwrap_or_default()
    }

    /// The data dir of the node's agent.
    pub fn agent_dir(&self, node: &str) -> PathBuf {
        self.socket(node)
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// What a container printed (its CRI log under the agent's data dir), attempt 0.
    pub fn container_output(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> String {
        let logs = self.agent_dir(node).join("pods");
        let prefix = format!("{namespace}_{pod}_");
        let Ok(dirs) = std::fs::read_dir(&logs) else {
            return String::new();
        };
        let mut out = String::new();
        for d in dirs.flatten() {
            if d.file_name().to_string_lossy().starts_with(&prefix) {
                let text = std::fs::read_to_string(d.path().join(container).join("0.log"))
                    .unwrap_or_default();
                // `<time> <stream> <P|F> <text>` per line.
                for line in text.lines() {
                    if let Some(msg) = line.splitn(4, ' ').nth(3) {
                        out.push_str(msg);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    /// The containerd socket of the node's agent.
    pub fn socket(&self, node: &str) -> PathBuf {
        let dir = self
            .agents
            .iter()
            .find(|a| a.node == node)
            .map(|a| a.data_dir.clone())
            .unwrap_or_else(|| self.dir.path().join(format!("agent-{node}")));
        dir.join("containerd/containerd.sock")
    }

    /// The containers (sandboxes included) in the node's containerd.
    pub fn containers(&self, node: &str) -> Vec<String> {
        containers_at(&self.socket(node))
    }

    fn remove_bridge(&self) {
        if Path::new("/sys/class/net").join(self.bridge()).exists() {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.bridge()])
                .status();
        }
    }
}

impl Default for NodeHost {
    fn default() -> Self {
        NodeHost::new()
    }
}

fn stop_child(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        for _ in 0..150 {
            if c.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Waits (60 s) until `node` is Ready with a podCIDR.
pub fn wait_node_ready(kubectl: &Kubectl, node: &str) {
    eventually(
        "the agent's node to be Ready",
        Duration::from_secs(60),
        || {
            String::from_utf8_lossy(
                &kubectl
                    .run(&[
                        "get",
                        "node",
                        node,
                        "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.podCIDR}",
                    ])
                    .stdout,
            )
            .to_string()
        },
        |out| out.starts_with("True 10.42."),
    );
}

fn containers_at(socket: &Path) -> Vec<String> {
    if !socket.exists() {
        return Vec::new();
    }
    let out = Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["--namespace", "k8s.io", "containers", "ls", "--quiet"])
        .output()
        .expect("run ctr");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn ctr(socket: &Path, args: &[&str]) {
    let _ = Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .args(["--namespace", "k8s.io"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for NodeHost {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for a in &self.agents {
                let log = std::fs::read_to_string(&a.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                eprintln!("--- agent {} log (last 60 lines) ---", a.node);
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
                let ctd = std::fs::read_to_string(a.data_dir.join("containerd/containerd.log"))
                    .unwrap_or_default();
                eprintln!("--- containerd errors ---");
                for l in ctd.lines().filter(|l| l.contains("level=error")).take(20) {
                    eprintln!("{l}");
                }
            }
        }
        for a in &self.agents {
            crate::keep_log(&a.log, &format!("agent-{}", a.node));
        }
        // Containers the agents did not remove (a failed test): kill their tasks while our
        // containerd still runs, so their shims exit.
        for a in &self.agents {
            let socket = a.data_dir.join("containerd/containerd.sock");
            for id in containers_at(&socket) {
                ctr(&socket, &["tasks", "kill", "--signal", "SIGKILL", &id]);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        for a in &self.agents {
            let socket = a.data_dir.join("containerd/containerd.sock");
            for id in containers_at(&socket) {
                ctr(&socket, &["tasks", "delete", "--force", &id]);
                ctr(&socket, &["containers", "delete", &id]);
            }
        }
        for a in &mut self.agents {
            stop_child(&mut a.child);
        }
        // The server's own agent stops its containerd on SIGTERM. The server (and so its
        // temp dir) is dropped only at the end, once nothing is mounted under its dir:
        // removing a dir with live mounts fails and leaves it behind.
        let mut own_server = self.own_server.take();
        if let Some(server) = own_server.as_mut() {
            server.terminate();
        }
        let own_dir = own_server
            .as_ref()
            .map(|s| s.data_dir().to_string_lossy().to_string());
        let dir = self.dir.path().to_string_lossy().to_string();
        // Containers of our pods whose runtime is already gone (a test stopped the agent
        // while pods ran): their processes sit in the pods' cgroups; the pod uids are in the
        // agents' log dirs.
        let uids: Vec<String> = self
            .agents
            .iter()
            .filter_map(|a| std::fs::read_dir(a.data_dir.join("pods")).ok())
            .flat_map(|d| d.flatten())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.rsplit('_').next().map(str::to_string)
            })
            .filter(|uid| uid.len() >= 32)
            .collect();
        for pid in pids_in_pod_cgroups(&uids) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        // Any process still pointing at our dirs: containerd (if an agent was killed hard)
        // and shims (`-address <dir>/.../containerd.sock`).
        let agent_dirs = self
            .agents
            .iter()
            .map(|a| a.data_dir.to_string_lossy().to_string());
        for d in std::iter::once(dir.clone())
            .chain(own_dir.clone())
            .chain(agent_dirs)
        {
            for pid in pids_mentioning(&d) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let mut stop = Command::new(repo_root().join("scripts/registry.sh"));
        stop.arg("stop");
        self.registry_env(&mut stop);
        let _ = stop.status();
        for (dir, port) in &self.extra_registries {
            let _ = Command::new(repo_root().join("scripts/registry.sh"))
                .arg("stop")
                .env("REGISTRY_DIR", dir)
                .env("REGISTRY_PORT", port.to_string())
                .status();
        }
        let agent_dirs = self
            .agents
            .iter()
            .map(|a| a.data_dir.to_string_lossy().to_string());
        for d in std::iter::once(dir.clone())
            .chain(own_dir.clone())
            .chain(agent_dirs)
        {
            for mount in mounts_under(&d) {
                let _ = Command::new("umount").args(["-l", &mount]).status();
            }
        }
        drop(own_server);
        for ns in netns() {
            if ns.starts_with("cni-") && !self.netns_before.contains(&ns) {
                let path = format!("/var/run/netns/{ns}");
                let _ = Command::new("umount").args(["-l", &path]).status();
                let _ = std::fs::remove_file(&path);
            }
        }
        // The service proxies' tables (an agent killed hard leaves its table behind).
        for a in &self.agents {
            let clean: String = a
                .node
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            for table in [
                format!("skiff-proxy-{clean}"),
                format!("skiff-netpol-{clean}"),
            ] {
                let _ = Command::new("nft")
                    .args(["delete", "table", "ip", &table])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        // host-gw routes of an agent killed hard (the slot's CIDR is ours alone).
        for route in pod_routes_in(&self.cluster_cidr(), None) {
            let words: Vec<&str> = route.split_whitespace().collect();
            let via = words.iter().position(|w| *w == "via");
            if let (Some(prefix), Some(gw)) = (words.first(), via.and_then(|i| words.get(i + 1))) {
                let _ = Command::new("ip")
                    .args(["route", "delete", prefix, "via", gw])
                    .status();
            }
        }
        for cidr in [self.cluster_cidr(), self.service_cidr()] {
            if !self.routes_before.contains(&cidr) {
                let _ = Command::new("ip")
                    .args(["route", "delete", "unreachable", &cidr, "metric", "4242"])
                    .status();
            }
        }
        // The pods' parent cgroup, in each hierarchy (rmdir leaves it while in use by
        // another test's pods).
        if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                remove_empty_cgroups(&d.path().join("skiff"));
            }
        }
        remove_empty_cgroups(Path::new("/sys/fs/cgroup/skiff"));
        self.remove_bridge();
    }
}

/// rmdir of every cgroup below and at `dir`, deepest first; busy ones stay.
fn remove_empty_cgroups(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_cgroups(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

pub fn unreachable_routes() -> String {
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

/// Processes in the cgroup of one of these pods (`.../pod<uid>/...`).
fn pids_in_pod_cgroups(uids: &[String]) -> Vec<u32> {
    if uids.is_empty() {
        return Vec::new();
    }
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    let cg =
                        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                    uids.iter().any(|u| cg.contains(&format!("/pod{u}")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Processes (not this one) whose command line mentions `text`.
pub fn pids_mentioning(text: &str) -> Vec<u32> {
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

/// A plain HTTP/1.1 GET to a pod address; the whole reply (head and body), or None.
pub fn http_get(ip: &str, port: u16, path: &str) -> Option<String> {
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

/// A network namespace of the test's own (`sktnsN`), joined to the host by a veth pair on
/// a /30 of its own (`10.199.N.1` on the host, `10.199.N.2` inside), for an agent that
/// joins from "another machine". Create it before the server, so the server's certificate
/// names the host-side address. Removed on drop.
pub struct Netns {
    pub name: String,
    host_if: String,
    pub host_ip: String,
    pub ns_ip: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    pub fn new(slot: u32) -> Netns {
        let ns = Netns {
            name: format!("sktns{slot}"),
            host_if: format!("sktv{slot}h"),
            host_ip: format!("10.199.{slot}.1"),
            ns_ip: format!("10.199.{slot}.2"),
        };
        // Leftovers of a killed run in the same slot.
        ns.remove();
        let inner = format!("sktv{}n", slot);
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
        ]);
        ip(&["link", "set", &inner, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{}/30", ns.ns_ip),
            "dev",
            &inner,
        ]);
        ip(&["-n", &ns.name, "link", "set", &inner, "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    fn remove(&self) {
        if Path::new("/var/run/netns").join(&self.name).exists() {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.name])
                .status();
        }
        if Path::new("/sys/class/net").join(&self.host_if).exists() {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.host_if])
                .status();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.remove();
    }
}

impl NodeHost {
    /// A network namespace for this host's slot (see [`Netns`]).
    pub fn netns(&self) -> Netns {
        Netns::new(self.slot.n)
    }

    /// [`NodeHost::start_agent_with_token`], with the agent inside `ns` (only its network
    /// namespace: it shares the host's mounts and cgroups) reaching the server over the veth.
    pub fn start_agent_in_netns(
        &mut self,
        bin: &Path,
        server: &Server,
        node: &str,
        token: &str,
        ns: &Netns,
        extra: &[&str],
    ) {
        self.start_joining_agent(bin, server, node, token, ns, JoinFrom::Netns, extra);
    }

    /// The other side of [`NodeHost::start_agent_in_netns`]: an agent in the host's own
    /// network namespace that joins through `ns`'s veth (the server bound on
    /// `ns.host_ip`) and reports `ns.host_ip` as its InternalIP (`--node-ip`), so the node
    /// in `ns` routes this node's pods through the veth.
    pub fn start_agent_on_veth(
        &mut self,
        bin: &Path,
        server: &Server,
        node: &str,
        token: &str,
        ns: &Netns,
        extra: &[&str],
    ) {
        let mut args = vec!["--node-ip", &ns.host_ip];
        args.extend_from_slice(extra);
        self.start_joining_agent(bin, server, node, token, ns, JoinFrom::Host, &args);
    }

    #[allow(clippy::too_many_arguments)]
    fn start_joining_agent(
        &mut self,
        bin: &Path,
        server: &Server,
        node: &str,
        token: &str,
        ns: &Netns,
        from: JoinFrom,
        extra: &[&str],
    ) {
        let data_dir = self.dir.path().join(format!("agent-{node}"));
        let log = self.dir.path().join(format!("agent-{node}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("agent log");
        let url = format!("https://{}:{}", ns.host_ip, server.port);
        // nsenter execs the agent in place, so the child is the agent itself.
        let mut cmd = if from == JoinFrom::Netns {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/var/run/netns/{}", ns.name))
                .arg("--")
                .arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let child = cmd
            .args(["agent", "--server", &url, "--token", token])
            .args(["--node-name", node])
            .args(self.agent_args(&data_dir))
            .args(extra)
            .env("SKIFF_LOG", crate::log_filter())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start skiff agent");
        match self.agents.iter_mut().find(|a| a.node == node) {
            Some(a) => a.child = Some(child),
            None => self.agents.push(AgentProc {
                node: node.to_string(),
                child: Some(child),
                data_dir,
                log,
            }),
        }
        wait_node_ready(&server.kubectl(), node);
    }

    /// The host-gw routes (`<podCIDR> via <node>`, see the agent's `pod_routes`) into this
    /// host's cluster CIDR: in the host's network namespace, or in `ns`.
    pub fn pod_routes(&self, ns: Option<&Netns>) -> Vec<String> {
        pod_routes_in(&self.cluster_cidr(), ns.map(|n| n.name.as_str()))
    }
}

/// Which network namespace a joining agent runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JoinFrom {
    Netns,
    Host,
}

/// Lines of `ip route show root <cidr>` with a gateway, in the named network namespace or
/// the test's own.
fn pod_routes_in(cidr: &str, netns: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd
        .args(["-4", "route", "show", "root", cidr])
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" via "))
        .map(|l| l.trim().to_string())
        .collect()
}
