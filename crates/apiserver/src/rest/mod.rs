//! The generic REST handlers every resource shares, as upstream's generic registry store:
//! one module per verb family.

mod csr_approval;
mod delete;
mod eviction;
mod field_manager;
mod read;
mod subresource;
mod token_request;
mod virtual_kinds;
mod watch;
mod write;

pub(crate) use read::consistent_cache_revision;
pub(crate) use write::current;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use registry::{ResourceInfo, Strategy};

use crate::auth::UserInfo;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::request::ResourceRequest;
use crate::Api;

/// One request against one resource: what it names, and the resource's rules.
pub struct Scope<'a> {
    pub api: &'a Arc<Api>,
    pub info: &'static ResourceInfo,
    pub strategy: &'static dyn Strategy,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub query: &'a HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub user: &'a UserInfo,
}

impl Scope<'_> {
    pub fn key(&self, name: &str) -> String {
        match &self.namespace {
            Some(ns) if self.info.namespaced => {
                format!("/registry/{}/{ns}/{name}", self.info.storage_prefix)
            }
            _ => format!("/registry/{}/{name}", self.info.storage_prefix),
        }
    }

    /// Prefix of every key this request can see; always ends in '/'.
    pub fn prefix(&self) -> String {
        match &self.namespace {
            Some(ns) if self.info.namespaced => {
                format!("/registry/{}/{ns}/", self.info.storage_prefix)
            }
            _ => format!("/registry/{}/", self.info.storage_prefix),
        }
    }

    pub fn param(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    pub fn dry_run(&self) -> bool {
        self.param("dryRun").is_some_and(|v| v == "All")
    }

    pub fn group(&self) -> &'static str {
        self.info.group
    }

    pub fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(self.info.group, self.info.plural, name)
    }
}

pub async fn handle(
    api: &Arc<Api>,
    method: &Method,
    req: ResourceRequest,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    user: &UserInfo,
    body: body::RequestBody,
) -> Response<Body> {
    let custom = api.custom.find(&req.group, &req.version, &req.resource);
    let (result, warnings) =
        crate::admission::collect_warnings(dispatch(api, method, req, query, headers, user, body))
            .await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => body::error_response(&e),
    };
    // Admission's warnings (PodSecurity's `warn` mode) go out with success and refusal alike.
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    // Every request to a deprecated custom resource version carries the CRD's warning.
    if let Some(warning) = custom.and_then(|c| c.deprecation_warning) {
        let text = format!(
            "299 - \"{}\"",
            warning.replace('\\', "\\\\").replace('"', "\\\"")
        );
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

async fn dispatch(
    api: &Arc<Api>,
    method: &Method,
    req: ResourceRequest,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    user: &UserInfo,
    body: body::RequestBody,
) -> ApiResult<Response<Body>> {
    let (info, strategy) = api
        .resource(&req.group, &req.version, &req.resource)
        .ok_or_else(ApiError::no_route)?;
    // A namespaced resource addressed without a namespace may only be listed or watched
    // across namespaces; a cluster-scoped one never takes a namespace.
    if (!info.namespaced && req.namespace.is_some())
        || (info.namespaced && req.namespace.is_none() && req.name.is_some())
    {
        return Err(ApiError::no_route());
    }
    if let Some(sub) = &req.subresource {
        if !info.has_subresource(sub) {
            return Err(ApiError::no_route());
        }
    }
    let scope = Scope {
        api,
        info,
        strategy,
        namespace: req.namespace.clone(),
        name: req.name.clone(),
        query,
        headers,
        user,
    };
    let watch = req.watch_prefix || query.get("watch").is_some_and(|v| v == "true" || v == "1");
    let verb = verb_name(method, req.name.is_some(), watch);
    if !info.verbs.contains(&verb) && req.subresource.is_none() {
        return Err(ApiError::method_not_supported(
            info.group,
            info.plural,
            verb,
        ));
    }
    if info.storage_prefix.is_empty() {
        return virtual_kinds::handle(&scope, method, body.read().await?).await;
    }
    if let Some(sub) = req.subresource.as_deref() {
        let name = req.name.clone().unwrap_or_default();
        let raw = read_body_if(method, body).await?;
        return subresource::handle(&scope, method, &name, sub, raw).await;
    }
    match (method, req.name.clone()) {
        (&Method::GET, Some(_)) if watch => watch::watch(&scope).await,
        (&Method::GET, None) if watch => watch::watch(&scope).await,
        (&Method::GET, Some(name)) => read::get(&scope, &name).await,
        (&Method::GET, None) => read::list(&scope).await,
        (&Method::POST, None) => write::create(&scope, body.read().await?).await,
        (&Method::PUT, Some(name)) => write::update(&scope, &name, body.read().await?).await,
        (&Method::PATCH, Some(name)) => write::patch(&scope, &name, body.read().await?).await,
        (&Method::DELETE, Some(name)) => delete::delete(&scope, &name, body.read().await?).await,
        (&Method::DELETE, None) => delete::delete_collection(&scope, body.read().await?).await,
        _ => Err(ApiError::method_not_supported(
            info.group,
            info.plural,
            method.as_str(),
        )),
    }
}

async fn read_body_if(method: &Method, body: body::RequestBody) -> ApiResult<Bytes> {
    if matches!(*method, Method::GET | Method::HEAD) {
        Ok(Bytes::new())
    } else {
        body.read().await
    }
}

fn verb_name(method: &Method, named: bool, watch: bool) -> &'static str {
    match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}
