//! Node lifecycle (upstream `pkg/controller/nodelifecycle` and the NoExecute taint manager):
//! a node whose kubelet stops renewing its Lease and posting status is marked Unknown after
//! the grace period, its pods are marked not ready, condition taints follow its conditions,
//! and pods that do not tolerate a NoExecute taint are evicted when their toleration ends.
//!
//! Liveness is judged by when *this* controller last saw the Lease or the Ready heartbeat
//! change, not by the timestamps inside them, so a node whose clock is off is judged fairly
//! (upstream does the same). A periodic sweep, as upstream's monitor loop, because silence
//! is exactly what produces no watch events.

mod eviction;
mod health;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::{podinfo, Error};
use eviction::Verdict;

pub use health::{NOT_READY, UNREACHABLE};

/// Upstream's kube-controller-manager defaults.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub monitor_period: Duration,
    pub grace_period: Duration,
    pub startup_grace_period: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(50),
            startup_grace_period: Duration::from_secs(60),
        }
    }
}

/// What was last seen of a node's heartbeat, and when we saw it change.
struct Seen {
    beat: (Option<String>, Option<String>),
    at: Instant,
}

struct Monitor {
    client: Client,
    settings: Settings,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    seen: HashMap<String, Seen>,
    /// Pods already asked to go, so a slow delete is not repeated every sweep.
    evicted: HashSet<String>,
    recorder: Recorder,
}

pub async fn run(client: Client, informers: &crate::informers::Informers, settings: Settings) {
    let nodes = informers.nodes.store();
    let leases = follow(Api::<Lease>::namespaced(client.clone(), "kube-node-lease"));
    let pods = informers.pods.store();
    for ready in [
        nodes.wait_until_ready().await,
        leases.wait_until_ready().await,
        pods.wait_until_ready().await,
    ] {
        if ready.is_err() {
            return;
        }
    }
    let reporter = Reporter {
        controller: "node-controller".into(),
        instance: None,
    };
    let mut monitor = Monitor {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        settings,
        nodes,
        leases,
        pods,
        seen: HashMap::new(),
        evicted: HashSet::new(),
    };
    let mut tick = tokio::time::interval(settings.monitor_period);
    loop {
        tick.tick().await;
        monitor.sweep().await;
    }
}

fn follow<K>(api: Api<K>) -> Store<K>
where
    K: Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
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
                tracing::debug!(error = %e, "node lifecycle watch");
            }
        }
    });
    store
}

impl Monitor {
    async fn sweep(&mut self) {
        let now = Timestamp::now();
        let nodes = self.nodes.state();
        // A set, not a scan per entry: with thousands of nodes the scan was quadratic.
        let names: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        self.seen.retain(|name, _| names.contains(name.as_str()));
        let mut tainted: HashMap<String, Vec<k8s_openapi::api::core::v1::Taint>> = HashMap::new();
        for node in nodes {
            let name = node.name_any();
            match self.check_node(&node, now).await {
                Ok(taints) => {
                    if taints.iter().any(|t| t.effect == "NoExecute") {
                        tainted.insert(name, taints);
                    }
                }
                Err(e) => tracing::warn!(node = %name, error = %e, "node health update failed"),
            }
        }
        self.evict(&tainted, now).await;
    }

    /// Brings one node's conditions and taints up to date; returns its taints.
    async fn check_node(
        &mut self,
        node: &Node,
        now: Timestamp,
    ) -> Result<Vec<k8s_openapi::api::core::v1::Taint>, Error> {
        let name = node.name_any();
        let lease = self
            .leases
            .get(&reflector::ObjectRef::new(&name).within("kube-node-lease"));
        let beat = (
            lease
                .as_ref()
                .and_then(|l| l.spec.as_ref())
                .and_then(|s| s.renew_time.as_ref())
                .map(|t| t.0.to_string()),
            health::condition(node, "Ready")
                .and_then(|c| c.last_heartbeat_time.as_ref())
                .map(|t| t.0.to_string()),
        );
        let seen = self.seen.entry(name.clone()).or_insert(Seen {
            beat: beat.clone(),
            at: Instant::now(),
        });
        if seen.beat != beat {
            *seen = Seen {
                beat,
                at: Instant::now(),
            };
        }
        let grace = if health::condition(node, "Ready").is_some() {
            self.settings.grace_period
        } else {
            self.settings.startup_grace_period
        };
        let mut node = node.clone();
        let api: Api<Node> = Api::all(self.client.clone());
        if seen.at.elapsed() > grace {
            if let Some(conditions) = health::silenced_conditions(&node, now) {
                let was_ready = health::ready_status(&node) == "True";
                let patch = json!({"status": {"conditions": conditions}});
                node = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                    .await?;
                tracing::info!(node = %name, "kubelet stopped posting node status");
                if was_ready {
                    self.note(
                        &node,
                        "NodeNotReady",
                        format!("Node {name} status is now: NodeNotReady"),
                    )
                    .await;
                    self.mark_pods_not_ready(&name, now).await;
                }
            }
        }
        if let Some(taints) = health::reconciled_taints(&node, now) {
            // The resourceVersion makes this a compare-and-swap against user edits.
            let patch = json!({
                "metadata": {"resourceVersion": node.resource_version()},
                "spec": {"taints": taints},
            });
            node = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Ok(node.spec.and_then(|s| s.taints).unwrap_or_default())
    }

    async fn mark_pods_not_ready(&self, node: &str, now: Timestamp) {
        for pod in self.pods.state() {
            if podinfo::node_name(&pod) != node || !podinfo::is_ready(&pod) {
                continue;
            }
            let api: Api<Pod> =
                Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            let patch = json!({"status": {"conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": now.to_string()},
            ]}});
            if let Err(e) = api
                .patch_status(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await
            {
                tracing::debug!(pod = %pod.name_any(), error = %e, "marking pod not ready failed");
            }
        }
    }

    async fn evict(
        &mut self,
        tainted: &HashMap<String, Vec<k8s_openapi::api::core::v1::Taint>>,
        now: Timestamp,
    ) {
        let pods = self.pods.state();
        self.evicted.retain(|uid| {
            pods.iter()
                .any(|p| p.uid().as_deref() == Some(uid.as_str()))
        });
        for pod in pods {
            let Some(taints) = tainted.get(podinfo::node_name(&pod)) else {
                continue;
            };
            let uid = pod.uid().unwrap_or_default();
            if !podinfo::is_active(&pod) || self.evicted.contains(&uid) {
                continue;
            }
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.clone())
                .unwrap_or_default();
            match eviction::verdict(&tolerations, taints, now) {
                Verdict::EvictAt(at) if at <= now => {
                    if let Err(e) = self.evict_pod(&pod, now).await {
                        tracing::warn!(pod = %pod.name_any(), error = %e, "taint eviction failed");
                    } else {
                        self.evicted.insert(uid);
                    }
                }
                _ => {}
            }
        }
    }

    async fn evict_pod(&self, pod: &Pod, now: Timestamp) -> Result<(), Error> {
        let name = pod.name_any();
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let patch = json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": now.to_string(),
        }]}});
        api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;
        self.note(
            pod,
            "TaintManagerEviction",
            format!("Marking for deletion Pod {ns}/{name}"),
        )
        .await;
        api.delete(&name, &DeleteParams::default()).await?;
        tracing::info!(pod = %name, namespace = %ns, "evicted by NoExecute taint");
        Ok(())
    }

    async fn note<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, note: String) {
        let event = Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::debug!(error = %e, "recording event failed");
        }
    }
}
