//! What the scheduler writes besides bindings: the PodScheduled condition, events and the
//! nominated node.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

use crate::framework::PodInfo;
use crate::SCHEDULER_NAME;

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Whether the pod already says `PodScheduled=False` with this reason and message.
pub fn condition_is(pod: &Pod, reason: &str, message: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .is_some_and(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message)
        })
}

/// Sets `PodScheduled=False` (reason Unschedulable or SchedulerError) and records a
/// FailedScheduling event, as upstream does.
pub async fn report_failure(
    client: &Client,
    pod: &PodInfo,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    // This write runs off the scheduling loop; a pod bound meanwhile (by a later attempt or
    // by someone else) must not be marked unschedulable after the fact.
    match pods.get_opt(&pod.name).await? {
        Some(current) if current.metadata.uid.as_deref() == Some(pod.uid.as_str()) => {
            let bound = current
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty());
            if bound {
                return Ok(());
            }
        }
        _ => return Ok(()),
    }
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
        "lastTransitionTime": now_rfc3339(), "lastProbeTime": null,
    }]}});
    pods.patch_status(
        &pod.name,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await?;
    record_event(client, pod, "Warning", "FailedScheduling", message).await
}

/// Upstream's words for a pod held by its scheduling gates.
pub const SCHEDULING_GATED: &str = "SchedulingGated";
pub const SCHEDULING_GATED_MESSAGE: &str =
    "Scheduling is blocked due to non-empty scheduling gates";

/// Sets `PodScheduled=False` (reason SchedulingGated), without an event, as upstream does.
pub async fn report_gated(client: &Client, pod: &PodInfo) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": SCHEDULING_GATED,
        "message": SCHEDULING_GATED_MESSAGE, "lastTransitionTime": now_rfc3339(), "lastProbeTime": null,
    }]}});
    pods.patch_status(
        &pod.name,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await?;
    Ok(())
}

/// A core/v1 Event about the pod, named as client-go's recorder names them.
pub async fn record_event(
    client: &Client,
    pod: &PodInfo,
    type_: &str,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let now = now_rfc3339();
    let events: Api<Event> = Api::namespaced(client.clone(), &pod.namespace);
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": { "name": format!("{}.{:x}", pod.name, unique_suffix()), "namespace": pod.namespace },
        "involvedObject": { "apiVersion": "v1", "kind": "Pod", "name": pod.name, "namespace": pod.namespace, "uid": pod.uid },
        "reason": reason, "message": message, "type": type_,
        "source": { "component": SCHEDULER_NAME },
        "reportingComponent": SCHEDULER_NAME,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    let event: Event = serde_json::from_value(event).map_err(kube::Error::SerdeError)?;
    events.create(&PostParams::default(), &event).await?;
    Ok(())
}

/// Writes (or clears, with "") `status.nominatedNodeName`.
pub async fn set_nominated_node(
    client: &Client,
    pod: &PodInfo,
    node: &str,
) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace);
    let value = if node.is_empty() {
        json!(null)
    } else {
        json!(node)
    };
    let patch = json!({"status": {"nominatedNodeName": value}});
    pods.patch_status(&pod.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
