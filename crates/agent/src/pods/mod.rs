//! The pod sync loop: one watch of the pods bound to this node, and one worker per pod
//! (by uid) that drives the runtime toward the pod's spec and reports its status. A worker
//! only ever sees the latest version of its pod, so a burst of updates costs one sync.

pub mod config;
pub mod downward;
pub mod env;
pub mod ephemeral;
pub mod handlers;
pub mod hooks;
pub mod init;
pub mod kill;
pub mod lifecycle;
pub mod probes;
pub mod relist;
pub mod sandbox;
pub mod security;
pub mod start;
pub mod status;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;
use sim::clock;
use tokio::sync::watch;

use crate::cri::Cri;
use crate::Error;

/// What every pod worker shares.
pub struct Context {
    pub client: kube::Client,
    pub cri: Cri,
    pub node_name: String,
    pub host_ip: String,
    /// `/var/log/pods`'s counterpart under the data dir.
    pub pod_logs: PathBuf,
    /// Image pulls: credentials, registry config.
    pub pulls: crate::pull::Pulls,
    /// The runtime is ours alone (our containerd): every sandbox in it belongs to this
    /// node, so those of pods no longer in the API are removed after a restart.
    pub own_runtime: bool,
    pub events: crate::events::Recorder,
    /// Pods' resolv.conf: the cluster DNS and the host's resolvers.
    pub dns: crate::pod_dns::Settings,
    /// Pods bringing up their sandbox at once (see [`parallel_starts`]).
    pub starts: tokio::sync::Semaphore,
}

/// How many pods start at once. Starting is CPU work in containerd, runc and the CNI
/// plugins; a burst of pods all started together shares the CPU evenly and every pod
/// finishes late, where a few at a time finish early one after another.
pub fn parallel_starts() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::env::var("SKIFF_PARALLEL_POD_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cores * 2)
        .max(1)
}

/// The latest word on a pod: its object, or None once it is gone from the API.
type Latest = Option<Pod>;

