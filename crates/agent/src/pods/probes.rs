//! Liveness, readiness and startup probes: one task per probe of a running container
//! instance (a restarted container gets fresh ones). Each task keeps upstream's counting —
//! a result flips only after successThreshold/failureThreshold results in a row — and
//! writes what it concluded into the container's shared [`Health`], waking the pod worker.
//! The worker reads `Health` into the status and kills a container whose liveness or
//! startup probe failed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::handlers::{self, HttpRequest};
use crate::cri::Cri;
use crate::events::Recorder;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }
}

/// What the probes of one container instance concluded so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The readiness probe passes (true without one, once started).
    pub ready: bool,
    /// The startup probe passed (true without one).
    pub started: bool,
    /// The liveness or startup probe failed for good: the container must be killed.
    pub failed: Option<Kind>,
}

/// Upstream's probe timings with its defaults (and minimums).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

pub fn timing(p: &Probe, kind: Kind) -> Timing {
    let secs = |v: Option<i32>, default: i32, min: i32| {
        Duration::from_secs(v.unwrap_or(default).max(min) as u64)
    };
    // Liveness and startup must succeed once; only readiness may ask for more.
    let success = match kind {
        Kind::Readiness => p.success_threshold.unwrap_or(1).max(1) as u32,
        _ => 1,
    };
    Timing {
        initial_delay: secs(p.initial_delay_seconds, 0, 0),
        period: secs(p.period_seconds, 10, 1),
        timeout: secs(p.timeout_seconds, 1, 1),
        success_threshold: success,
        failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
    }
}

/// Counts results in a row and says when the probe's result changes. Pure.
#[derive(Clone, Debug)]
pub struct Counter {
    /// The current result: readiness starts failed, liveness succeeded, startup unknown.
    pub result: Option<bool>,
    last: Option<bool>,
    run: u32,
}

impl Counter {
    pub fn new(kind: Kind) -> Counter {
        Counter {
            result: match kind {
                Kind::Readiness => Some(false),
                Kind::Liveness => Some(true),
                Kind::Startup => None,
            },
            last: None,
            run: 0,
        }
    }

