//! One pass over a pod whose sandbox runs (every second, like upstream's PLEG relist, and
//! whenever a probe result changes): ask the runtime about each container, follow running
//! instances with probers, kill what failed its liveness or startup probe, restart what
//! exited as the restart policy and the crash back-off say, start the next init container
//! or the app containers, stop sidecars once the app is done, and build the status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};
use sim::clock;
use tokio::sync::Notify;

use super::init::{self, Role};
use super::{kill, lifecycle, probes, start, status, Context};
use crate::cri::v1 as cri;
use crate::Error;

/// How often the runtime is asked about a running pod's containers.
pub const RELIST: Duration = Duration::from_secs(1);

/// One container of a running pod (its current instance).
#[derive(Clone, Debug, Default)]
pub struct Track {
    pub id: String,
    /// The dead container kept for `kubectl logs --previous`.
    pub previous: Option<String>,
    pub restart_count: u32,
    pub last_terminated: Option<Value>,
    pub last_restart: Option<Instant>,
    pub delay: Duration,
    pub backoff_reported: bool,
    /// Exited and waiting out the crash back-off: the CrashLoopBackOff state to show.
    pub backing_off: Option<Value>,
    /// Exited for good (the restart policy does not restart it).
    pub done: bool,
    /// A sidecar that has started once no longer holds the init sequence.
    pub started_once: bool,
    /// Killed for a failed liveness or startup probe: restarts unless the policy is Never,
    /// whatever its exit code.
    pub probe_killed: bool,
}

impl Track {
    pub fn new(id: String, restart_count: u32, previous: Option<String>) -> Track {
        Track {
            id,
            restart_count,
            previous,
            ..Default::default()
        }
    }
}

/// What the worker keeps about a pod's containers between passes.
#[derive(Default)]
pub struct Containers {
    pub tracks: HashMap<String, Track>,
    pub probers: HashMap<String, probes::Probers>,
    /// The app is done (or an init container failed for good): sidecars are stopped and
    /// nothing restarts any more.
    pub finishing: bool,
    /// Probers wake the worker through this when a result changes.
    pub wake: Arc<Notify>,
    /// The views of the last pass, to show a start failure's back-off against.
    pub last: Option<(Vec<status::ContainerView>, &'static str)>,
}

/// What relist needs besides the pod.
pub struct Running<'a> {
    pub sandbox_id: &'a str,
    pub sandbox: &'a cri::PodSandboxConfig,
    pub pod_ip: &'a str,
    pub start_time: &'a str,
}

/// The result of one pass.
pub struct Pass {
    pub status: Value,
    /// Nothing runs or will run again.
    pub done: bool,
    /// Every app container runs.
    pub apps_running: bool,
    /// A container that could not be started (the status shows it waiting).
    pub failed: Option<start::Failed>,
}

fn nanos(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t))
        .map(clock::time)
        .unwrap_or_default()
}

fn is_running(st: &cri::ContainerStatus) -> bool {
    st.state == cri::ContainerState::ContainerRunning as i32
}

fn is_exited(st: &cri::ContainerStatus) -> bool {
    st.state == cri::ContainerState::ContainerExited as i32
}

/// Every container of the pod with its role: init containers in order, then the app's.
pub fn roles(pod: &Pod) -> Vec<(Role, Container)> {
    let spec = pod.spec.clone().unwrap_or_default();
    let init = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let role = if kill::is_sidecar(&c) {
                Role::Sidecar
            } else {
                Role::Init
            };
            (role, c)
        });
    init.chain(spec.containers.into_iter().map(|c| (Role::App, c)))
        .collect()
}

