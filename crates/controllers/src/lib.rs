//! The controller manager: one module per controller, each a reconcile function over
//! kube-rs's shared watcher machinery.
//!
//! **Architecture Invariant:** controllers reach cluster state only through the Kubernetes
//! API (a `kube::Client`), never the store, even when they run in the server's process.

pub mod namespace;

use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    #[error("encoding: {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs every controller until the process ends.
pub async fn run(client: Client) {
    tokio::join!(namespace::run(client.clone()));
}
