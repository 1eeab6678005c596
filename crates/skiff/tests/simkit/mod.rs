//! Shared by the e2e tests that need nodes: a `skiff sim` child process and polling.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// The simulator child process, killed when the test ends.
pub struct Sim {
    child: Child,
    log: PathBuf,
}

impl Sim {
    /// Starts `nodes` simulated nodes and waits until they are all Ready.
    pub fn start(server: &Server, nodes: usize) -> Sim {
        let log = server.data_dir().join("sim.log");
        let child = Command::new(bin())
            .args([
                "sim",
                "--server",
                &server.url(),
                "--token",
                "x",
                "--kubeconfig",
            ])
            .arg(server.kubeconfig())
            .args(["--nodes", &nodes.to_string()])
            .env("SKIFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sim log"))
            .spawn()
            .expect("start skiff sim");
        let sim = Sim { child, log };
        let k = server.kubectl();
        wait_for(
            &format!("{nodes} Ready nodes"),
            Duration::from_secs(30),
            &sim,
            || {
                let out = get(&k, &["get", "nodes", "--no-headers"]);
                let ready = out
                    .lines()
                    .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
                    .count();
                (ready != nodes).then_some(out)
            },
        );
        sim
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `None` (done); `Some(state)` is what was seen last.
pub fn wait_for(
    what: &str,
    timeout: Duration,
    sim: &Sim,
    mut check: impl FnMut() -> Option<String>,
) {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match check() {
            None => return,
            Some(state) => last = state,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = sim.log();
    let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
    panic!("timed out waiting for {what}; last seen:\n{last}\nsim log (last lines, newest first):\n{tail}");
}

/// kubectl's stdout, whether or not it succeeded.
pub fn get(k: &Kubectl, args: &[&str]) -> String {
    let out = k.run(args);
    String::from_utf8_lossy(&out.stdout).into_owned()
}
