//! Stopping containers and pods. One container: its preStop hook, then SIGTERM with what
//! is left of the grace period, then SIGKILL (the runtime's StopContainer does the last
//! two). A pod: app containers together, then sidecars one by one in reverse order, then
//! its sandbox (which tears down the network), then removing the sandbox.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::time::Instant;

use super::hooks;
use super::sandbox::{CONTAINER_NAME, POD_UID};
use crate::cri::{v1 as cri, Cri};
use crate::events::Recorder;
use crate::Error;

/// Upstream never gives a container less than this to stop once a grace period applies.
pub const MIN_GRACE: i64 = 2;

/// One container to stop.
pub struct Stop<'a> {
    pub cri: &'a Cri,
    pub events: &'a Recorder,
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub id: &'a str,
    pub pod_ip: &'a str,
    /// Seconds for preStop and SIGTERM together.
    pub grace: i64,
    /// The `Killing` event's message.
    pub message: String,
}

/// The seconds SIGTERM gets after a preStop hook that took `used`: what is left, but at
/// least [`MIN_GRACE`] when there was a grace period at all.
pub fn remaining_grace(grace: i64, used: Duration) -> i64 {
    if grace <= 0 {
        return 0;
    }
    (grace - used.as_secs() as i64).max(MIN_GRACE)
}

/// Runs the preStop hook (within the grace period), then stops the container.
pub async fn stop_container(s: Stop<'_>) -> Result<(), Error> {
    let name = Some(s.container.name.as_str());
    s.events.record(s.pod, name, false, "Killing", &s.message);
    let began = std::time::Instant::now();
    let pre_stop = s
        .container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref());
    if let (Some(h), true) = (pre_stop, s.grace > 0) {
        let limit = Duration::from_secs(s.grace as u64);
        let r = hooks::run(s.cri, s.pod, s.container, s.id, s.pod_ip, h, limit).await;
        if let Err(msg) = r {
            s.events
                .record(s.pod, name, true, "FailedPreStopHook", &msg);
        }
    }
    let grace = remaining_grace(s.grace, began.elapsed());
    s.cri.stop_container(s.id, grace).await
}

/// Stops the pod's running containers in upstream's order within `grace` seconds: app
/// containers (and an init container still running) together, then sidecars one at a time
/// from the last, each with what is left of the grace period.
pub async fn stop_pod_containers(
    cri: &Cri,
    events: &Recorder,
    pod: &Pod,
    sandbox_id: &str,
    pod_ip: &str,
    grace: i64,
) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(grace.max(0) as u64);
    let running: Vec<cri::Container> = cri
        .containers_in(sandbox_id)
        .await?
        .into_iter()
        .filter(|c| c.state == cri::ContainerState::ContainerRunning as i32)
        .collect();
    let spec = pod.spec.clone().unwrap_or_default();
    let init = spec.init_containers.clone().unwrap_or_default();
    let id_of = |name: &str| {
        running
            .iter()
            .find(|c| c.labels.get(CONTAINER_NAME).map(String::as_str) == Some(name))
            .map(|c| c.id.clone())
    };
    let stop = |c: &Container, id: String, grace: i64| {
        let message = format!("Stopping container {}", c.name);
        let c = c.clone();
        async move {
            stop_container(Stop {
                cri,
                events,
                pod,
                container: &c,
                id: &id,
                pod_ip,
                grace,
                message,
            })
            .await
        }
    };
    let first: Vec<_> = spec
        .containers
        .iter()
        .chain(init.iter().filter(|c| !is_sidecar(c)))
        .filter_map(|c| id_of(&c.name).map(|id| stop(c, id, grace)))
        .collect();
    for r in futures::future::join_all(first).await {
        r?;
    }
    for c in init.iter().rev().filter(|c| is_sidecar(c)) {
        if let Some(id) = id_of(&c.name) {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
            stop(c, id, if grace > 0 { left.max(MIN_GRACE) } else { 0 }).await?;
        }
    }
    Ok(())
}

/// An init container that keeps running beside the app (restartPolicy Always).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The grace period of a pod being deleted: the deletion's, else the spec's, else 30 s.
pub fn grace_seconds(pod: &Pod) -> i64 {
    pod.metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30)
        .max(0)
}

/// Stops and removes everything the runtime has for the pod with this uid. Idempotent.
pub async fn kill(cri: &Cri, uid: &str, grace: i64) -> Result<(), Error> {
    if uid.is_empty() {
        // An empty label value would select sandboxes that are not a pod's.
        return Ok(());
    }
    for sandbox in cri.sandboxes_labelled(POD_UID, uid).await? {
        let containers = cri.containers_in(&sandbox.id).await?;
        let stops = containers.iter().map(|c| cri.stop_container(&c.id, grace));
        for r in futures::future::join_all(stops).await {
            r?;
        }
        cri.stop_sandbox(&sandbox.id).await?;
        cri.remove_sandbox(&sandbox.id).await?;
    }
    crate::cgroups::remove(uid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace() {
        let cases = [
            (
                serde_json::json!({"metadata": {}, "spec": {"containers": []}}),
                30,
            ),
            (
                serde_json::json!({"metadata": {}, "spec": {"containers": [], "terminationGracePeriodSeconds": 5}}),
                5,
            ),
            (
                serde_json::json!({"metadata": {"deletionGracePeriodSeconds": 0}, "spec": {"containers": [], "terminationGracePeriodSeconds": 5}}),
                0,
            ),
        ];
        for (pod, want) in cases {
            let pod: Pod = serde_json::from_value(pod.clone()).unwrap();
            assert_eq!(grace_seconds(&pod), want);
        }
        let s = Duration::from_secs;
        let cases = [
            (30, s(0), 30),
            (30, s(10), 20),
            (30, s(29), 2),
            (5, s(9), 2),
            (0, s(0), 0),
        ];
        for (grace, used, want) in cases {
            assert_eq!(remaining_grace(grace, used), want, "{grace} {used:?}");
        }
    }
}
