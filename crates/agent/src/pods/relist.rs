//! After a pod's containers started: notice the ones that exited (the runtime is asked
//! every second, like upstream's PLEG relist), restart them as the restart policy and the
//! crash back-off say, and post the status when it changes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use sim::clock;

use super::{lifecycle, status, Context};
use crate::cri::v1 as cri;
use crate::Error;

/// How often the runtime is asked about a running pod's containers.
pub const RELIST: Duration = Duration::from_secs(1);

/// One app container of a running pod.
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
}

/// What relist needs besides the pod.
pub struct Running<'a> {
    pub sandbox_id: &'a str,
    pub sandbox: &'a cri::PodSandboxConfig,
    pub pod_ip: &'a str,
    pub start_time: &'a str,
}

fn nanos(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t))
        .map(clock::time)
        .unwrap_or_default()
}

/// Checks every container, restarts what should restart, and returns the status to post
/// and whether the pod is finished (no container runs or will run again).
pub async fn relist(
    ctx: &Context,
    pod: &Pod,
    run: &Running<'_>,
    tracks: &mut HashMap<String, Track>,
) -> Result<(Value, bool), Error> {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let id = super::sandbox::ids(pod);
    let pod_ref = format!("{}_{}({})", id.name, id.namespace, id.uid);
    let (mut all_done, mut all_zero) = (true, true);
    let mut views = Vec::new();
    for c in &spec.containers {
        let Some(track) = tracks.get_mut(&c.name) else {
            continue;
        };
        let st = ctx.cri.container_status(&track.id).await?;
        let container_id = format!("containerd://{}", track.id);
        let mut view = status::ContainerView {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: st.image_ref.clone(),
            container_id: container_id.clone(),
            restart_count: track.restart_count,
            state: json!({"waiting": {"reason": "ContainerCreating"}}),
            last_state: track.last_terminated.clone(),
            ready: false,
            started: false,
        };
        if st.state == cri::ContainerState::ContainerRunning as i32 {
            all_done = false;
            view.state = json!({"running": {"startedAt": nanos(st.started_at)}});
            view.ready = true;
            view.started = true;
            views.push(view);
            continue;
        }
        if st.state != cri::ContainerState::ContainerExited as i32 {
            all_done = false;
            views.push(view);
            continue;
        }
        let terminated = json!({"terminated": {
            "exitCode": st.exit_code,
            "reason": lifecycle::terminated_reason(st.exit_code, &st.reason),
            "startedAt": nanos(st.started_at),
            "finishedAt": nanos(st.finished_at),
            "containerID": container_id,
        }});
        let ran_for =
            Duration::from_nanos(st.finished_at.saturating_sub(st.started_at).max(0) as u64);
        let b = lifecycle::Backoff {
            since_restart: track.last_restart.map(|t| t.elapsed()),
            delay: track.delay,
        };
        match lifecycle::decide(policy, st.exit_code, &b, ran_for) {
            lifecycle::Decision::Restart => {
                all_done = false;
                let attempt = track.restart_count + 1;
                let image_ref = crate::pull::ensure_image(
                    &ctx.cri,
                    &ctx.pulls,
                    &ctx.events,
                    pod,
                    c,
                    run.sandbox,
                )
                .await?;
                let inputs = super::config::Inputs {
                    ctx,
                    pod_ip: run.pod_ip,
                    sandbox: run.sandbox,
                };
                let config = match super::config::container(&inputs, pod, c, &image_ref, attempt)
                    .await
                {
                    Ok(config) => config,
                    Err(Error::Config(msg)) => {
                        // As at first start, CreateContainerConfigError; the crash
                        // back-off paces the retries.
                        let event = format!("Error: {msg}");
                        ctx.events
                            .record(pod, Some(&c.name), true, "Failed", &event);
                        track.delay = b.after_restart();
                        track.last_restart = Some(Instant::now());
                        track.backoff_reported = false;
                        view.state = json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}});
                        view.last_state = Some(terminated);
                        views.push(view);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let new_id = ctx
                    .cri
                    .create_container(run.sandbox_id, config, run.sandbox)
                    .await?;
                ctx.events.record(
                    pod,
                    Some(&c.name),
                    false,
                    "Created",
                    &format!("Created container: {}", c.name),
                );
                ctx.cri.start_container(&new_id).await?;
                ctx.events.record(
                    pod,
                    Some(&c.name),
                    false,
                    "Started",
                    &format!("Started container {}", c.name),
                );
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
                track.last_terminated = Some(terminated.clone());
                track.last_restart = Some(Instant::now());
                track.backoff_reported = false;
                view.container_id = format!("containerd://{new_id}");
                view.restart_count = attempt;
                view.last_state = Some(terminated);
                view.state = json!({"running": {"startedAt": clock::time(clock::now())}});
                view.ready = true;
                view.started = true;
            }
            lifecycle::Decision::BackOff(_) => {
                all_done = false;
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
                view.state = json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}});
                view.last_state = Some(terminated);
            }
            lifecycle::Decision::Done => {
                if st.exit_code != 0 {
                    all_zero = false;
                }
                view.state = terminated;
            }
        }
        views.push(view);
    }
    let now = clock::time(clock::now());
    let facts = status::Facts {
        pod_ip: run.pod_ip,
        host_ip: &ctx.host_ip,
        start_time: run.start_time,
        now: &now,
        containers: &[],
    };
    let phase = lifecycle::phase(all_done, all_zero);
    Ok((status::general(pod, &facts, &views, phase), all_done))
}
