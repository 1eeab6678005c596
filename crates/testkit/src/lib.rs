//! Test harness: starts real `skiff` processes on free ports in their own data dirs and
//! drives them with real kubectl. Everything it starts is stopped and removed on drop.

pub mod etcd;
pub mod node;
pub mod pty;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where `scripts/install-tools.sh` puts kubectl 1.37/1.36 and helm.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("SKIFF_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/skiff/tools"))
        .join("bin")
}

/// kubectl 1.37 (the version the API targets). Panics with the fix if it is missing.
pub fn kubectl_latest() -> PathBuf {
    let p = tools_dir().join("kubectl-1.37");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-tools.sh (the README's test command does)",
        p.display()
    );
    p
}

/// The machine's own, older kubectl (1.32 on PATH).
pub fn kubectl_system() -> PathBuf {
    PathBuf::from("/usr/bin/kubectl")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub struct Server {
    bin: PathBuf,
    extra_args: Vec<String>,
    /// Run the server's own node agent (real containers); off by default.
    agent: bool,
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    /// Starts `skiff server --disable-agent` on a free port in a new temp dir and waits
    /// until it has printed its kubeconfig line (it does so only once ready).
    pub fn start(bin: &Path) -> Server {
        Server::start_with(bin, &[])
    }

    /// [`Server::start`] with extra `skiff server` flags (e.g. shorter node grace periods).
    pub fn start_with(bin: &Path, extra_args: &[&str]) -> Server {
        Server::start_opts(bin, extra_args, false)
    }

    /// [`Server::start_with`], and with `agent` the server runs its own node agent (see
    /// `node::NodeHost::server_with_agent`, which gives it a test slot's network).
    pub fn start_opts(bin: &Path, extra_args: &[&str], agent: bool) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("skiff-test-")
            .tempdir()
            .expect("tempdir");
        Server::start_in(bin, dir, extra_args, agent)
    }

    /// [`Server::start_opts`] in a data dir the test prepared (e.g. a restored snapshot).
    pub fn start_in(
        bin: &Path,
        dir: tempfile::TempDir,
        extra_args: &[&str],
        agent: bool,
    ) -> Server {
        let mut s = Server {
            bin: bin.to_path_buf(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            agent,
            log: dir.path().join("server.log"),
            dir,
            port: free_port(),
            child: None,
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut child = Command::new(&self.bin)
            .arg("server")
            .args((!self.agent).then_some("--disable-agent"))
            .args(["--bind-address", "127.0.0.1", "--https-listen-port"])
            .arg(self.port.to_string())
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(&self.extra_args)
            .env("SKIFF_LOG", crate::log_filter())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start skiff");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(if self.agent { 90 } else { 30 });
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.starts_with("export KUBECONFIG=") => break,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("skiff exited early ({status}); log:\n{}", self.log_text());
                    }
                    assert!(
                        Instant::now() < deadline,
                        "skiff not ready in time; log:\n{}",
                        self.log_text()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("skiff closed stdout; log:\n{}", self.log_text())
                }
            }
        }
        self.child = Some(child);
        self.wait_settled();
    }

    /// Waits until the controllers have given the `default` namespace what every namespace
    /// gets (its service account and the root CA config map), so tests start from the state
    /// a user finds, not from a race with the controllers.
    fn wait_settled(&self) {
        let k = self.kubectl();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let sa = k.run(&[
                "get",
                "serviceaccount",
                "default",
                "-n",
                "default",
                "-o",
                "name",
            ]);
            let cm = k.run(&[
                "get",
                "configmap",
                "kube-root-ca.crt",
                "-n",
                "default",
                "-o",
                "name",
            ]);
            if sa.status.success() && cm.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "default namespace not settled after 20s; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and SIGKILL if it has not exited within 20 s.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            for _ in 0..200 {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `timeout` for the process to exit on its own (after a signal the test
    /// sent), and returns how it exited; `None` if it is still running (or was not).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.child.as_mut()?.try_wait().ok().flatten();
            if let Some(status) = status {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process and starts it again on the same port and data dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A kubectl command (given binary) pointed at this server.
    pub fn kubectl_with(&self, kubectl: &Path) -> Kubectl {
        Kubectl {
            bin: kubectl.to_path_buf(),
            kubeconfig: self.kubeconfig(),
        }
    }

    pub fn kubectl(&self) -> Kubectl {
        self.kubectl_with(&kubectl_latest())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        keep_log(&self.log, "server");
    }
}

/// With `SKIFF_TEST_KEEP_LOGS=DIR`, a copy of a skiff process's log goes into DIR before
/// its temp dir is removed (e.g. to grep a whole test run for `forbidden`).
pub fn keep_log(log: &Path, what: &str) {
    let Some(dir) = std::env::var_os("SKIFF_TEST_KEEP_LOGS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::copy(log, dir.join(format!("{what}-{}.log", unique_name())));
}

pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig").arg(&self.kubeconfig);
        // Ports are reused across runs; a discovery cache shared through ~/.kube would
        // let one run's server answer from another's cached discovery.
        if let Some(dir) = self.kubeconfig.parent() {
            let name = self
                .bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            c.arg("--cache-dir")
                .arg(dir.join(format!("kubectl-cache-{name}")));
        }
        c.args(args);
        c.env_remove("KUBECONFIG");
        c
    }

    /// Starts kubectl in the background with stdout collected line by line (for `-w`).
    pub fn spawn_lines(&self, args: &[&str]) -> LineChild {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let err = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for (pipe, sink) in [
            (
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
                lines.clone(),
            ),
            (
                Box::new(child.stderr.take().expect("stderr")) as Box<dyn std::io::Read + Send>,
                err.clone(),
            ),
        ] {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().expect("lines lock").push(line);
                }
            });
        }
        LineChild { child, lines, err }
    }

    /// Runs kubectl; returns the output whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run kubectl")
    }

    /// Runs kubectl with `stdin` as input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs kubectl and panics (with its stderr) unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run_stdin(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// A background kubectl whose stdout/stderr lines are collected as they arrive.