pub async fn relist(
    ctx: &Context,
    pod: &Pod,
    run: &Running<'_>,
    cs: &mut Containers,
) -> Result<Pass, Error> {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec
        .restart_policy
        .as_deref()
        .unwrap_or("Always")
        .to_string();
    let all = roles(pod);
    let pod_ref = super::hooks::pod_ref(pod);

    let mut seen: HashMap<String, cri::ContainerStatus> = HashMap::new();
    for (_, c) in &all {
        if let Some(t) = cs.tracks.get(&c.name) {
            seen.insert(c.name.clone(), ctx.cri.container_status(&t.id).await?);
        }
    }

    // Probers follow the running instances; a dead or replaced instance loses its own.
    follow_probers(ctx, pod, run, cs, &all, &seen);

    // A failed liveness or startup probe kills the container; the exit below restarts it.
    for (_, c) in &all {
        let failed = cs.probers.get(&c.name).and_then(|p| p.health().failed);
        let (Some(kind), Some(t)) = (failed, cs.tracks.get(&c.name)) else {
            continue;
        };
        let message = format!(
            "Container {} failed {} probe, will be restarted",
            c.name,
            kind.name().to_lowercase()
        );
        let stop = kill::Stop {
            cri: &ctx.cri,
            events: &ctx.events,
            pod,
            container: c,
            id: &t.id,
            pod_ip: run.pod_ip,
            grace: probes::kill_grace(pod, c, kind),
            message,
        };
        kill::stop_container(stop).await?;
        cs.probers.remove(&c.name);
        let id = t.id.clone();
        if let Some(t) = cs.tracks.get_mut(&c.name) {
            t.probe_killed = true;
        }
        seen.insert(c.name.clone(), ctx.cri.container_status(&id).await?);
    }

    // Exits: restart now, back off, or leave terminated.
    let mut failed: Option<start::Failed> = None;
    for (role, c) in &all {
        let (Some(st), Some(track)) = (seen.get(&c.name).cloned(), cs.tracks.get_mut(&c.name))
        else {
            continue;
        };
        if !is_exited(&st) {
            continue;
        }
        let terminated = terminated_state(&st, &track.id);
        let ran_for =
            Duration::from_nanos(st.finished_at.saturating_sub(st.started_at).max(0) as u64);
        let b = lifecycle::Backoff {
            since_restart: track.last_restart.map(|t| t.elapsed()),
            delay: track.delay,
        };
        let policy = init::restart_policy(*role, &policy, st.exit_code, cs.finishing);
        let code = if track.probe_killed {
            st.exit_code.max(1)
        } else {
            st.exit_code
        };
        match lifecycle::decide(policy, code, &b, ran_for) {
            lifecycle::Decision::Restart if failed.is_none() => {
                let attempt = track.restart_count + 1;
                let r = start::start_one(
                    ctx,
                    pod,
                    c,
                    run.sandbox_id,
                    run.sandbox,
                    run.pod_ip,
                    attempt,
                )
                .await;
                let new_id = match r {
                    Ok(id) => id,
                    Err(f) => {
                        if f.reason == "CreateContainerConfigError" {
                            // The crash back-off paces the retries, as upstream's.
                            track.delay = b.after_restart();
                            track.last_restart = Some(Instant::now());
                            track.backoff_reported = false;
                        }
                        failed = Some(f);
                        continue;
                    }
                };
                if let Some(old) = track.previous.replace(track.id.clone()) {
                    if let Err(e) = ctx.cri.remove_container(&old).await {
                        tracing::warn!(container = %old, error = %e, "removing an old dead container");
                    }
                }
                track.delay = if ran_for >= lifecycle::BACKOFF_RESET {
                    lifecycle::BACKOFF_START
                } else {
                    b.after_restart()
                };
                track.id = new_id.clone();
                track.restart_count = attempt;
                track.last_terminated = Some(terminated);
                track.last_restart = Some(Instant::now());
                track.backoff_reported = false;
                track.backing_off = None;
                track.done = false;
                track.probe_killed = false;
                seen.insert(c.name.clone(), ctx.cri.container_status(&new_id).await?);
            }
            lifecycle::Decision::Restart | lifecycle::Decision::BackOff(_) => {
                let message = format!(
                    "back-off {}s restarting failed container={} pod={pod_ref}",
                    track.delay.as_secs(),
                    c.name
                );
                if !track.backoff_reported {
                    track.backoff_reported = true;
                    let msg = format!(
                        "Back-off restarting failed container {} in pod {pod_ref}",
                        c.name
                    );
                    ctx.events.record(pod, Some(&c.name), true, "BackOff", &msg);
                }
                track.backing_off =
                    Some(json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}}));
            }
            lifecycle::Decision::Done => {
                track.backing_off = None;
                track.done = true;
            }
        }
    }

    // Init containers in order, then the app containers.
    let health = |name: &str| cs.probers.get(name).map(|p| p.health());
    let apps_started = spec
        .containers
        .iter()
        .any(|c| cs.tracks.contains_key(&c.name));
    let inits: Vec<init::InitView> = all
        .iter()
        .filter(|(r, _)| *r != Role::App)
        .map(|(role, c)| {
            let track = cs.tracks.get(&c.name);
            let seen = match (track, seen.get(&c.name)) {
                (None, _) | (_, None) => init::Seen::Absent,
                (Some(_), Some(st)) if is_running(st) => init::Seen::Running {
                    started: health(&c.name).is_some_and(|h| h.started),
                },
                (Some(_), Some(st)) if is_exited(st) => init::Seen::Exited(st.exit_code),
                // Created but not running yet: as if running, it is under way.
                (Some(_), Some(_)) => init::Seen::Running { started: false },
            };
            init::InitView {
                sidecar: *role == Role::Sidecar,
                seen,
                started_once: track.is_some_and(|t| t.started_once),
            }
        })
        .collect();
    let next = if apps_started {
        init::Next::Done
    } else {
        init::next(&inits, &policy)
    };
    let mut to_start: Vec<&Container> = Vec::new();
    match next {
        init::Next::Start(i) => to_start.extend(
            all.iter()
                .filter(|(r, _)| *r != Role::App)
                .nth(i)
                .map(|(_, c)| c),
        ),
        init::Next::Done if !cs.finishing => to_start.extend(
            spec.containers
                .iter()
                .filter(|c| !cs.tracks.contains_key(&c.name)),
        ),
        _ => {}
    }
    for c in to_start {
        if failed.is_some() {
            break;
        }
        let r = start::start_one(ctx, pod, c, run.sandbox_id, run.sandbox, run.pod_ip, 0).await;
        match r {
            Ok(id) => {
                seen.insert(c.name.clone(), ctx.cri.container_status(&id).await?);
                cs.tracks.insert(c.name.clone(), Track::new(id, 0, None));
            }
            Err(f) => failed = Some(f),
        }
    }
    // Ephemeral containers: each started once, beside whatever runs; one whose target has
    // not started yet waits for it.
    let ephemerals = super::ephemeral::containers(pod);
    for (c, target) in &ephemerals {
        if failed.is_some() || cs.finishing || cs.tracks.contains_key(&c.name) {
            continue;
        }
        let target_id = match target {
            Some(t) => match cs.tracks.get(t) {
                Some(track) => Some(track.id.clone()),
                None => continue,
            },
            None => None,
        };
        let at = start::Place {
            sandbox_id: run.sandbox_id,
            sandbox: run.sandbox,
            pod_ip: run.pod_ip,
            target: target_id.as_deref(),
        };
        match start::start_in(ctx, pod, c, &at, 0).await {
            Ok(id) => {
                cs.tracks.insert(c.name.clone(), Track::new(id, 0, None));
            }
            Err(f) => failed = Some(f),
        }
    }
    // The probers of what just started, so a container without probes shows ready now.
    follow_probers(ctx, pod, run, cs, &all, &seen);

    // The app is done, or init failed for good: sidecars stop, last first.
    let init_failed = matches!(next, init::Next::Failed(_));
    let apps_done = next == init::Next::Done
        && spec
            .containers
            .iter()
            .all(|c| cs.tracks.get(&c.name).is_some_and(|t| t.done));
    if (init_failed || apps_done) && !cs.finishing {
        cs.finishing = true;
        let grace = kill::grace_seconds(pod);
        for (role, c) in all.iter().rev() {
            let Some(t) = cs.tracks.get_mut(&c.name) else {
                continue;
            };
            if *role != Role::Sidecar {
                continue;
            }
            // One waiting out its back-off just stays down.
            t.done = true;
            t.backing_off = None;
            if !seen.get(&c.name).is_some_and(is_running) {
                continue;
            }
            let id = t.id.clone();
            cs.probers.remove(&c.name);
            let stop = kill::Stop {
                cri: &ctx.cri,
                events: &ctx.events,
                pod,
                container: c,
                id: &id,
                pod_ip: run.pod_ip,
                grace,
                message: format!("Stopping container {}", c.name),
            };
            kill::stop_container(stop).await?;
            seen.insert(c.name.clone(), ctx.cri.container_status(&id).await?);
        }
    }

    // The views, the phase and the conditions.
    let init_done = next == init::Next::Done;
    let mut views = Vec::new();
    let mut apps_running = true;
    for (role, c) in &all {
        let h = cs.probers.get(&c.name).map(|p| p.health());
        let track = cs.tracks.get_mut(&c.name);
        let view = view(*role, c, track, seen.get(&c.name), h, init_done);
        if *role == Role::App && view.state.get("running").is_none() {
            apps_running = false;
        }
        views.push(view);
    }
    for (c, _) in &ephemerals {
        let st = match cs.tracks.get(&c.name) {
            Some(t) => Some(ctx.cri.container_status(&t.id).await?),
            None => None,
        };
        let track = cs.tracks.get_mut(&c.name);
        views.push(view(Role::Ephemeral, c, track, st.as_ref(), None, true));
    }
    if let Some(f) = &failed {
        if let Some(v) = views.iter_mut().find(|v| v.name == f.container) {
            v.state = json!({"waiting": {"reason": f.reason, "message": error_message(&f.error)}});
            v.ready = false;
        }
    }
    let apps_zero = spec.containers.iter().all(|c| {
        seen.get(&c.name)
            .is_some_and(|st| is_exited(st) && st.exit_code == 0)
    });
    // As upstream: an app container that waits without having run keeps the pod Pending.
    let app_waits = views
        .iter()
        .any(|v| v.role == Role::App && v.state.get("waiting").is_some() && v.last_state.is_none());
    let phase = if init_failed {
        "Failed"
    } else if !init_done || app_waits {
        "Pending"
    } else {
        lifecycle::phase(apps_done, apps_zero)
    };
    let anything_runs = seen.values().any(is_running);
    let done = (init_failed || apps_done) && !anything_runs;
    let now = clock::time(clock::now());
    let facts = status::Facts {
        pod_ip: run.pod_ip,
        host_ip: &ctx.host_ip,
        start_time: run.start_time,
        now: &now,
        containers: &[],
    };
    let body = status::general(pod, &facts, &views, phase);
    cs.last = Some((views, phase));
    Ok(Pass {
        status: body,
        done,
        apps_running,
        failed,
    })
}

