//! Where a pod burst's CPU goes: the control plane, the agent, its containerd (with the CNI
//! plugins it ran and reaped) and the runtime shims (with the runc runs under them).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// CPU time per part, from /proc.
#[derive(Clone, Debug, Default)]
pub(crate) struct Split {
    parts: Vec<(&'static str, Duration)>,
}

/// utime+stime and cutime+cstime (children waited for) of a process.
fn times(pid: u32) -> (Duration, Duration) {
    let fields = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start after ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            Some((f.get(11)? + f.get(12)?, f.get(13)? + f.get(14)?))
        })
        .unwrap_or((0, 0));
    // Linux reports in USER_HZ, 100 on every architecture skiff runs on.
    let ms = |t: u64| Duration::from_millis(t * 10);
    (ms(fields.0), ms(fields.1))
}

/// Every process: pid → (parent pid, command line with NULs as spaces).
fn processes() -> HashMap<u32, (u32, String)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ");
        out.insert(pid, (ppid, cmd));
    }
    out
}

/// A snapshot for the server, the agent (its own threads) and the runtime under
/// `agent_dir` (the agent's containerd and every shim serving its socket).
pub(crate) fn snapshot(server: u32, agent: u32, agent_dir: &Path) -> Split {
    let procs = processes();
    let dir = agent_dir.display().to_string();
    let sum = |pick: &dyn Fn(&u32, &(u32, String)) -> bool, own: bool| {
        procs
            .iter()
            .filter(|(pid, p)| pick(pid, p))
            .map(|(pid, _)| {
                let (me, children) = times(*pid);
                if own {
                    me
                } else {
                    children
                }
            })
            .sum::<Duration>()
    };
    let containerd =
        |_: &u32, (ppid, cmd): &(u32, String)| *ppid == agent && cmd.starts_with("containerd ");
    let shim = |_: &u32, (_, cmd): &(u32, String)| {
        cmd.contains("containerd-shim") && cmd.contains(dir.as_str())
    };
    Split {
        parts: vec![
            (
                "server (apiserver, scheduler, controllers)",
                times(server).0,
            ),
            ("agent", times(agent).0),
            ("containerd", sum(&containerd, true)),
            (
                "CNI plugins (reaped by containerd)",
                sum(&containerd, false),
            ),
            ("shims", sum(&shim, true)),
            ("runc (reaped by the shims)", sum(&shim, false)),
        ],
    }
}

impl Split {
    /// What each part used between `before` and `self`, per pod.
    pub(crate) fn report(&self, before: &Split, pods: usize) -> String {
        let mut out = String::new();
        let mut total = Duration::ZERO;
        for ((name, after), (_, was)) in self.parts.iter().zip(&before.parts) {
            let used = after.saturating_sub(*was);
            total += used;
            out += &format!(
                "    {name:<44} {:>7.0} ms  ({:.1} ms/pod)\n",
                used.as_secs_f64() * 1e3,
                used.as_secs_f64() * 1e3 / pods.max(1) as f64
            );
        }
        out += &format!(
            "    {:<44} {:>7.0} ms  ({:.1} ms/pod)\n",
            "total",
            total.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3 / pods.max(1) as f64
        );
        out
    }
}
