//! Init containers in order before the app: each regular one must exit 0 before the next
//! starts; a sidecar (an init container with restartPolicy Always) must have started (its
//! startup probe passed) and then keeps running beside the app. Pure.

/// A container's place in the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    App,
    Init,
    Sidecar,
    /// Added to a running pod (`kubectl debug`): started once, never restarted, never
    /// counted in the pod's readiness or phase.
    Ephemeral,
}

/// One init container as the worker last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not created in this sandbox yet.
    Absent,
    /// Running; `started`: its startup probe passed (or it has none).
    Running { started: bool },
    /// Exited with this code (and perhaps waiting out a back-off to restart).
    Exited(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Create and start init container `i`.
    Start(usize),
    /// Init container `i` is under way (running, or restarting after a failure).
    Wait(usize),
    /// Init container `i` failed and the pod's restart policy does not retry it: the pod
    /// fails.
    Failed(usize),
    /// Every init container is through: the app containers may start.
    Done,
}

/// One init container: sidecar or not, what was seen, and whether (a sidecar) it has
/// started once already — a sidecar that restarts later does not hold the pod back again.
#[derive(Clone, Copy, Debug)]
pub struct InitView {
    pub sidecar: bool,
    pub seen: Seen,
    pub started_once: bool,
}

pub fn next(inits: &[InitView], pod_policy: &str) -> Next {
    for (i, v) in inits.iter().enumerate() {
        let through = match (v.sidecar, v.seen) {
            (_, Seen::Absent) => return Next::Start(i),
            (true, Seen::Running { started }) => started || v.started_once,
            (true, Seen::Exited(_)) => v.started_once,
            (false, Seen::Running { .. }) => false,
            (false, Seen::Exited(0)) => true,
            (false, Seen::Exited(_)) if pod_policy == "Never" => return Next::Failed(i),
            (false, Seen::Exited(_)) => false,
        };
        if !through {
            return Next::Wait(i);
        }
    }
    Next::Done
}

/// The restart policy that applies when a container exits: the pod's for app containers;
/// a regular init container that succeeded is done, one that failed restarts unless the pod
/// says Never; sidecars always restart until the pod is finishing.
pub fn restart_policy(role: Role, pod_policy: &str, exit_code: i32, finishing: bool) -> &str {
    match role {
        Role::App => pod_policy,
        Role::Init if exit_code == 0 || pod_policy == "Never" => "Never",
        Role::Init => "Always",
        Role::Sidecar if finishing => "Never",
        Role::Sidecar => "Always",
        Role::Ephemeral => "Never",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compact views: `i` regular init, `s` sidecar, then `-` absent, `r` running (not
    /// started), `R` running and started, a digit for the exit code; `!` after a sidecar
    /// that started once.
    fn views(spec: &str) -> Vec<InitView> {
        spec.split_whitespace()
            .map(|v| {
                let b = v.as_bytes();
                InitView {
                    sidecar: b[0] == b's',
                    seen: match b[1] {
                        b'-' => Seen::Absent,
                        b'r' => Seen::Running { started: false },
                        b'R' => Seen::Running { started: true },
                        d => Seen::Exited(i32::from(d - b'0')),
                    },
                    started_once: v.ends_with('!'),
                }
            })
            .collect()
    }

    #[test]
    fn ordering() {
        let cases = [
            ("", "Always", Next::Done),
            ("i-", "Always", Next::Start(0)),
            ("i0 i-", "Always", Next::Start(1)),
            ("ir i-", "Always", Next::Wait(0)),
            ("i0 i0", "Never", Next::Done),
            ("i0 i1", "Never", Next::Failed(1)),
            ("i1 i-", "OnFailure", Next::Wait(0)),
            ("i1 i-", "Always", Next::Wait(0)),
            // A sidecar holds the next init container until it has started.
            ("sr i-", "Never", Next::Wait(0)),
            ("sR i-", "Never", Next::Start(1)),
            ("sR i0 s-", "Never", Next::Start(2)),
            // A sidecar that started once and then crashed does not block again.
            ("s1! i-", "Never", Next::Start(1)),
            ("s1 i-", "Never", Next::Wait(0)),
            ("sr! i0", "Always", Next::Done),
            ("sR i0 sR", "Always", Next::Done),
        ];
        for (spec, policy, want) in cases {
            assert_eq!(next(&views(spec), policy), want, "{spec:?} {policy}");
        }
    }

    #[test]
    fn restart_policies() {
        let cases = [
            (Role::App, "Never", 1, false, "Never"),
            (Role::App, "OnFailure", 1, false, "OnFailure"),
            (Role::Init, "Always", 0, false, "Never"),
            (Role::Init, "Always", 1, false, "Always"),
            (Role::Init, "OnFailure", 1, false, "Always"),
            (Role::Init, "Never", 1, false, "Never"),
            (Role::Sidecar, "Never", 0, false, "Always"),
            (Role::Sidecar, "Never", 137, true, "Never"),
        ];
        for (role, policy, code, finishing, want) in cases {
            assert_eq!(
                restart_policy(role, policy, code, finishing),
                want,
                "{role:?} {policy} {code} {finishing}"
            );
        }
    }
}
