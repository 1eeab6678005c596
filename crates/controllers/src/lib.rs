//! The controller manager: one module per controller, each a reconcile function over
//! kube-rs's shared watcher machinery.
//!
//! **Architecture Invariant:** controllers reach cluster state only through the Kubernetes
//! API (a `kube::Client`), never the store, even when they run in the server's process.

pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod garbage_collector;
pub mod namespace;
pub mod podgc;
pub(crate) mod podinfo;
pub mod replicaset;
pub mod resourcequota;
pub mod root_ca;
pub(crate) mod selector;
pub(crate) mod service_pods;
pub mod serviceaccount;

use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
}

/// What the controllers need to know about the cluster beyond its API.
pub struct Config {
    /// The cluster CA (PEM) published in every namespace as `kube-root-ca.crt`.
    pub ca_pem: String,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// `--terminated-pod-gc-threshold`.
    pub terminated_pod_gc_threshold: usize,
}

/// Runs every controller until the process ends.
pub async fn run(client: Client, config: Config) {
    tokio::join!(
        disruption::run(client.clone()),
        endpoints::run(client.clone()),
        endpointslice::run(client.clone(), config.max_endpoints_per_slice),
        garbage_collector::run(client.clone()),
        namespace::run(client.clone()),
        podgc::run(client.clone(), config.terminated_pod_gc_threshold),
        replicaset::run(client.clone()),
        resourcequota::run(client.clone()),
        serviceaccount::run(client.clone()),
        root_ca::run(client.clone(), config.ca_pem),
    );
}