/// Watches this node's pods forever, handing each to its worker.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node_name));
    let workers: Arc<Mutex<HashMap<String, watch::Sender<Latest>>>> = Arc::default();
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut seen_in_list: Vec<String> = Vec::new();
    let mut orphans_checked = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(pod)) => {
                dispatch(&ctx, &workers, pod.metadata.uid.clone(), Some(pod))
            }
            Ok(watcher::Event::InitApply(pod)) => {
                seen_in_list.extend(pod.metadata.uid.clone());
                dispatch(&ctx, &workers, pod.metadata.uid.clone(), Some(pod));
            }
            Ok(watcher::Event::Delete(pod)) => {
                dispatch(&ctx, &workers, pod.metadata.uid.clone(), None)
            }
            Ok(watcher::Event::Init) => seen_in_list.clear(),
            Ok(watcher::Event::InitDone) => {
                // Pods deleted while we were not watching.
                let gone: Vec<String> = lock(&workers)
                    .keys()
                    .filter(|uid| !seen_in_list.contains(uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    dispatch(&ctx, &workers, Some(uid), None);
                }
                crate::volumes::sweep(&config::volumes_root(&ctx), &seen_in_list);
                if ctx.own_runtime && !orphans_checked {
                    orphans_checked = true;
                    let (cri, live) = (ctx.cri.clone(), seen_in_list.clone());
                    tokio::spawn(async move { remove_orphans(&cri, &live).await });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "watching pods");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn dispatch(
    ctx: &Arc<Context>,
    workers: &Arc<Mutex<HashMap<String, watch::Sender<Latest>>>>,
    uid: Option<String>,
    latest: Latest,
) {
    let Some(uid) = uid else { return };
    let mut map = lock(workers);
    if let Some(tx) = map.get(&uid) {
        if tx.send(latest.clone()).is_ok() {
            return;
        }
    }
    if latest.is_none() {
        // Gone before we ever worked on it; the runtime may still hold it after a restart.
        let (ctx, uid) = (ctx.clone(), uid.clone());
        tokio::spawn(async move {
            if let Err(e) = kill::kill(&ctx.cri, &uid, 0).await {
                tracing::warn!(pod_uid = %uid, error = %e, "cleaning up a deleted pod");
            }
            config::cleanup_volumes(&ctx, &uid);
        });
        return;
    }
    let (tx, rx) = watch::channel(latest);
    map.insert(uid.clone(), tx);
    let (ctx, workers) = (ctx.clone(), workers.clone());
    tokio::spawn(async move {
        worker(&ctx, rx).await;
        lock(&workers).remove(&uid);
    });
}

/// Per-pod state the worker keeps between syncs.
#[derive(Default)]
struct PodState {
    start_time: Option<String>,
    /// Every app container ran at once (logged once per worker).
    running: bool,
    /// Nothing runs or will run again; the sandbox is stopped.
    done: bool,
    sandbox_id: String,
    /// Set once the sandbox runs: from then on the worker relists every second.
    sandbox: Option<crate::cri::v1::PodSandboxConfig>,
    containers: relist::Containers,
    /// Phase, conditions and container statuses last posted: only a change is written again.
    last_posted: Option<serde_json::Value>,
    pod_ip: String,
    /// The container whose image failed to pull, and how many pulls failed in a row.
    pull_failed: Option<(String, String)>,
    pull_failures: u32,
    volumes: crate::volumes::State,
}

/// Upstream's image pull back-off: 10 s, doubling to 5 min.
pub fn image_backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(5);
    Duration::from_secs(10u64 << exp).min(Duration::from_secs(300))
}

async fn worker(ctx: &Context, mut rx: watch::Receiver<Latest>) {
    let mut state = PodState::default();
    let mut backoff = Duration::from_millis(500);
    let mut uid = String::new();
    // The first version is in the channel already; later ones are waited for.
    let mut wait_for_change = false;
    loop {
        if wait_for_change {
            if state.sandbox.is_some() && !state.done {
                // Our own status writes come back as changes too; a relist is cheap.
                let wake = state.containers.wake.clone();
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    _ = tokio::time::sleep(relist::RELIST) => {}
                    _ = wake.notified() => {}
                }
            } else if rx.changed().await.is_err() {
                return;
            }
        }
        let latest = rx.borrow_and_update().clone();
        let Some(pod) = latest else {
            // Gone from the API without our terminate (a forced delete): a kubelet kills
            // what is left at once.
            if !uid.is_empty() {
                if let Err(e) = kill::kill(&ctx.cri, &uid, 0).await {
                    tracing::warn!(pod_uid = %uid, error = %e, "killing a pod deleted from the API");
                }
                config::cleanup_volumes(ctx, &uid);
            }
            return;
        };
        uid = pod.metadata.uid.clone().unwrap_or_default();
        let name = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        );
        let result = if pod.metadata.deletion_timestamp.is_some() {
            terminate(ctx, &pod, &mut state).await.map(|()| true)
        } else {
            sync(ctx, &pod, &mut state).await.map(|()| false)
        };
        match result {
            Ok(true) => return,
            Ok(false) => {
                wait_for_change = true;
                backoff = Duration::from_millis(500);
            }
            Err(e) => {
                let wait = match state.pull_failed.clone() {
                    Some((container, image)) => {
                        let wait = image_backoff(state.pull_failures);
                        tracing::warn!(pod = %name, %image, error = %e, "pulling image; back-off {wait:?}");
                        // As a kubelet's next sync does: ErrImagePull turns into
                        // ImagePullBackOff while the back-off lasts.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let waiting = status::Waiting {
                            name: container,
                            reason: "ImagePullBackOff".into(),
                            message: format!("Back-off pulling image {image:?}"),
                        };
                        let msg = waiting.message.clone();
                        ctx.events
                            .record(&pod, Some(&waiting.name), false, "BackOff", &msg);
                        if let Err(e) = post_pending(ctx, &pod, &state, waiting).await {
                            tracing::warn!(error = %e, "posting pending status");
                        }
                        wait
                    }
                    None => {
                        tracing::warn!(pod = %name, pod_uid = %uid, error = %e, "syncing pod; retrying in {backoff:?}");
                        let wait = backoff;
                        // A missing ConfigMap, Secret or volume is retried as often as
                        // upstream's pod worker does (10 s): it may appear any moment.
                        let cap = if matches!(e, Error::Config(_)) {
                            10
                        } else {
                            30
                        };
                        backoff = (backoff * 2).min(Duration::from_secs(cap));
                        wait
                    }
                };
                wait_unless_deleted(&mut rx, wait).await;
                wait_for_change = false;
            }
        }
    }
}