pub fn error_message(e: &Error) -> String {
    match e {
        Error::Cri(m) => m.clone(),
        e => e.to_string(),
    }
}

fn terminated_state(st: &cri::ContainerStatus, id: &str) -> Value {
    json!({"terminated": {
        "exitCode": st.exit_code,
        "reason": lifecycle::terminated_reason(st.exit_code, &st.reason),
        "startedAt": nanos(st.started_at),
        "finishedAt": nanos(st.finished_at),
        "containerID": format!("containerd://{id}"),
    }})
}

/// Starts probers for running instances that have none (or a previous instance's), and
/// drops those of instances that no longer run.
fn follow_probers(
    ctx: &Context,
    pod: &Pod,
    run: &Running<'_>,
    cs: &mut Containers,
    all: &[(Role, Container)],
    seen: &HashMap<String, cri::ContainerStatus>,
) {
    for (role, c) in all {
        let Some(t) = cs.tracks.get(&c.name) else {
            cs.probers.remove(&c.name);
            continue;
        };
        let running = seen.get(&c.name).is_some_and(is_running);
        if !running {
            cs.probers.remove(&c.name);
            continue;
        }
        if cs
            .probers
            .get(&c.name)
            .is_some_and(|p| p.container_id == t.id)
        {
            continue;
        }
        // Regular init containers have no probes (the API rejects them).
        let mut container = c.clone();
        if *role == Role::Init {
            container.liveness_probe = None;
            container.readiness_probe = None;
            container.startup_probe = None;
        }
        let target = probes::Target {
            cri: ctx.cri.clone(),
            events: ctx.events.clone(),
            pod: pod.clone(),
            container,
            container_id: t.id.clone(),
            pod_ip: run.pod_ip.to_string(),
            wake: cs.wake.clone(),
            posted: posted_health(pod, &c.name, &t.id),
            running_for: seen.get(&c.name).map_or(Duration::ZERO, |st| {
                let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                let ran = now.saturating_sub(i128::from(st.started_at)).max(0);
                Duration::from_nanos(u64::try_from(ran).unwrap_or(0))
            }),
        };
        cs.probers.insert(c.name.clone(), probes::start(target));
    }
}

