//! Node Leases in `kube-node-lease`: the cheap liveness signal the node lifecycle
//! controller watches. One loop renews every node's Lease.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

use crate::{clock, Error, Shared, SimNode};

pub const NAMESPACE: &str = "kube-node-lease";
/// Upstream's kubelet: a 40 s lease renewed every quarter of it.
pub const DURATION_SECONDS: i64 = 40;
const RENEW: Duration = Duration::from_secs(10);

pub fn object(node: &str, node_uid: &str, now: &str) -> Value {
    let mut lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": DURATION_SECONDS,
            "renewTime": now,
        },
    });
    // Owned by the Node, so deleting the Node collects its Lease.
    if !node_uid.is_empty() {
        lease["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1",
            "kind": "Node",
            "name": node,
            "uid": node_uid,
        }]);
    }
    lease
}

pub async fn ensure(shared: &Shared, n: &SimNode, node_uid: &str) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(shared.client.clone(), NAMESPACE);
    let err = |source| Error::Lease {
        name: n.name.clone(),
        source,
    };
    let now = clock::micro_time(clock::now());
    let lease: Lease = serde_json::from_value(object(&n.name, node_uid, &now))
        .map_err(|e| err(kube::Error::SerdeError(e)))?;
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => renew(&api, &n.name, &now).await.map_err(err),
        Err(e) => Err(err(e)),
    }
}

async fn renew(api: &Api<Lease>, node: &str, now: &str) -> Result<(), kube::Error> {
    let patch = json!({"spec": {"holderIdentity": node, "leaseDurationSeconds": DURATION_SECONDS, "renewTime": now}});
    api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// Renews every live node's Lease each 10 s, a few dozen requests in flight at a time.
pub async fn renew_loop(shared: Arc<Shared>) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(shared.client.clone(), NAMESPACE);
    let mut tick = tokio::time::interval(RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // just created
    loop {
        tick.tick().await;
        let now = clock::micro_time(clock::now());
        futures::stream::iter(shared.nodes.iter().filter(|n| !shared.is_paused(&n.name)))
            .for_each_concurrent(64, |n| {
                let (api, now, shared) = (api.clone(), now.clone(), shared.clone());
                async move {
                    match renew(&api, &n.name, &now).await {
                        Ok(()) => {}
                        // Someone deleted it: a kubelet recreates its Lease.
                        Err(kube::Error::Api(s)) if s.code == 404 => {
                            if let Err(e) = ensure(&shared, n, "").await {
                                tracing::warn!(error = %e, "recreating lease");
                            }
                        }
                        Err(e) => tracing::warn!(node = %n.name, error = %e, "renewing lease"),
                    }
                }
            })
            .await;
    }
}
