//! The DaemonSet controller (upstream `pkg/controller/daemon`): one pod per node that fits
//! (node selector, node affinity, taints against tolerations), each pinned to its node by
//! required node affinity on `metadata.name` for the scheduler to bind; nodes that stop
//! fitting lose their pod; rolling updates (maxUnavailable / maxSurge) or OnDelete through
//! ControllerRevisions; the status `kubectl rollout status daemonset` reads.

mod eligibility;
mod plan;
mod status;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::event_recorder::{self, Involved};
use crate::{history, pod_claims, podinfo, selector, Error};
use plan::{NodeView, PodView};

const COMPONENT: &str = "daemonset-controller";
/// Set by the apiserver on DaemonSets; copied to pods as upstream does.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

struct Ctx {
    client: Client,
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let sets: Api<DaemonSet> = Api::all(client.clone());
    let controller = Controller::new(sets, watcher::Config::default());
    let store = controller.store();
    controller
        .watches_shared_stream(
            informers.pods.subscribe_where(|pod| {
                !crate::informers::owners::<DaemonSet>(&pod.metadata).is_empty()
            }),
            |pod| crate::informers::owners::<DaemonSet>(&pod.metadata),
        )
        // Any node change may change where every DaemonSet belongs.
        .watches_shared_stream(informers.nodes.subscribe(), move |_node| {
            store
                .state()
                .iter()
                .map(|ds| ObjectRef::from_obj(ds.as_ref()))
                .collect::<Vec<_>>()
        })
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| async {})
        .await;
}

fn error_policy(ds: Arc<DaemonSet>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(daemonset = %ds.name_any(), error = %err, "daemonset sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(cached: Arc<DaemonSet>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let sets: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(ds) = sets.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    Sync {
        client: &ctx.client,
        ns: ns.clone(),
        name: ds.name_any(),
        uid: ds.metadata.uid.clone().unwrap_or_default(),
        pods: Api::namespaced(ctx.client.clone(), &ns),
        ds: &ds,
    }
    .run(&sets)
    .await
}

struct Sync<'a> {
    client: &'a Client,
    ds: &'a DaemonSet,
    ns: String,
    name: String,
    uid: String,
    pods: Api<Pod>,
}

fn controller_ref(ds: &DaemonSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "DaemonSet".into(),
        name: ds.metadata.name.clone().unwrap_or_default(),
        uid: ds.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn int_or_string(v: Option<&IntOrString>, default: &str) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => default.into(),
    }
}

fn hash_of(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(history::HASH_LABEL))
        .map(String::as_str)
        .unwrap_or("")
}

