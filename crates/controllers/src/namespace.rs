//! Namespace lifecycle: a namespace being deleted has its content deleted, then the
//! `kubernetes` finalizer removed through the `finalize` subresource, after which the
//! apiserver removes the namespace itself.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
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
    if remaining > 0 {
        // Objects with finalizers of their own: wait for their controllers.
        tracing::info!(namespace = %name, remaining, "waiting for namespace content to go");
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

/// Deletes every namespaced object in `ns`; returns how many are still there.
async fn delete_content(client: &Client, ns: &str) -> Result<usize, Error> {
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    let mut remaining = 0;
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            if caps.supports_operation(verbs::DELETE_COLLECTION) {
                api.delete_collection(&DeleteParams::background(), &ListParams::default())
                    .await?;
            }
            remaining += api.list_metadata(&ListParams::default()).await?.items.len();
        }
    }
    Ok(remaining)
}