/// Waits up to `d`, ending early only when the pod is deleted or being deleted: our own
/// status writes come back as changes too, and must not cut a back-off short.
async fn wait_unless_deleted(rx: &mut watch::Receiver<Latest>, d: Duration) {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Err(_) | Ok(Err(_)) => return,
            Ok(Ok(())) => {
                let deleting = rx
                    .borrow()
                    .as_ref()
                    .is_none_or(|p| p.metadata.deletion_timestamp.is_some());
                if deleting {
                    return;
                }
            }
        }
    }
}

async fn post_pending(
    ctx: &Context,
    pod: &Pod,
    state: &PodState,
    waiting: status::Waiting,
) -> Result<(), Error> {
    let now = clock::time(clock::now());
    let start_time = state.start_time.clone().unwrap_or_else(|| now.clone());
    let facts = status::Facts {
        pod_ip: &state.pod_ip,
        host_ip: &ctx.host_ip,
        start_time: &start_time,
        now: &now,
        containers: &[],
    };
    // Once the sandbox runs, the last pass's view with this container waiting.
    if let Some((views, phase)) = &state.containers.last {
        let mut views = views.clone();
        if let Some(v) = views.iter_mut().find(|v| v.name == waiting.name) {
            v.state = json!({"waiting": {"reason": waiting.reason, "message": waiting.message}});
            v.ready = false;
        }
        return post_status(ctx, pod, status::general(pod, &facts, &views, phase)).await;
    }
    post_status(ctx, pod, status::pending(pod, &facts, &[waiting])).await
}

async fn sync(ctx: &Context, pod: &Pod, state: &mut PodState) -> Result<(), Error> {
    // A pod in a terminal phase (finished, or evicted) never runs again.
    if matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed" | "Succeeded")
    ) {
        state.containers.probers.clear();
        state.done = true;
        config::cleanup_volumes(ctx, pod.metadata.uid.as_deref().unwrap_or(""));
        return Ok(());
    }
    if state.done {
        return Ok(());
    }
    let start_time = state
        .start_time
        .get_or_insert_with(|| clock::time(clock::now()))
        .clone();
    if state.sandbox.is_none() {
        let began = std::time::Instant::now();
        config::setup_volumes(ctx, pod, state).await?;
        let volumes_ms = began.elapsed().as_millis();
        let config = sandbox::config(pod, &ctx.pod_logs, &ctx.dns);
        crate::cgroups::prepare(pod);
        let permit = ctx.starts.acquire().await.ok();
        let ensured = sandbox::ensure(&ctx.cri, pod, &config).await;
        drop(permit);
        // Where a pod's start-up time goes (with SKIFF_LOG=agent=debug).
        tracing::debug!(
            pod = pod.metadata.name.as_deref().unwrap_or(""),
            volumes_ms,
            sandbox_ms = began.elapsed().as_millis() - volumes_ms,
            "pod sandbox"
        );
        let sandbox_id = match ensured {
            Ok(id) => id,
            Err(e) => {
                let waiting = pod
                    .spec
                    .iter()
                    .flat_map(|s| s.containers.first())
                    .map(|c| status::Waiting {
                        name: c.name.clone(),
                        reason: "ContainerCreating".into(),
                        message: relist::error_message(&e),
                    })
                    .next();
                if let Some(w) = waiting {
                    if let Err(e) = post_pending(ctx, pod, state, w).await {
                        tracing::warn!(error = %e, "posting pending status");
                    }
                }
                return Err(e);
            }
        };
        let sandbox_status = ctx.cri.sandbox_status(&sandbox_id).await?;
        state.pod_ip = sandbox_status.network.map(|n| n.ip).unwrap_or_default();
        // The runtime gives a pod on the node's network no address of its own; it has the
        // node's, as upstream reports it.
        let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        if state.pod_ip.is_empty() && host_network {
            state.pod_ip = ctx.host_ip.clone();
        }
        // Containers an earlier run of the agent started are adopted, not started again.
        let existing = ctx.cri.containers_in(&sandbox_id).await?;
        for a in start::newest(&existing) {
            let track = relist::Track::new(a.id, a.attempt, a.previous);
            state.containers.tracks.insert(a.name, track);
        }
        state.sandbox_id = sandbox_id;
        state.sandbox = Some(config);
    }
    let Some(sandbox) = state.sandbox.clone() else {
        return Ok(());
    };
    config::refresh_volumes(ctx, pod, state).await;
    let run = relist::Running {
        sandbox_id: &state.sandbox_id,
        sandbox: &sandbox,
        pod_ip: &state.pod_ip,
        start_time: &start_time,
    };
    let began = std::time::Instant::now();
    let pass = relist::relist(ctx, pod, &run, &mut state.containers).await?;
    let relist_ms = began.elapsed().as_millis();
    let body = pass.status;
    let key = json!([
        body["phase"],
        body["conditions"],
        body["containerStatuses"],
        body["initContainerStatuses"],
        body["ephemeralContainerStatuses"]
    ]);
    if state.last_posted.as_ref() != Some(&key) {
        let began = std::time::Instant::now();
        post_status(ctx, pod, body).await?;
        state.last_posted = Some(key);
        tracing::debug!(
            pod = pod.metadata.name.as_deref().unwrap_or(""),
            relist_ms,
            post_ms = began.elapsed().as_millis(),
            "pod status posted"
        );
    }
    if let Some(failed) = pass.failed {
        if failed.reason == "ErrImagePull" {
            let image = relist::roles(pod)
                .into_iter()
                .find(|(_, c)| c.name == failed.container)
                .and_then(|(_, c)| c.image)
                .unwrap_or_default();
            state.pull_failed = Some((failed.container.clone(), image));
            state.pull_failures += 1;
        } else {
            state.pull_failed = None;
        }
        return Err(failed.error);
    }
    state.pull_failed = None;
    state.pull_failures = 0;
    if pass.apps_running && !state.running {
        state.running = true;
        tracing::info!(pod = pod.metadata.name.as_deref().unwrap_or(""), ip = %state.pod_ip, "pod running");
    }
    if pass.done {
        // As a kubelet does for a finished pod: stop the sandbox (its pause process and
        // network) and keep the dead containers for their logs until the pod goes.
        state.containers.probers.clear();
        ctx.cri.stop_sandbox(&state.sandbox_id).await?;
        // As upstream, a finished pod's volumes go (its dead containers stay for logs).
        config::cleanup_volumes(ctx, pod.metadata.uid.as_deref().unwrap_or(""));
        state.done = true;
    }
    Ok(())
}