    /// One probe's outcome; returns the new result when it changes.
    pub fn observe(&mut self, ok: bool, t: &Timing) -> Option<bool> {
        if self.last == Some(ok) {
            self.run += 1;
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok {
            t.success_threshold
        } else {
            t.failure_threshold
        };
        if self.run < needed || self.result == Some(ok) {
            return None;
        }
        self.result = Some(ok);
        Some(ok)
    }
}

/// How often the same failure is written as an event again. Upstream writes one per
/// failure and its event recorder folds repeats into a count; our recorder does not fold,
/// so a probe failing every second would write an Event object every second.
pub const REPEAT_EVENT: Duration = Duration::from_secs(60);

/// Lets a failure message through when it differs from the last one or is due again.
#[derive(Default)]
pub struct Throttle {
    last: Option<(String, std::time::Instant)>,
}

impl Throttle {
    pub fn allow(&mut self, msg: &str, now: std::time::Instant) -> bool {
        let due = match &self.last {
            Some((m, at)) => m != msg || now.duration_since(*at) >= REPEAT_EVENT,
            None => true,
        };
        if due {
            self.last = Some((msg.to_string(), now));
        }
        due
    }
}

/// The probes of one container instance; dropping it stops them.
pub struct Probers {
    /// The container instance they probe.
    pub container_id: String,
    pub health: Arc<Mutex<Health>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Probers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Probers {
    pub fn health(&self) -> Health {
        lock(&self.health).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a probe task needs.
#[derive(Clone)]
pub struct Target {
    pub cri: Cri,
    pub events: Recorder,
    pub pod: Pod,
    pub container: Container,
    pub container_id: String,
    pub pod_ip: String,
    /// Wakes the pod worker when a result changes.
    pub wake: Arc<Notify>,
    /// How long the container has run already (one adopted after an agent restart has
    /// served its initial delay before).
    pub running_for: Duration,
    /// What the posted status last said of this very instance (ready, started): an agent
    /// restart keeps it until a probe says otherwise, rather than flip the pod unready.
    pub posted: Option<(bool, bool)>,
}

/// Starts the container's probes; with none, it is ready and started at once.
pub fn start(t: Target) -> Probers {
    let c = &t.container;
    let (was_ready, was_started) = t.posted.unwrap_or((false, false));
    let health = Arc::new(Mutex::new(Health {
        ready: c.readiness_probe.is_none() || was_ready,
        started: c.startup_probe.is_none() || was_started,
        failed: None,
    }));
    let mut tasks = Vec::new();
    for (kind, probe) in [
        (Kind::Startup, &c.startup_probe),
        (Kind::Liveness, &c.liveness_probe),
        (Kind::Readiness, &c.readiness_probe),
    ] {
        if let Some(p) = probe.clone() {
            let (t, health) = (t.clone(), health.clone());
            tasks.push(tokio::spawn(run(kind, p, t, health)));
        }
    }
    Probers {
        container_id: t.container_id,
        health,
        tasks,
    }
}

async fn run(kind: Kind, p: Probe, t: Target, health: Arc<Mutex<Health>>) {
    let timing = timing(&p, kind);
    let mut counter = Counter::new(kind);
    if kind == Kind::Readiness && lock(&health).ready {
        counter.result = Some(true);
    }
    let mut throttle = Throttle::default();
    // initialDelaySeconds counts from the container's start, as upstream's.
    tokio::time::sleep(timing.initial_delay.saturating_sub(t.running_for)).await;
    let name = t.container.name.clone();
    loop {
        let started = lock(&health).started;
        // The startup probe holds the other two back until it succeeds, then stops.
        let skip = match kind {
            Kind::Startup => started,
            _ => !started,
        };
        if kind == Kind::Startup && started {
            return;
        }
        if !skip {
            let outcome = once(&p, &t, timing.timeout).await;
            if let Err(msg) = &outcome {
                let msg = format!("{} probe failed: {}", kind.name(), msg.trim_end());
                if throttle.allow(&msg, std::time::Instant::now()) {
                    t.events
                        .record(&t.pod, Some(&name), true, "Unhealthy", &msg);
                }
            }
            if let Some(result) = counter.observe(outcome.is_ok(), &timing) {
                let mut h = lock(&health);
                match (kind, result) {
                    (Kind::Readiness, r) => h.ready = r,
                    (Kind::Startup, true) => h.started = true,
                    (_, false) => h.failed = Some(kind),
                    (Kind::Liveness, true) => {}
                }
                let give_up = h.failed.is_some();
                drop(h);
                t.wake.notify_one();
                if give_up {
                    // Upstream holds the probe until the container is replaced.
                    return;
                }
            }
        }
        tokio::time::sleep(timing.period).await;
    }
}

/// Runs the probe's handler once.
pub async fn once(p: &Probe, t: &Target, timeout: Duration) -> Result<String, String> {
    let c = &t.container;
    if let Some(e) = &p.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return handlers::exec(&t.cri, &t.container_id, &cmd, timeout).await;
    }
    if let Some(h) = &p.http_get {
        let req = HttpRequest::from_action(h, c, &t.pod_ip)?;
        let code = handlers::http_get(&req, timeout).await?;
        return handlers::http_verdict(code);
    }
    if let Some(s) = &p.tcp_socket {
        let host = s
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| t.pod_ip.clone());
        let port = handlers::resolve_port(&s.port, c)?;
        return handlers::tcp(&host, port, timeout).await;
    }
    if let Some(g) = &p.grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port number: {}", g.port))?;
        let service = g.service.clone().unwrap_or_default();
        return handlers::grpc(&t.pod_ip, port, &service, timeout).await;
    }
    Err("missing probe handler".into())
}

/// The grace period of a kill for a failed probe: the probe's own, else the pod's.
pub fn kill_grace(pod: &Pod, c: &Container, kind: Kind) -> i64 {
    let probe = match kind {
        Kind::Liveness => c.liveness_probe.as_ref(),
        Kind::Startup => c.startup_probe.as_ref(),
        Kind::Readiness => None,
    };
    probe
        .and_then(|p| p.termination_grace_period_seconds)
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30)
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(v: serde_json::Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn timings() {
        let cases = [
            (serde_json::json!({}), Kind::Liveness, (0, 10, 1, 1, 3)),
            (
                serde_json::json!({"initialDelaySeconds": 5, "periodSeconds": 2, "timeoutSeconds": 3, "successThreshold": 2, "failureThreshold": 1}),
                Kind::Readiness,
                (5, 2, 3, 2, 1),
            ),
            // Liveness and startup succeed after one success whatever the spec says.
            (
                serde_json::json!({"successThreshold": 3, "periodSeconds": 0}),
                Kind::Startup,
                (0, 1, 1, 1, 3),
            ),
        ];
        for (p, kind, (delay, period, timeout, s, f)) in cases {
            let t = timing(&probe(p.clone()), kind);
            assert_eq!(
                (
                    t.initial_delay.as_secs(),
                    t.period.as_secs(),
                    t.timeout.as_secs(),
                    t.success_threshold,
                    t.failure_threshold
                ),
                (delay, period, timeout, s, f),
                "{p}"
            );
        }
    }

    /// A sequence of probe outcomes → the result after each (`.` when unchanged).
    #[test]
    fn thresholds() {
        let t = |s, f| Timing {
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: s,
            failure_threshold: f,
        };
        let cases = [
            // Readiness starts unready: one success is enough by default.
            (Kind::Readiness, t(1, 3), "+", "T"),
            (Kind::Readiness, t(1, 3), "+---+", "T..FT"),
            (Kind::Readiness, t(2, 1), "+-++", "...T"),
            (Kind::Readiness, t(2, 1), "++-", ".TF"),
            (Kind::Readiness, t(3, 2), "++-+++", ".....T"),
            // Liveness starts alive; it fails after failureThreshold failures in a row.
            (Kind::Liveness, t(1, 3), "--+---", ".....F"),
            (Kind::Liveness, t(1, 1), "+-", ".F"),
            // Startup: unknown (false) until the first success.
            (Kind::Startup, t(1, 3), "--+", "..T"),
            (Kind::Startup, t(1, 3), "---", "..F"),
            (Kind::Startup, t(1, 2), "-+-", ".T."),
        ];
        for (kind, timing, outcomes, want) in cases {
            let mut c = Counter::new(kind);
            let got: String = outcomes
                .chars()
                .map(|o| match c.observe(o == '+', &timing) {
                    None => '.',
                    Some(true) => 'T',
                    Some(false) => 'F',
                })
                .collect();
            assert_eq!(got, want, "{kind:?} {outcomes}");
        }
    }

    #[test]
    fn repeated_failures() {
        let t0 = std::time::Instant::now();
        let s = Duration::from_secs;
        let mut th = Throttle::default();
        let got: Vec<bool> = [
            ("a", 0),
            ("a", 1),
            ("a", 59),
            ("b", 60),
            ("a", 61),
            ("a", 121),
            ("a", 122),
        ]
        .iter()
        .map(|(m, at)| th.allow(m, t0 + s(*at)))
        .collect();
        assert_eq!(got, [true, false, false, true, true, true, false]);
    }

    #[test]
    fn kill_grace_periods() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {}, "spec": {"terminationGracePeriodSeconds": 20, "containers": []},
        }))
        .unwrap();
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "a",
            "livenessProbe": {"exec": {"command": ["x"]}, "terminationGracePeriodSeconds": 3},
            "startupProbe": {"exec": {"command": ["x"]}},
        }))
        .unwrap();
        assert_eq!(kill_grace(&pod, &c, Kind::Liveness), 3);
        assert_eq!(kill_grace(&pod, &c, Kind::Startup), 20);
    }
}
