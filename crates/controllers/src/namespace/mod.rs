//! Namespace lifecycle: a namespace being deleted has its content deleted, then the
//! `kubernetes` finalizer removed through the `finalize` subresource, after which the
//! apiserver removes the namespace itself.

mod conditions;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{verbs, Discovery, Scope};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

/// The finalizer upstream's namespace controller owns.
const FINALIZER: &str = "kubernetes";

struct Ctx {
    client: Client,
}

pub async fn run(client: Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "namespace controller");
            }
        })
        .await;
}

fn error_policy(ns: Arc<Namespace>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "namespace cleanup failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

fn holds_finalizer(ns: &Namespace) -> bool {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_none() || !holds_finalizer(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let remaining = delete_content(&ctx.client, &name).await?;
    report(&ctx.client, &ns, &remaining).await;
    if !remaining.resources.is_empty() {
        // Objects with finalizers of their own: wait for their controllers.
        tracing::info!(namespace = %name, remaining = ?remaining.resources, "waiting for namespace content to go");
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let mut done = (*ns).clone();
    if let Some(spec) = done.spec.as_mut() {
        if let Some(f) = spec.finalizers.as_mut() {
            f.retain(|x| x != FINALIZER);
        }
    }
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    api.replace_subresource("finalize", &name, &PostParams::default(), &done)
        .await?;
    tracing::info!(namespace = %name, "namespace finalized");
    Ok(Action::await_change())
}

/// Writes the deletion conditions into the namespace's status when they changed (best
/// effort: the next pass writes them again).
async fn report(client: &Client, ns: &Namespace, remaining: &conditions::Remaining) {
    let old = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let new = conditions::update(&old, remaining, &now);
    if new == old {
        return;
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let patch = serde_json::json!({"status": {"conditions": new}});
    if let Err(e) = api
        .patch_status(
            &ns.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        tracing::debug!(namespace = %ns.name_any(), error = %e, "writing namespace deletion conditions");
    }
}

/// `resource.group`, or `resource` for the core group, as upstream names resources.
fn group_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// Deletes every namespaced object in `ns`; returns what is still there and the finalizers
/// holding it.
async fn delete_content(client: &Client, ns: &str) -> Result<conditions::Remaining, Error> {
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    let mut remaining = conditions::Remaining::default();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            if caps.supports_operation(verbs::DELETE_COLLECTION) {
                if let Err(e) = api
                    .delete_collection(&DeleteParams::background(), &ListParams::default())
                    .await
                {
                    remaining.delete_error =
                        Some(format!("{}: {e}", group_resource(&ar.group, &ar.plural)));
                }
            }
            let left = api.list_metadata(&ListParams::default()).await?.items;
            if left.is_empty() {
                continue;
            }
            remaining
                .resources
                .insert(group_resource(&ar.group, &ar.plural), left.len());
            for o in &left {
                for f in o.metadata.finalizers.iter().flatten() {
                    *remaining.finalizers.entry(f.clone()).or_insert(0) += 1;
                }
            }
        }
    }
    Ok(remaining)
}
