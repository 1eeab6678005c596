//! Ingress status for the built-in ingress controller: every node agent serves the
//! Ingresses of the `skiff` class on its own ports, so such an Ingress's
//! `status.loadBalancer.ingress` lists the Ready nodes' InternalIPs (as ServiceLB does for
//! LoadBalancer Services). Ingresses of other classes are left to their controllers.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use crate::Error;

struct Ctx {
    client: Client,
    nodes: reflector::Store<Node>,
    classes: reflector::Store<IngressClass>,
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let nodes = informers.nodes.store();
    let node_changes = informers.nodes.subscribe().map(|_| ());
    let (classes, class_writer) = reflector::store();
    let class_changes = watcher(
        Api::<IngressClass>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(class_writer)
    .touched_objects()
    .filter_map(|c| async move { c.ok().map(|_| ()) });
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        nodes,
        classes,
    });
    Controller::new(Api::<Ingress>::all(client), watcher::Config::default())
        .reconcile_all_on(node_changes)
        .reconcile_all_on(class_changes)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(ing: Arc<Ingress>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(ingress = %ing.name_any(), error = %err, "ingress status not written; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(ing: Arc<Ingress>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if ing.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let classes = ctx.classes.state();
    let class_refs: Vec<&IngressClass> = classes.iter().map(|c| c.as_ref()).collect();
    if !ingress::class::is_ours(&ing, &class_refs) {
        return Ok(Action::await_change());
    }
    let want: Vec<Value> = crate::servicelb::ingress(&ctx.nodes.state())
        .into_iter()
        .filter_map(|v| v.get("ip").cloned())
        .map(|ip| json!({"ip": ip}))
        .collect();
    let have = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| serde_json::to_value(i).unwrap_or_default())
        .unwrap_or_else(|| json!([]));
    if have != json!(want) {
        let api: Api<Ingress> =
            Api::namespaced(ctx.client.clone(), &ing.namespace().unwrap_or_default());
        let patch = json!({"status": {"loadBalancer": {"ingress": want}}});
        api.patch_status(
            &ing.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}
