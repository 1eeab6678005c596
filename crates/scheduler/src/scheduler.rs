//! The scheduling loop: informer caches of pods and nodes, a queue of pending pods with
//! per-pod backoff, and the API calls that bind pods or report them unschedulable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::framework::{Decision, Framework, NodeInfo};

/// Pods that ask for this scheduler (or for none) are ours.
pub const SCHEDULER_NAME: &str = "default-scheduler";

const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

struct Backoff {
    until: Instant,
    delay: Duration,
}

pub async fn run(client: Client) {
    let changed = Arc::new(Notify::new());
    let pods = follow::<Pod>(Api::all(client.clone()), changed.clone());
    let nodes = follow::<Node>(Api::all(client.clone()), changed.clone());
    let framework = Framework {
        plugins: crate::plugins::default_plugins(),
    };
    let mut backoff: HashMap<String, Backoff> = HashMap::new();
    // Bound by us but not yet seen bound in the cache.
    let mut assumed: HashMap<String, (String, Instant)> = HashMap::new();
    let mut rotation = 0usize;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let now = Instant::now();
        assumed.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(30));
        let all_pods = pods.state();
        let mut infos: Vec<NodeInfo> = nodes
            .state()
            .iter()
            .map(|n| NodeInfo::new((**n).clone()))
            .collect();
        let index: HashMap<String, usize> = infos
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name().to_string(), i))
            .collect();
        let mut pending = Vec::new();
        for p in &all_pods {
            let uid = p.uid().unwrap_or_default();
            let bound = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty());
            if bound.is_some() {
                assumed.remove(&uid);
            }
            let placed = bound.or_else(|| assumed.get(&uid).map(|(n, _)| n.clone()));
            match placed {
                // A finished pod no longer holds its node's resources.
                Some(node) if !finished(p) => {
                    if let Some(i) = index.get(&node) {
                        infos[*i].add_pod(p);
                    }
                }
                None if is_pending_for_us(p)
                    && backoff.get(&uid).is_none_or(|b| b.until <= now) =>
                {
                    pending.push(p.clone());
                }
                _ => {}
            }
        }
        backoff.retain(|uid, _| {
            all_pods
                .iter()
                .any(|p| p.uid().as_deref() == Some(uid.as_str()))
        });
        // Higher priority first, then first come first served (upstream's PrioritySort).
        pending.sort_by_key(|p| {
            (
                std::cmp::Reverse(p.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)),
                p.creation_timestamp().map(|t| t.0),
            )
        });
        for pod in pending {
            if infos.is_empty() {
                break;
            }
            rotation = rotation.wrapping_add(1);
            let uid = pod.uid().unwrap_or_default();
            match framework.schedule(&pod, &infos, rotation % infos.len()) {
                Decision::Node(node) => match bind(&client, &pod, &node).await {
                    Ok(()) => {
                        tracing::debug!(pod = %pod.name_any(), %node, "bound");
                        if let Some(i) = index.get(&node) {
                            infos[*i].add_pod(&pod);
                        }
                        assumed.insert(uid.clone(), (node, Instant::now()));
                        backoff.remove(&uid);
                    }
                    Err(e) => {
                        tracing::warn!(pod = %pod.name_any(), error = %e, "binding failed");
                        back_off(&mut backoff, &uid);
                    }
                },
                Decision::Unschedulable(message) => {
                    if let Err(e) = report_unschedulable(&client, &pod, &message).await {
                        tracing::warn!(pod = %pod.name_any(), error = %e, "reporting unschedulable pod failed");
                    }
                    back_off(&mut backoff, &uid);
                }
            }
        }
    }
}

/// Runs a reflector for `api` in the background; every change pokes `changed`.
fn follow<K>(api: Api<K>, changed: Arc<Notify>) -> Store<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                tracing::debug!(error = %e, "scheduler watch");
            }
            changed.notify_one();
        }
    });
    store
}

fn finished(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn is_pending_for_us(p: &Pod) -> bool {
    let Some(spec) = p.spec.as_ref() else {
        return false;
    };
    let ours = spec
        .scheduler_name
        .as_deref()
        .is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME);
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    ours && !gated && p.metadata.deletion_timestamp.is_none() && !finished(p)
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn back_off(backoff: &mut HashMap<String, Backoff>, uid: &str) {
    let delay = backoff
        .get(uid)
        .map(|b| (b.delay * 2).min(BACKOFF_MAX))
        .unwrap_or(BACKOFF_INITIAL);
    backoff.insert(
        uid.to_string(),
        Backoff {
            until: Instant::now() + delay,
            delay,
        },
    );
}

async fn bind(client: &Client, pod: &Pod, node: &str) -> Result<(), kube::Error> {
    let ns = pod.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": { "name": pod.name_any(), "namespace": ns, "uid": pod.uid() },
        "target": { "apiVersion": "v1", "kind": "Node", "name": node },
    });
    api.create_subresource::<serde_json::Value, serde_json::Value>(
        "binding",
        &pod.name_any(),
        &PostParams::default(),
        &binding,
    )
    .await?;
    Ok(())
}

/// Sets `PodScheduled=False` (reason Unschedulable) and records a FailedScheduling event,
/// as upstream does; the condition is rewritten only when its message changes.
async fn report_unschedulable(
    client: &Client,
    pod: &Pod,
    message: &str,
) -> Result<(), kube::Error> {
    let ns = pod.namespace().unwrap_or_default();
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    if current.is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(message)) {
        return Ok(());
    }
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
        "lastTransitionTime": now, "lastProbeTime": null,
    }]}});
    pods.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await?;

    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        // Named as client-go's event recorder names events: object name, dot, hex time.
        "metadata": { "name": format!("{}.{:x}", pod.name_any(), unique_suffix()), "namespace": ns },
        "involvedObject": { "apiVersion": "v1", "kind": "Pod", "name": pod.name_any(), "namespace": ns, "uid": pod.uid() },
        "reason": "FailedScheduling", "message": message, "type": "Warning",
        "source": { "component": SCHEDULER_NAME },
        "reportingComponent": SCHEDULER_NAME,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    let event: k8s_openapi::api::core::v1::Event =
        serde_json::from_value(event).map_err(kube::Error::SerdeError)?;
    events.create(&PostParams::default(), &event).await?;
    Ok(())
}
