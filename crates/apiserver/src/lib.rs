//! The Kubernetes API over HTTPS: the only crate that speaks HTTP to clients.
//!
//! A request is routed by path ([`request`]), handled by the generic REST handlers
//! ([`rest`]) with the resource's rules from the `registry` crate, and stored through the
//! `store` crate. Lists and watches are answered from the [`watch_cache`].

mod admission;
mod alloc;
mod auth;
mod body;
mod bootstrap;
mod certs;
mod discovery;
mod error;
mod event_ttl;
mod filter;
mod objects;
mod openapi;
mod request;
mod rest;
mod router;
mod server;
mod table;
mod watch_cache;

use std::sync::Arc;

pub use auth::bootstrap_token::{ca_hash, JoinToken};
pub use certs::{admin_kubeconfig, host_addresses};
pub use server::{start, Config, RunningServer, StartError};

/// Shared state of one apiserver.
pub struct Api {
    pub(crate) store: Arc<dyn store::Store>,
    pub(crate) cache: Arc<watch_cache::WatchCache>,
    pub(crate) alloc: alloc::Allocator,
    pub(crate) server_address: String,
    pub(crate) openapi: openapi::OpenApiCache,
    pub(crate) authn: auth::Authn,
}
