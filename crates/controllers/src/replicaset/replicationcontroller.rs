//! The ReplicationController controller: upstream runs the ReplicaSet controller over
//! ReplicationControllers converted to ReplicaSets, and so does this one.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, ReplicationController, ReplicationControllerStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use super::expectations::Expectations;
use super::{plan, sync, PodCache};
use crate::informers::Informers;
use crate::selector;
use crate::Error;

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    expectations: Expectations,
}

pub async fn run(client: Client, informers: &Informers) {
    let rcs: Api<ReplicationController> = Api::all(client.clone());
    let controller = Controller::new(rcs, watcher::Config::default());
    let store = controller.store();
    let ctx = Arc::new(Ctx {
        client,
        pods: informers.pods.store(),
        expectations: Expectations::default(),
    });
    controller
        .reconcile_on(
            informers
                .pods
                .triggers(move |pod, _| interested(&store, pod)),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

/// The selector as a label selector; an absent one defaults to the template's labels.
fn selector_of(rc: &ReplicationController) -> LabelSelector {
    let spec = rc.spec.as_ref();
    let labels = spec.and_then(|s| s.selector.clone()).or_else(|| {
        spec.and_then(|s| s.template.as_ref())
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
    });
    LabelSelector {
        match_labels: labels,
        match_expressions: None,
    }
}

fn interested(
    store: &Store<ReplicationController>,
    pod: &Pod,
) -> Vec<ObjectRef<ReplicationController>> {
    let Some(ns) = pod.namespace() else {
        return Vec::new();
    };
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(owner) = controller {
        if owner.kind == "ReplicationController" && owner.api_version == "v1" {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    // Every pod event of the cluster comes through here: no copy of its labels.
    let no_labels = std::collections::BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&no_labels);
    store
        .state()
        .iter()
        .filter(|rc| rc.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rc| {
            let sel = selector_of(rc);
            !selector::is_empty(&sel) && selector::matches(&sel, labels)
        })
        .map(|rc| ObjectRef::from_obj(rc.as_ref()))
        .collect()
}

fn error_policy(rc: Arc<ReplicationController>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(replicationcontroller = %rc.name_any(), error = %err, "replicationcontroller sync failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The two statuses have the same fields but for `terminatingReplicas`, which only
/// ReplicaSets have.
fn convert<A: k8s_openapi::serde::Serialize, B: k8s_openapi::serde::de::DeserializeOwned>(
    a: &A,
) -> Result<B, Error> {
    Ok(serde_json::from_value(serde_json::to_value(a)?)?)
}

fn as_replicaset(rc: &ReplicationController) -> Result<ReplicaSet, Error> {
    let spec = rc.spec.clone().unwrap_or_default();
    let status: Option<ReplicaSetStatus> = rc.status.as_ref().map(convert).transpose()?;
    Ok(ReplicaSet {
        metadata: rc.metadata.clone(),
        spec: ReplicaSetSpec {
            replicas: spec.replicas,
            min_ready_seconds: spec.min_ready_seconds,
            selector: selector_of(rc),
            template: spec.template,
        },
        status,
    })
}

async fn reconcile(cached: Arc<ReplicationController>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let rcs: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let key = format!("{ns}/{}", cached.name_any());
    let Some(rc) = rcs.get_opt(&cached.name_any()).await? else {
        ctx.expectations.forget(&key);
        return Ok(Action::await_change());
    };
    let cache = PodCache {
        store: &ctx.pods,
        expectations: &ctx.expectations,
        key: &key,
    };
    let synced = sync(
        &as_replicaset(&rc)?,
        plan::REPLICATION_CONTROLLER,
        &pods,
        &cache,
    )
    .await?;
    if let Some(status) = synced.status {
        let mut updated = rc.clone();
        let status: ReplicationControllerStatus = convert(&status)?;
        updated.status = Some(status);
        rcs.replace_status(&rc.name_any(), &PostParams::default(), &updated)
            .await?;
    }
    Ok(synced.action)
}