pub struct LineChild {
    pub child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    err: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LineChild {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.err.lock().expect("lines lock").clone()
    }

    /// Waits until some stdout line satisfies `pred`; false on timeout.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.lines().iter().any(|l| pred(l)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits for the process to exit by itself; None on timeout (then it is killed).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                // Let the reader threads drain what is left in the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `skiff sim` child process simulating nodes for a test server; killed on drop (its
/// nodes then stop heartbeating, as powered-off machines would).
pub struct Sim {
    child: Child,
    log: PathBuf,
}

impl Sim {
    /// `skiff sim --nodes N` plus `extra_args` (e.g. `--name-prefix`, `--taint`).
    pub fn start(server: &Server, nodes: usize, extra_args: &[&str]) -> Sim {
        let log = server.data_dir().join(format!("sim-{}.log", unique_name()));
        let child = Command::new(&server.bin)
            .args(["sim", "--server", &server.url(), "--kubeconfig"])
            .arg(server.kubeconfig())
            .args(["--nodes", &nodes.to_string()])
            .args(extra_args)
            .env("SKIFF_LOG", crate::log_filter())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sim log"))
            .spawn()
            .expect("start skiff sim");
        Sim { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the simulator now, as if its machines lost power.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unique_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `probe` until `want` holds of its result; panics with the last result otherwise.
pub fn eventually<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    probe: impl Fn() -> T,
    want: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let got = probe();
        if want(&got) {
            return got;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen {got:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The log filter of the skiff processes a test starts: `SKIFF_TEST_LOG` when set (e.g.
/// `SKIFF_TEST_LOG=info,agent=debug` to see a pod's start-up phases), else `info`.
pub fn log_filter() -> String {
    std::env::var("SKIFF_TEST_LOG").unwrap_or_else(|_| "info".into())
}
