//! Node-pressure eviction, as upstream's kubelet does it: every 10 s compare what the
//! machine has left with the hard thresholds (`--eviction-hard`); while one is met the
//! node reports MemoryPressure / DiskPressure / PIDPressure (the node lifecycle
//! controller taints it so nothing new lands), and one pod at a time is stopped and
//! marked Failed with reason Evicted — the most deserving first (see [`rank`]).

pub mod rank;
pub mod signals;
pub mod thresholds;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;
use sim::clock;

use crate::cri::v1 as cri;
use crate::pods::sandbox::POD_UID;
use crate::pods::Context;
use thresholds::{Signal, Threshold};

pub const MONITORING_PERIOD: Duration = Duration::from_secs(10);
/// How long a pressure condition stays after its threshold is no longer met, so the node
/// does not flap (upstream's eviction-pressure-transition-period).
pub const TRANSITION_PERIOD: Duration = Duration::from_secs(300);
/// Pods at or above system-cluster-critical's priority are never evicted.
const CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// The node's pressure conditions, shared with the node status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

pub type SharedPressure = Arc<Mutex<Pressure>>;

pub struct Settings {
    pub thresholds: Vec<Threshold>,
    pub nodefs: PathBuf,
    pub imagefs: PathBuf,
}

/// Runs forever; `changed` is called when the pressure conditions change.
pub async fn run(
    ctx: Arc<Context>,
    settings: Settings,
    pressure: SharedPressure,
    changed: impl Fn() + Send + 'static,
) {
    let mut last_met: HashMap<&'static str, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(MONITORING_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let obs = signals::observe(&settings.nodefs, &settings.imagefs);
        let met: Vec<(&Threshold, u64)> = settings
            .thresholds
            .iter()
            .filter_map(|t| {
                let (avail, cap) = *obs.get(&t.signal)?;
                t.met(avail, cap).then_some((t, avail))
            })
            .collect();
        let now = Instant::now();
        for (t, _) in &met {
            last_met.insert(t.signal.condition(), now);
        }
        let on = |cond: &str| {
            last_met
                .get(cond)
                .is_some_and(|t| now.duration_since(*t) < TRANSITION_PERIOD)
        };
        let next = Pressure {
            memory: on("MemoryPressure"),
            disk: on("DiskPressure"),
            pid: on("PIDPressure"),
        };
        let before = std::mem::replace(&mut *lock(&pressure), next);
        if before != next {
            tracing::info!(?next, "node pressure changed");
            changed();
        }
        if let Some((t, avail)) = met.first() {
            if let Err(e) = evict_one(&ctx, t, *avail).await {
                tracing::warn!(error = %e, signal = t.signal.name(), "evicting a pod");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Use of the starved resource per pod uid and per container (uid, name) → bytes/count.
async fn usage(ctx: &Context, signal: Signal) -> HashMap<String, Vec<(String, u64)>> {
    let mut rt = ctx.cri.runtime.clone();
    let stats = rt
        .list_container_stats(cri::ListContainerStatsRequest::default())
        .await
        .map(|r| r.into_inner().stats)
        .unwrap_or_default();
    let mut out: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    for s in stats {
        let Some(attrs) = &s.attributes else { continue };
        let Some(uid) = attrs.labels.get(POD_UID) else {
            continue;
        };
        let name = attrs
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let value = match signal {
            Signal::MemoryAvailable => s
                .memory
                .as_ref()
                .and_then(|m| m.working_set_bytes.as_ref())
                .map_or(0, |v| v.value),
            Signal::NodefsInodesFree | Signal::ImagefsInodesFree => s
                .writable_layer
                .as_ref()
                .and_then(|f| f.inodes_used.as_ref())
                .map_or(0, |v| v.value),
            Signal::PidAvailable => 1,
            _ => s
                .writable_layer
                .as_ref()
                .and_then(|f| f.used_bytes.as_ref())
                .map_or(0, |v| v.value),
        };
        out.entry(uid.clone()).or_default().push((name, value));
    }
    out
}

fn request(pod: &Pod, resource: &str) -> u64 {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| {
            let r = c.resources.as_ref()?.requests.as_ref()?;
            crate::resources::milli_value(&r.get(resource)?.0)
        })
        .map(|m| (m / 1000).max(0) as u64)
        .sum()
}

async fn evict_one(ctx: &Context, t: &Threshold, available: u64) -> Result<(), crate::Error> {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let pods = api
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", ctx.node_name)))
        .await
        .map_err(|e| crate::Error::Api("listing this node's pods".into(), e))?;
    let live: Vec<Pod> = pods
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Failed" | "Succeeded")
            )
        })
        .collect();
    let usage = usage(ctx, t.signal).await;
    let resource = t.signal.resource();
    let candidates = live
        .iter()
        .map(|p| {
            let uid = p.metadata.uid.clone().unwrap_or_default();
            let priority = p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
            rank::Candidate {
                usage: usage
                    .get(&uid)
                    .map_or(0, |v| v.iter().map(|(_, u)| u).sum()),
                request: request(p, resource),
                name: p.metadata.name.clone().unwrap_or_default(),
                critical: priority >= CRITICAL_PRIORITY,
                uid,
                priority,
            }
        })
        .collect();
    let Some(victim) = rank::rank(candidates).into_iter().next() else {
        tracing::warn!(
            signal = t.signal.name(),
            "threshold met but no pod can be evicted"
        );
        return Ok(());
    };
    let Some(pod) = live
        .iter()
        .find(|p| p.metadata.uid.as_deref() == Some(&victim.uid))
    else {
        return Ok(());
    };
    let mut message = format!(
        "The node was low on resource: {resource}. Threshold quantity: {}, available: {}. ",
        t.text,
        human(available, t.signal)
    );
    for (name, used) in usage.get(&victim.uid).into_iter().flatten() {
        message.push_str(&format!(
            "Container {name} was using {}, request is {}, has larger consumption of {resource}. ",
            human(*used, t.signal),
            human(request(pod, resource), t.signal),
        ));
    }
    tracing::info!(pod = %victim.name, %message, "evicting");
    ctx.events.record(pod, None, true, "Evicted", &message);
    // Stop it first, so the worker that sees the Failed phase finds nothing running.
    for sandbox in ctx.cri.sandboxes_labelled(POD_UID, &victim.uid).await? {
        for c in ctx.cri.containers_in(&sandbox.id).await? {
            ctx.cri.stop_container(&c.id, 0).await?;
        }
        ctx.cri.stop_sandbox(&sandbox.id).await?;
    }
    let now = clock::time(clock::now());
    let mut conditions: Vec<serde_json::Value> = pod
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .filter(|c| {
            !matches!(
                c.type_.as_str(),
                "Ready" | "ContainersReady" | "DisruptionTarget"
            )
        })
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    for kind in ["Ready", "ContainersReady"] {
        conditions.push(json!({"type": kind, "status": "False", "reason": "PodFailed", "lastTransitionTime": now}));
    }
    conditions.push(json!({
        "type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
        "message": message, "lastTransitionTime": now,
    }));
    let statuses: Vec<serde_json::Value> = pod
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            let started = c
                .state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.as_ref())
                .and_then(|t| serde_json::to_value(t).ok());
            v["ready"] = json!(false);
            v["started"] = json!(false);
            v["state"] = json!({"terminated": {
                "exitCode": 137, "reason": "Error", "startedAt": started, "finishedAt": now,
                "containerID": c.container_id,
            }});
            v
        })
        .collect();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let status = json!({"status": {
        "phase": "Failed", "reason": "Evicted", "message": message,
        "conditions": conditions, "containerStatuses": statuses,
    }});
    Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .patch_status(
            &victim.name,
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .map_err(|e| crate::Error::Api(format!("marking pod {} evicted", victim.name), e))?;
    Ok(())
}

/// Bytes as upstream prints quantities in eviction messages (`123Ki`), counts as numbers.
fn human(v: u64, signal: Signal) -> String {
    match signal {
        Signal::MemoryAvailable | Signal::NodefsAvailable | Signal::ImagefsAvailable => {
            format!("{}Ki", v / 1024)
        }
        _ => v.to_string(),
    }
}
