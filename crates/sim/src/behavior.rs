//! What a simulated pod's containers do, chosen by an annotation on the pod.

use std::time::Duration;

/// `run` (default), `succeed-after=5s`, `fail-after=5s[,code=2]`, `never-ready`,
/// `crash-loop`.
pub const BEHAVIOR_ANNOTATION: &str = "sim.skiff.dev/behavior";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Start and stay Running and Ready.
    Run,
    /// Start but never pass readiness.
    NeverReady,
    /// Exit with `code` after running for `after`.
    Exit { after: Duration, code: i32 },
    /// Exit with code 1 shortly after every start.
    CrashLoop,
}

/// What the pod goes through, once its restart policy is taken into account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Run {
        ready: bool,
    },
    /// The containers exit and are not restarted: phase Succeeded (code 0) or Failed.
    Terminal {
        after: Duration,
        code: i32,
    },
    /// The containers exit after `run_for` and the kubelet restarts them, backing off.
    CrashLoop {
        run_for: Duration,
        code: i32,
    },
}

/// How long a crash-looping container runs before it exits.
const CRASH_AFTER: Duration = Duration::from_secs(1);

impl Behavior {
    pub fn parse(value: &str) -> Result<Behavior, String> {
        let value = value.trim();
        let (name, arg) = value.split_once('=').unwrap_or((value, ""));
        let bad = || format!("unknown {BEHAVIOR_ANNOTATION} value {value:?}");
        match (name, arg) {
            ("run" | "", "") => Ok(Behavior::Run),
            ("never-ready", "") => Ok(Behavior::NeverReady),
            ("crash-loop", "") => Ok(Behavior::CrashLoop),
            ("succeed-after", d) => Ok(Behavior::Exit {
                after: apimachinery::duration::parse(d).ok_or_else(bad)?,
                code: 0,
            }),
            ("fail-after", rest) => {
                let (d, code) = rest.split_once(',').unwrap_or((rest, "code=1"));
                let code = code
                    .strip_prefix("code=")
                    .and_then(|c| c.parse::<i32>().ok())
                    .filter(|c| *c != 0)
                    .ok_or_else(bad)?;
                Ok(Behavior::Exit {
                    after: apimachinery::duration::parse(d).ok_or_else(bad)?,
                    code,
                })
            }
            _ => Err(bad()),
        }
    }

    /// The kubelet restarts exited containers per the pod's `restartPolicy`.
    pub fn plan(self, restart_policy: &str) -> Plan {
        let restarts = |code: i32| match restart_policy {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => true, // Always, the default
        };
        match self {
            Behavior::Run => Plan::Run { ready: true },
            Behavior::NeverReady => Plan::Run { ready: false },
            Behavior::Exit { after, code } if restarts(code) => Plan::CrashLoop {
                run_for: after,
                code,
            },
            Behavior::Exit { after, code } => Plan::Terminal { after, code },
            Behavior::CrashLoop if restarts(1) => Plan::CrashLoop {
                run_for: CRASH_AFTER,
                code: 1,
            },
            Behavior::CrashLoop => Plan::Terminal {
                after: CRASH_AFTER,
                code: 1,
            },
        }
    }
}

/// The kubelet's restart back-off: 10 s, doubling, at most 5 minutes.
pub fn backoff(restarts: u32) -> Duration {
    Duration::from_secs(10u64 << restarts.min(5)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_plans() {
        let cases = [
            ("run", "Always"),
            ("", "Always"),
            ("never-ready", "Always"),
            ("succeed-after=5s", "Never"),
            ("succeed-after=5s", "OnFailure"),
            ("succeed-after=1m30s", "Always"),
            ("fail-after=500ms", "Never"),
            ("fail-after=5s,code=2", "OnFailure"),
            ("fail-after=5s,code=2", "Never"),
            ("crash-loop", "Always"),
            ("crash-loop", "Never"),
            ("fail-after=5s,code=0", "Never"),
            ("succeed-after", "Never"),
            ("succeed-after=5x", "Never"),
            ("explode", "Never"),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|(v, policy)| match Behavior::parse(v) {
                Ok(b) => format!("{v:?} {policy}: {:?}", b.plan(policy)),
                Err(e) => format!("{v:?}: error: {e}"),
            })
            .collect();
        expect_test::expect![[r#"
            [
                "\"run\" Always: Run { ready: true }",
                "\"\" Always: Run { ready: true }",
                "\"never-ready\" Always: Run { ready: false }",
                "\"succeed-after=5s\" Never: Terminal { after: 5s, code: 0 }",
                "\"succeed-after=5s\" OnFailure: Terminal { after: 5s, code: 0 }",
                "\"succeed-after=1m30s\" Always: CrashLoop { run_for: 90s, code: 0 }",
                "\"fail-after=500ms\" Never: Terminal { after: 500ms, code: 1 }",
                "\"fail-after=5s,code=2\" OnFailure: CrashLoop { run_for: 5s, code: 2 }",
                "\"fail-after=5s,code=2\" Never: Terminal { after: 5s, code: 2 }",
                "\"crash-loop\" Always: CrashLoop { run_for: 1s, code: 1 }",
                "\"crash-loop\" Never: Terminal { after: 1s, code: 1 }",
                "\"fail-after=5s,code=0\": error: unknown sim.skiff.dev/behavior value \"fail-after=5s,code=0\"",
                "\"succeed-after\": error: unknown sim.skiff.dev/behavior value \"succeed-after\"",
                "\"succeed-after=5x\": error: unknown sim.skiff.dev/behavior value \"succeed-after=5x\"",
                "\"explode\": error: unknown sim.skiff.dev/behavior value \"explode\"",
            ]
        "#]].assert_debug_eq(&got);
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let got: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