impl Sync<'_> {
    async fn run(&self, sets: &Api<DaemonSet>) -> Result<Action, Error> {
        let spec = self.ds.spec.clone();
        let now = Timestamp::now();
        let min_ready = spec.min_ready_seconds.unwrap_or(0);

        let nodes_api: Api<Node> = Api::all(self.client.clone());
        let mut nodes = nodes_api.list(&ListParams::default()).await?.items;
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let selector = spec.selector.clone();
        let mut owned: Vec<Pod> = pod_claims::claim_all(
            &self.pods,
            self.pods.list(&ListParams::default()).await?.items,
            &controller_ref(self.ds),
            false,
            |p| {
                !selector::is_empty(&selector)
                    && selector::matches(&selector, &p.metadata.labels.clone().unwrap_or_default())
            },
        )
        .await?;
        owned.sort_by(|a, b| {
            (podinfo::created(a), &a.metadata.name).cmp(&(podinfo::created(b), &b.metadata.name))
        });

        // History: the current template's revision gives the hash new pods carry.
        let revisions_api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &self.ns);
        let mut revisions = history::claim(
            &revisions_api,
            revisions_api.list(&ListParams::default()).await?.items,
            &controller_ref(self.ds),
            &spec.selector,
        )
        .await?;
        let old_status = self.ds.status.clone().unwrap_or_default();
        let mut collision_count = old_status.collision_count.unwrap_or(0);
        let owner = history::Owner {
            namespace: &self.ns,
            name: &self.name,
            controller_ref: controller_ref(self.ds),
            labels: spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
            // Copied as upstream does, so `rollout history` shows change causes.
            annotations: self.ds.metadata.annotations.clone().unwrap_or_default(),
        };
        let data = history::template_patch(&spec.template)?;
        let current = history::ensure(
            &revisions_api,
            &owner,
            &data,
            &mut revisions,
            &mut collision_count,
        )
        .await?;
        let hash = current
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(history::HASH_LABEL))
            .cloned()
            .unwrap_or_default();

        let mut template_spec = spec.template.spec.clone().unwrap_or_default();
        eligibility::add_daemon_tolerations(&mut template_spec);

        // Pods per node; pods for nodes that no longer exist are removed.
        let node_names: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.as_deref())
            .collect();
        let mut orphans: Vec<String> = Vec::new();
        let mut by_node: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
        for p in &owned {
            match eligibility::target_node(p) {
                Some(n) if node_names.contains(n) => by_node.entry(n).or_default().push(p),
                _ if p.metadata.deletion_timestamp.is_none() => orphans.push(p.name_any()),
                _ => {}
            }
        }
        let views: Vec<NodeView> = nodes
            .iter()
            .map(|node| {
                let name = node.metadata.name.clone().unwrap_or_default();
                let fit = eligibility::fit(&template_spec, node);
                let pods = by_node
                    .get(name.as_str())
                    .into_iter()
                    .flatten()
                    .map(|p| PodView {
                        name: p.name_any(),
                        terminating: p.metadata.deletion_timestamp.is_some(),
                        finished: podinfo::is_terminal(p),
                        available: podinfo::is_available(p, min_ready, now),
                        updated: hash_of(p) == hash,
                    })
                    .collect();
                NodeView {
                    name,
                    should_run: fit.should_run,
                    should_continue: fit.should_continue,
                    pods,
                }
            })
            .collect();

        let strategy = spec.update_strategy.clone().unwrap_or_default();
        let rolling = strategy
            .type_
            .as_deref()
            .is_none_or(|t| t == "RollingUpdate");
        let ru = strategy.rolling_update.unwrap_or_default();
        let desired = views.iter().filter(|v| v.should_run).count();
        let (max_surge, max_unavailable) = plan::resolve_limits(
            &int_or_string(ru.max_surge.as_ref(), "0"),
            &int_or_string(ru.max_unavailable.as_ref(), "1"),
            i32::try_from(desired).unwrap_or(i32::MAX),
        );
        let surge = rolling && max_surge > 0;
        let mut changes = plan::manage(&views, surge);
        changes.delete.extend(orphans);
        // A rolling update works from a settled placement, so one sync never deletes a
        // pod twice over.
        if rolling && changes.create.is_empty() && changes.delete.is_empty() {
            changes = plan::rolling(&views, max_surge, max_unavailable);
        }

        for node in &changes.create {
            self.create(node, &template_spec, &hash).await?;
        }
        for name in &changes.delete {
            if let Some(pod) = owned.iter().find(|p| p.name_any() == *name) {
                self.delete(pod).await?;
            }
        }

        let counts: Vec<status::NodeCount> = views
            .iter()
            .map(|v| {
                let oldest = by_node
                    .get(v.name.as_str())
                    .into_iter()
                    .flatten()
                    .find(|p| p.metadata.deletion_timestamp.is_none());
                status::NodeCount {
                    should_run: v.should_run,
                    oldest: oldest.map(|p| {
                        (
                            podinfo::is_ready(p),
                            podinfo::is_available(p, min_ready, now),
                            hash_of(p) == hash,
                        )
                    }),
                }
            })
            .collect();
        let new_status = status::compute(&counts, self.ds.metadata.generation, collision_count);
        if self.ds.status.as_ref() != Some(&new_status) {
            sets.patch_status(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": new_status})),
            )
            .await?;
        }

        let live_hashes: HashSet<&str> = owned.iter().map(hash_of).collect();
        let mut live: HashSet<String> = revisions
            .iter()
            .filter(|r| {
                r.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(history::HASH_LABEL))
                    .is_some_and(|h| live_hashes.contains(h.as_str()))
            })
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        live.extend(current.metadata.name.clone());
        history::prune(
            &revisions_api,
            &revisions,
            &live,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;

        let waiting = owned
            .iter()
            .any(|p| podinfo::is_ready(p) && !podinfo::is_available(p, min_ready, now));
        Ok(if min_ready > 0 && waiting {
            Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(1)))
        } else {
            Action::await_change()
        })
    }

    fn involved(&self) -> Involved<'_> {
        Involved {
            api_version: "apps/v1",
            kind: "DaemonSet",
            namespace: &self.ns,
            name: &self.name,
            uid: &self.uid,
        }
    }

    async fn event(&self, warning: bool, reason: &str, message: String) {
        event_recorder::record(
            self.client,
            COMPONENT,
            &self.involved(),
            warning,
            reason,
            &message,
        )
        .await;
    }

    async fn create(
        &self,
        node: &str,
        template_spec: &k8s_openapi::api::core::v1::PodSpec,
        hash: &str,
    ) -> Result<(), Error> {
        let tmeta = self.ds.spec.template.metadata.clone().unwrap_or_default();
        let mut labels = tmeta.labels.clone().unwrap_or_default();
        labels.insert(history::HASH_LABEL.into(), hash.into());
        if let Some(generation) = self
            .ds
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        {
            labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.clone());
        }
        let mut spec = template_spec.clone();
        spec.affinity = Some(eligibility::pin_to_node(spec.affinity.take(), node));
        let pod = Pod {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", self.name)),
                namespace: Some(self.ns.clone()),
                labels: Some(labels),
                annotations: tmeta.annotations.clone(),
                finalizers: tmeta.finalizers.clone(),
                owner_references: Some(vec![controller_ref(self.ds)]),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        };
        match self.pods.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                self.event(
                    false,
                    "SuccessfulCreate",
                    format!("Created pod: {}", created.name_any()),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                // A namespace being deleted refuses new pods; nothing to retry.
                if let kube::Error::Api(ae) = &e {
                    if ae.code == 403 && ae.message.contains("because it is being terminated") {
                        return Ok(());
                    }
                }
                self.event(
                    true,
                    "FailedCreate",
                    format!("Error creating: {}", api_message(&e)),
                )
                .await;
                Err(e.into())
            }
        }
    }

    async fn delete(&self, pod: &Pod) -> Result<(), Error> {
        let name = pod.name_any();
        if podinfo::phase(pod) == "Failed" {
            self.event(
                true,
                "FailedDaemonPod",
                format!(
                    "Found failed daemon pod {}/{name} on node {}, will try to kill it",
                    self.ns,
                    podinfo::node_name(pod)
                ),
            )
            .await;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.pods.delete(&name, &params).await {
            Ok(_) => {
                self.event(false, "SuccessfulDelete", format!("Deleted pod: {name}"))
                    .await;
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => {
                self.event(
                    true,
                    "FailedDelete",
                    format!("Error deleting: {}", api_message(&e)),
                )
                .await;
                Err(e.into())
            }
        }
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(ae) => ae.message.clone(),
        other => other.to_string(),
    }
}
