//! Driving kubectl under a pseudo-terminal, as a user at a shell does (`-it`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Kubectl;

/// Runs `cmd` under a pseudo-terminal (`script`), feeding `input` pieces a moment apart.
pub fn under_pty(cmd: &str, input: &[&str], timeout: Duration) -> (Option<i32>, String) {
    let mut child = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::sleep(Duration::from_secs(2));
    for piece in input {
        let _ = stdin.write_all(piece.as_bytes());
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(700));
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stdin);
    let out = child.wait_with_output().map(|o| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (status, out.unwrap_or_default())
}

/// `kubectl ARGS` as one shell line (for `script -c`), with the test's kubeconfig and a
/// cache of its own.
pub fn kubectl_line(k: &Kubectl, args: &str) -> String {
    let cache = k
        .kubeconfig
        .parent()
        .map(|d| d.join("kubectl-cache-pty"))
        .unwrap_or_default();
    format!(
        "{} --kubeconfig {} --cache-dir {} {args}",
        k.bin.display(),
        k.kubeconfig.display(),
        cache.display()
    )
}