async fn post_status(ctx: &Context, pod: &Pod, status: serde_json::Value) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let name = pod.metadata.name.as_deref().unwrap_or("");
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": status})),
    )
    .await
    .map_err(|e| Error::Api(format!("posting status of pod {name}"), e))?;
    Ok(())
}

/// The kubelet's side of a graceful delete: stop everything (preStop hooks, app
/// containers, then sidecars in reverse order, within the grace period), then remove the
/// pod from the API with grace 0 (only this pod: the uid is a precondition).
async fn terminate(ctx: &Context, pod: &Pod, state: &mut PodState) -> Result<(), Error> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    state.containers.probers.clear();
    let grace = kill::grace_seconds(pod);
    for sandbox in ctx.cri.sandboxes_labelled(sandbox::POD_UID, &uid).await? {
        let ip = sandbox_ip(ctx, &sandbox.id).await;
        kill::stop_pod_containers(&ctx.cri, &ctx.events, pod, &sandbox.id, &ip, grace).await?;
    }
    kill::kill(&ctx.cri, &uid, 0).await?;
    config::cleanup_volumes(ctx, &uid);
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(Error::Api(format!("deleting pod {name}"), e)),
    }
}

async fn sandbox_ip(ctx: &Context, sandbox_id: &str) -> String {
    match ctx.cri.sandbox_status(sandbox_id).await {
        Ok(s) => s.network.map(|n| n.ip).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Removes sandboxes of pods that left the API while the agent was not watching (deleted
/// during an agent restart). Errors only log: the next restart tries again.
async fn remove_orphans(cri: &Cri, live_uids: &[String]) {
    let sandboxes = match cri.list_sandboxes().await {
        Ok(s) => s,
        Err(e) => return tracing::warn!(error = %e, "listing sandboxes"),
    };
    let mut orphans: Vec<String> = sandboxes
        .iter()
        .filter_map(|s| s.labels.get(sandbox::POD_UID))
        .filter(|uid| !live_uids.contains(uid))
        .cloned()
        .collect();
    orphans.sort();
    orphans.dedup();
    for uid in orphans {
        tracing::info!(pod_uid = %uid, "removing the sandbox of a pod no longer in the API");
        if let Err(e) = kill::kill(cri, &uid, 0).await {
            tracing::warn!(pod_uid = %uid, error = %e, "removing an orphaned sandbox");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_backoff() {
        let got: Vec<u64> = (1..=8).map(|n| super::image_backoff(n).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