/// (ready, started) as the pod's posted status shows them for this container instance.
fn posted_health(pod: &Pod, name: &str, id: &str) -> Option<(bool, bool)> {
    let status = pod.status.as_ref()?;
    let want = format!("containerd://{id}");
    status
        .container_statuses
        .iter()
        .chain(status.init_container_statuses.iter())
        .flatten()
        .find(|s| s.name == name && s.container_id.as_deref() == Some(want.as_str()))
        .map(|s| (s.ready, s.started.unwrap_or(false)))
}

/// One container's status view from its track, the runtime's word and its probes.
fn view(
    role: Role,
    c: &Container,
    track: Option<&mut Track>,
    st: Option<&cri::ContainerStatus>,
    health: Option<probes::Health>,
    init_done: bool,
) -> status::ContainerView {
    let mut v = status::ContainerView {
        name: c.name.clone(),
        role,
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        container_id: String::new(),
        restart_count: 0,
        state: json!({"waiting": {"reason": "PodInitializing"}}),
        last_state: None,
        ready: false,
        started: false,
    };
    let (Some(track), Some(st)) = (track, st) else {
        if matches!(role, Role::App | Role::Ephemeral) && init_done {
            v.state = json!({"waiting": {"reason": "ContainerCreating"}});
        }
        return v;
    };
    v.image_id = st.image_ref.clone();
    v.container_id = format!("containerd://{}", track.id);
    v.restart_count = track.restart_count;
    v.last_state = track.last_terminated.clone();
    if is_running(st) {
        let h = health.unwrap_or(probes::Health {
            ready: true,
            started: true,
            failed: None,
        });
        v.state = json!({"running": {"startedAt": nanos(st.started_at)}});
        v.started = h.started;
        v.ready = matches!(role, Role::App | Role::Sidecar) && h.started && h.ready;
        if role == Role::Sidecar && h.started {
            track.started_once = true;
        }
    } else if is_exited(st) {
        let terminated = terminated_state(st, &track.id);
        match &track.backing_off {
            Some(waiting) => {
                v.state = waiting.clone();
                v.last_state = Some(terminated);
            }
            None => {
                v.ready = role == Role::Init && st.exit_code == 0;
                v.state = terminated;
            }
        }
    } else {
        v.state = json!({"waiting": {"reason": "ContainerCreating"}});
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (
        &'static str,
        Role,
        Option<Track>,
        Option<cri::ContainerStatus>,
        Option<probes::Health>,
        bool,
    );

    /// A container's view from (role, track, runtime state, health, init done).
    #[test]
    fn views() {
        let c: Container = serde_json::from_value(json!({"name": "c", "image": "i:1"})).unwrap();
        let running = cri::ContainerStatus {
            state: cri::ContainerState::ContainerRunning as i32,
            started_at: 1_000_000_000,
            ..Default::default()
        };
        let exited = |code| cri::ContainerStatus {
            state: cri::ContainerState::ContainerExited as i32,
            exit_code: code,
            started_at: 1_000_000_000,
            finished_at: 2_000_000_000,
            ..Default::default()
        };
        let health = |ready, started| probes::Health {
            ready,
            started,
            failed: None,
        };
        let crash = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        let cases: Vec<Case> = vec![
            (
                "app before init is done",
                Role::App,
                None,
                None,
                None,
                false,
            ),
            ("app once init is done", Role::App, None, None, None, true),
            (
                "app running, no probes",
                Role::App,
                Some(Track::default()),
                Some(running.clone()),
                None,
                true,
            ),
            (
                "app running, unready",
                Role::App,
                Some(Track::default()),
                Some(running.clone()),
                Some(health(false, true)),
                true,
            ),
            (
                "app running, not started",
                Role::App,
                Some(Track::default()),
                Some(running.clone()),
                Some(health(true, false)),
                true,
            ),
            (
                "init running",
                Role::Init,
                Some(Track::default()),
                Some(running.clone()),
                None,
                false,
            ),
            (
                "init done",
                Role::Init,
                Some(Track::default()),
                Some(exited(0)),
                None,
                false,
            ),
            (
                "init failed",
                Role::Init,
                Some(Track::default()),
                Some(exited(1)),
                None,
                false,
            ),
            (
                "sidecar backing off",
                Role::Sidecar,
                Some(Track {
                    backing_off: Some(crash),
                    restart_count: 2,
                    ..Default::default()
                }),
                Some(exited(1)),
                None,
                true,
            ),
        ];
        let mut out = String::new();
        for (what, role, mut track, st, h, init_done) in cases {
            let v = view(role, &c, track.as_mut(), st.as_ref(), h, init_done);
            let state = v.state.as_object().and_then(|o| {
                o.iter().next().map(|(k, v)| {
                    format!(
                        "{k}{}",
                        v["reason"]
                            .as_str()
                            .map(|r| format!("({r})"))
                            .unwrap_or_default()
                    )
                })
            });
            out += &format!(
                "{what}: {} ready={} started={} restarts={} last={}\n",
                state.unwrap_or_default(),
                v.ready,
                v.started,
                v.restart_count,
                v.last_state.is_some(),
            );
        }
        expect_test::expect![[r#"
            app before init is done: waiting(PodInitializing) ready=false started=false restarts=0 last=false
            app once init is done: waiting(ContainerCreating) ready=false started=false restarts=0 last=false
            app running, no probes: running ready=true started=true restarts=0 last=false
            app running, unready: running ready=false started=true restarts=0 last=false
            app running, not started: running ready=false started=false restarts=0 last=false
            init running: running ready=false started=true restarts=0 last=false
            init done: terminated(Completed) ready=true started=false restarts=0 last=false
            init failed: terminated(Error) ready=false started=false restarts=0 last=false
            sidecar backing off: waiting(CrashLoopBackOff) ready=false started=false restarts=2 last=true
        "#]].assert_eq(&out);
    }
}
