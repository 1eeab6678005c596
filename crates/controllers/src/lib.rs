//! The controller manager: one module per controller, each a reconcile function over
//! kube-rs's shared watcher machinery.
//!
//! **Architecture Invariant:** controllers reach cluster state only through the Kubernetes
//! API (a `kube::Client`), never the store, even when they run in the server's process.

pub mod clusterrole_aggregation;
pub mod cronjob;
pub mod csr;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub(crate) mod event_recorder;
pub(crate) mod events;
pub mod garbage_collector;
pub mod gateway_status;
pub(crate) mod history;
pub mod informers;
pub mod ingress_status;
pub mod job;
pub mod leader_election;
pub mod local_path;
pub mod namespace;
pub mod node_ipam;
pub mod nodelifecycle;
pub mod persistentvolume;
pub(crate) mod pod_claims;
pub mod podgc;
pub(crate) mod podinfo;
pub mod replicaset;
pub mod resourcequota;
pub mod root_ca;
pub(crate) mod selector;
pub(crate) mod service_pods;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
pub mod ttl_after_finished;

use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// A precondition for progress does not hold yet; the sync is retried.
    #[error("{0}")]
    NotYet(String),
}

/// What the controllers need to know about the cluster beyond its API.
#[derive(Clone)]
pub struct Config {
    /// The cluster CA (PEM) published in every namespace as `kube-root-ca.crt`.
    pub ca_pem: String,
    /// The cluster CA's key (PEM): approved client certificates are signed with it; empty,
    /// nothing is signed.
    pub ca_key_pem: String,
    /// Pod ranges for nodes are carved from this (`--cluster-cidr`).
    pub cluster_cidr: String,
    pub node_cidr_mask_size: u8,
    pub node_lifecycle: nodelifecycle::Settings,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// `--terminated-pod-gc-threshold`.
    pub terminated_pod_gc_threshold: usize,
    /// `--local-storage-path`: where local-path volumes' directories go on their nodes.
    pub local_storage_path: String,
}

/// Runs every controller until the process ends. Each appears exactly once: two copies of
/// one controller race each other (two ReplicaSet syncs each create the missing pods).
/// `pods` is the process's shared pod informer (`informers::SharedPods`).
pub async fn run(
    client: Client,
    config: Config,
    pods: std::sync::Arc<informers::Informer<k8s_openapi::api::core::v1::Pod>>,
) {
    let informers = informers::Informers::new(&client, pods);
    let storage = persistentvolume::Informers::start(&client);
    tokio::join!(
        deployment::run(client.clone()),
        garbage_collector::run(client.clone()),
        namespace::run(client.clone()),
        node_ipam::run(
            client.clone(),
            &informers,
            config.cluster_cidr,
            config.node_cidr_mask_size
        ),
        nodelifecycle::run(client.clone(), &informers, config.node_lifecycle),
        replicaset::run(client.clone(), &informers),
        statefulset::run(client.clone(), &informers),
        daemonset::run(client.clone(), &informers),
        disruption::run(client.clone(), &informers),
        endpoints::run(client.clone(), &informers),
        endpointslice::run(client.clone(), &informers, config.max_endpoints_per_slice),
        podgc::run(
            client.clone(),
            &informers,
            config.terminated_pod_gc_threshold
        ),
        resourcequota::run(client.clone(), &informers),
        serviceaccount::run(client.clone()),
        servicelb::run(client.clone(), &informers),
        ingress_status::run(client.clone(), &informers),
        gateway_status::run(client.clone(), &informers),
        csr::run(client.clone(), config.ca_pem.clone(), config.ca_key_pem),
        root_ca::run(client.clone(), config.ca_pem),
        clusterrole_aggregation::run(client.clone()),
        job::run(client.clone(), &informers),
        cronjob::run(client.clone()),
        ttl_after_finished::run(client.clone()),
        persistentvolume::run(client.clone(), &storage),
        persistentvolume::protection::run(client.clone(), &storage, &informers),
        local_path::run(client.clone(), &storage, config.local_storage_path),
    );
}

#[cfg(test)]
mod tests {
    /// Merges have duplicated lines of `run` before; a second copy of a controller is a
    /// correctness bug (double pod creation), not just waste.
    #[test]
    fn every_controller_runs_once() {
        let src = include_str!("lib.rs");
        let body = src
            .split("pub async fn run(")
            .nth(1)
            .and_then(|b| b.split("\n}\n").next())
            .unwrap_or("");
        let mut seen = std::collections::BTreeSet::new();
        for line in body.lines().map(str::trim) {
            if let Some((module, _)) = line.split_once("::run(") {
                assert!(seen.insert(module.to_string()), "{module} runs twice");
            }
        }
        assert!(seen.len() > 10, "parsed {seen:?}");
    }
}
