//! NetworkPolicy enforcement on every node (the role a CNI plugin's policy agent plays):
//! watches NetworkPolicies, Pods and Namespaces and keeps one nftables table of allowed
//! connections for this node's pods, replaced atomically within 50 ms of a change.
//!
//! **API Boundary**: [`run`] → [`Enforcer`]; [`Enforcer::shutdown`] removes the table.

pub mod model;
pub mod render;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use proxy::{lock, mirror, Objects};
use tokio::sync::Notify;

/// The table of the enforcer for `node`.
pub fn table_name(node: &str) -> String {
    proxy::table_name(node).replacen("skiff-proxy-", "skiff-netpol-", 1)
}

pub struct Enforcer {
    table: String,
    tasks: tokio::task::JoinSet<()>,
}

impl Enforcer {
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        if let Err(e) = proxy::nft::apply(&proxy::render::delete_script(&self.table)).await {
            tracing::warn!(error = %e, "removing the network policy table");
        }
    }
}

pub fn run(client: kube::Client, node: String) -> Enforcer {
    let policies: Objects<NetworkPolicy> = Arc::default();
    let pods: Objects<Pod> = Arc::default();
    let namespaces: Objects<Namespace> = Arc::default();
    let changed = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(mirror(
        Api::<NetworkPolicy>::all(client.clone()),
        policies.clone(),
        changed.clone(),
    ));
    tasks.spawn(mirror(
        Api::<Pod>::all(client.clone()),
        pods.clone(),
        changed.clone(),
    ));
    tasks.spawn(mirror(
        Api::<Namespace>::all(client),
        namespaces.clone(),
        changed.clone(),
    ));
    let table = table_name(&node);
    let t = table.clone();
    tasks.spawn(async move {
        let mut applied = String::new();
        loop {
            changed.notified().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let rules = {
                let pols: Vec<NetworkPolicy> = lock(&policies).values().cloned().collect();
                let ps: Vec<Pod> = lock(&pods).values().cloned().collect();
                let nss: Vec<Namespace> = lock(&namespaces).values().cloned().collect();
                model::build(&pols, &ps, &nss, &node)
            };
            let script = render::script(&t, &rules);
            if script == applied {
                continue;
            }
            match proxy::nft::apply(&script).await {
                Ok(()) => applied = script,
                Err(e) => {
                    tracing::warn!(error = %e, "applying network policy rules; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    changed.notify_one();
                }
            }
        }
    });
    Enforcer { table, tasks }
}
