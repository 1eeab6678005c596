//! The Kubernetes API over HTTPS: the only crate that speaks HTTP to clients.
//!
//! A request is routed by path ([`request`]), handled by the generic REST handlers
//! ([`rest`]) with the resource's rules from the `registry` crate, and stored through the
//! `store` crate. Lists and watches are answered from the [`watch_cache`].

mod admission;
mod alloc;
mod audit;
mod auth;
mod authz;
mod body;
mod bootstrap;
mod certs;
mod custom_resources;
mod discovery;
mod encryption;
mod error;
mod event_ttl;
mod filter;
mod gateway_api;
mod health;
mod inflight;
mod metrics;
mod node_proxy;
mod objects;
mod openapi;
mod request;
mod rest;
mod router;
mod selectable;
mod server;
mod shared_secrets;
mod shutdown;
mod stored;
mod table;
mod tls_options;
mod watch_cache;
mod webhooks;

use std::sync::Arc;

pub use audit::{writer::LogOptions as AuditLogOptions, AuditConfig};
pub use auth::bootstrap_token::{
    ca_hash, split_bootstrap as split_bootstrap_token, JoinToken,
    NODE_GROUP as NODE_BOOTSTRAP_GROUP,
};
pub use authz::component_roles::{CONTROLLER_MANAGER_USER, SCHEDULER_USER};
pub use authz::node::NODES_GROUP;
pub use certs::{
    admin_kubeconfig, client_kubeconfig, host_addresses, issue_client_cert, CertError,
};
pub use server::{start, Config, Datastore, RunningServer, StartError, TlsFlags};

/// Shared state of one apiserver.
pub struct Api {
    pub(crate) store: Arc<dyn store::Store>,
    pub(crate) cache: Arc<watch_cache::WatchCache>,
    pub(crate) alloc: alloc::Allocator,
    pub(crate) server_address: String,
    pub(crate) openapi: openapi::OpenApiCache,
    pub(crate) authn: auth::Authn,
    /// The RBAC policy, parsed from the watch cache.
    pub(crate) authz: authz::Authorizer,
    /// HTTPS to node agents (logs, exec, port-forward, metrics).
    pub(crate) node_client: node_proxy::NodeClient,
    /// Resources that CustomResourceDefinitions add.
    pub(crate) custom: custom_resources::CustomResources,
    /// `--audit-policy-file`: without one, nothing is audited.
    pub(crate) audit: Option<audit::Auditor>,
    /// `--max-requests-inflight` and `--max-mutating-requests-inflight`.
    pub(crate) inflight: inflight::Limits,
    /// `--encryption-provider-config`: the same store as `store`, for its staleness check.
    pub(crate) encryption: Option<Arc<encryption::EncryptedStore>>,
    /// The datastore check of `/readyz` and `/healthz`.
    pub(crate) health: health::DatastoreProbe,
    /// `/metrics`: the store's and the apiserver's own.
    pub(crate) metrics: metrics::ApiMetrics,
    /// Resolves once the server shuts down: watches end then.
    pub(crate) stopping: shutdown::Stopping,
}

impl Api {
    /// The resource served at `/{group}/{version}/{plural}`: built-in, or from a CRD.
    pub(crate) fn resource(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<(
        &'static registry::ResourceInfo,
        &'static dyn registry::Strategy,
    )> {
        if let Some(info) = registry::catalog::find(group, version, plural) {
            return Some((info, registry::strategies::for_resource(group, plural)));
        }
        self.custom
            .find(group, version, plural)
            .map(|s| (s.info, custom_resources::strategy_of(&s)))
    }
}
