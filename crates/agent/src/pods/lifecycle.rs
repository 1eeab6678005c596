//! What to do about an app container that exited: restart it now, wait out the crash
//! back-off (upstream's: the first restart at once, then 10 s doubling to 5 min, forgotten
//! after 10 min without a crash), or leave it terminated. Pure.

use std::time::Duration;

pub const BACKOFF_START: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long without crashing starts its back-off afresh.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Create and start the container again now.
    Restart,
    /// Restart once this much more time has passed (CrashLoopBackOff meanwhile).
    BackOff(Duration),
    /// Leave it terminated: the restart policy does not restart it.
    Done,
}

/// The crash back-off of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    /// Time since the last restart, if there was one.
    pub since_restart: Option<Duration>,
    /// The delay the next restart waits (zero before the first restart).
    pub delay: Duration,
}

impl Backoff {
    /// After a restart: the next one waits twice as long (the first 10 s).
    pub fn after_restart(&self) -> Duration {
        if self.delay.is_zero() {
            BACKOFF_START
        } else {
            (self.delay * 2).min(BACKOFF_MAX)
        }
    }
}

pub fn decide(restart_policy: &str, exit_code: i32, b: &Backoff, ran_for: Duration) -> Decision {
    let restart = match restart_policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    };
    if !restart {
        return Decision::Done;
    }
    if ran_for >= BACKOFF_RESET {
        return Decision::Restart;
    }
    match b.since_restart {
        None => Decision::Restart,
        Some(since) if since >= b.delay => Decision::Restart,
        Some(since) => Decision::BackOff(b.delay - since),
    }
}

/// The terminated state's reason as upstream reports it.
pub fn terminated_reason(exit_code: i32, runtime_reason: &str) -> &str {
    match runtime_reason {
        "OOMKilled" => "OOMKilled",
        _ if exit_code == 0 => "Completed",
        _ => "Error",
    }
}

/// The pod's phase from its app containers: Running while any runs or will restart,
/// Succeeded when all ended with 0 and none restarts, else Failed.
pub fn phase(all_done: bool, all_zero: bool) -> &'static str {
    match (all_done, all_zero) {
        (false, _) => "Running",
        (true, true) => "Succeeded",
        (true, false) => "Failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let s = Duration::from_secs;
        let fresh = Backoff::default();
        let restarted = |since, delay| Backoff {
            since_restart: Some(s(since)),
            delay: s(delay),
        };
        let cases = [
            ("Always", 1, fresh.clone(), s(1), Decision::Restart),
            ("Always", 0, fresh.clone(), s(1), Decision::Restart),
            ("OnFailure", 0, fresh.clone(), s(1), Decision::Done),
            ("OnFailure", 2, fresh.clone(), s(1), Decision::Restart),
            ("Never", 1, fresh.clone(), s(1), Decision::Done),
            ("Always", 1, restarted(3, 10), s(3), Decision::BackOff(s(7))),
            ("Always", 1, restarted(12, 10), s(12), Decision::Restart),
            ("Always", 1, restarted(30, 40), s(700), Decision::Restart),
        ];
        for (policy, code, b, ran, want) in cases {
            assert_eq!(
                decide(policy, code, &b, ran),
                want,
                "{policy} {code} {b:?} {ran:?}"
            );
        }
        let delays: Vec<u64> = [0, 10, 20, 160, 300]
            .iter()
            .map(|d| restarted(0, *d).after_restart().as_secs())
            .collect();
        assert_eq!(delays, [10, 20, 40, 300, 300]);
        assert_eq!(terminated_reason(0, ""), "Completed");
        assert_eq!(terminated_reason(1, ""), "Error");
        assert_eq!(terminated_reason(137, "OOMKilled"), "OOMKilled");
        assert_eq!(phase(false, false), "Running");
        assert_eq!(phase(true, true), "Succeeded");
        assert_eq!(phase(true, false), "Failed");
    }
}
