//! Routes a request to discovery, health, OpenAPI or the REST handlers.

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, Method, Request, Response};
use hyper::body::Incoming;

use std::collections::HashMap;

use futures::FutureExt;
use http_body_util::BodyExt;

use crate::audit::{self, policy::Stage};
use crate::auth::UserInfo;
use crate::authz::Attributes;
use crate::body::{self, Body, RequestBody};
use crate::error::ApiError;
use crate::request::{self, Target};
use crate::{discovery, node_proxy, rest, Api};

pub async fn route(api: Arc<Api>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = request::parse_query(req.uri().query());
    let audit_id = audit::request_id(req.headers());
    // Computed once: authorization, the audit policy and the in-flight limits read them.
    let attrs = crate::authz::attributes::from_request(&method, &path, &query);
    let info = api
        .audit
        .as_ref()
        .map(|_| audit::RequestInfo::from_request(&req));
    let mut resp = match crate::auth::authenticate_request(&api, req).await {
        Ok(req) => authenticated(&api, req, &attrs, &query, &audit_id, info).await,
        Err(refused) => {
            failed_authentication(&api, &attrs, &audit_id, info, &refused);
            refused
        }
    };
    if let Ok(v) = http::HeaderValue::from_str(&audit_id) {
        resp.headers_mut().insert("audit-id", v);
    }
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    Ok(resp)
}

/// As upstream, a request whose credentials fail is audited with no user, at the
/// ResponseStarted stage only, with the methods tried as the message.
fn failed_authentication(
    api: &Api,
    attrs: &Attributes,
    audit_id: &str,
    info: Option<audit::RequestInfo>,
    refused: &Response<Body>,
) {
    let (Some(auditor), Some(info)) = (&api.audit, info) else {
        return;
    };
    let Some(mut record) = auditor.begin(audit_id, &UserInfo::default(), attrs, &info) else {
        return;
    };
    record.response_message(
        refused.status().as_u16(),
        "Authentication failed, attempted: bearer",
    );
    record.emit(Stage::ResponseStarted);
}

fn user_of<B>(req: &Request<B>) -> Arc<UserInfo> {
    req.extensions()
        .get::<Arc<UserInfo>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(UserInfo::anonymous()))
}

/// As upstream's filter chain after authentication: audit, impersonation and
/// authorization, the in-flight limits, then the handler.
async fn authenticated(
    api: &Arc<Api>,
    req: Request<Incoming>,
    attrs: &Attributes,
    query: &HashMap<String, String>,
    audit_id: &str,
    info: Option<audit::RequestInfo>,
) -> Response<Body> {
    let user = user_of(&req);
    let mut record = match (&api.audit, info) {
        (Some(a), Some(info)) => a.begin(audit_id, &user, attrs, &info),
        _ => None,
    };
    if let Some(r) = &mut record {
        r.emit(Stage::RequestReceived);
    }
    let req = match crate::authz::filter(api, req, attrs) {
        Ok((req, reason)) => {
            if let Some(r) = &mut record {
                r.annotate(audit::DECISION, "allow");
                if !reason.is_empty() {
                    r.annotate(audit::REASON, &reason);
                }
            }
            req
        }
        Err(refused) => {
            let (refused, reason) = *refused;
            if let Some(r) = &mut record {
                r.annotate(audit::DECISION, "forbid");
                if !reason.is_empty() {
                    r.annotate(audit::REASON, &reason);
                }
            }
            return finish(record, body::error_response(&refused), false).await;
        }
    };
    let acting = user_of(&req);
    if let Some(r) = &mut record {
        if acting != user {
            r.impersonated(&acting);
        }
    }
    let _slot = match api.inflight.admit(attrs, &acting) {
        Ok(slot) => slot,
        Err(crate::inflight::Full) => {
            return finish(record, crate::inflight::too_many_requests(), false).await
        }
    };
    let long_running = crate::inflight::is_long_running(attrs);
    let resp =
        match std::panic::AssertUnwindSafe(dispatch(api, req, &attrs.path, query, &mut record))
            .catch_unwind()
            .await
        {
            Ok(resp) => resp,
            Err(panic) => {
                // The Panic stage, then the panic goes on as before (it ends the connection).
                if let Some(r) = &mut record {
                    r.response_message(500, &format!("APIServer panic'd: {}", panic_text(&panic)));
                    r.emit(Stage::Panic);
                }
                std::panic::resume_unwind(panic)
            }
        };
    finish(record, resp, long_running).await
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Writes the final stages: a long-running response gets `ResponseStarted` now and
/// `ResponseComplete` when its body ends; any other `ResponseComplete` now, with the
/// response body read (and put back) when the event needs it.
async fn finish(
    record: Option<audit::Record>,
    resp: Response<Body>,
    long_running: bool,
) -> Response<Body> {
    let Some(mut record) = record else {
        return resp;
    };
    let code = resp.status().as_u16();
    if long_running && code < 300 {
        record.response(code, None);
        record.emit(Stage::ResponseStarted);
        let guard = audit::CompleteOnDrop(Some(record));
        return resp.map(|b| {
            b.map_frame(move |f| {
                let _ = &guard;
                f
            })
            .boxed()
        });
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json || (code < 400 && !record.wants_response_body()) {
        record.response(code, None);
        record.emit(Stage::ResponseComplete);
        return resp;
    }
    let (parts, b) = resp.into_parts();
    let bytes = match b.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::debug!(error = %e, "reading a response for the audit log");
            bytes::Bytes::new()
        }
    };
    record.response(code, Some(&bytes));
    record.emit(Stage::ResponseComplete);
    Response::from_parts(parts, body::full(bytes))
}

async fn dispatch(
    api: &Arc<Api>,
    req: Request<Incoming>,
    path: &str,
    query: &HashMap<String, String>,
    record: &mut Option<audit::Record>,
) -> Response<Body> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(resp) = crate::health::respond(api, path, query).await {
        return resp;
    }
    if let Some(resp) = crate::metrics::respond(api, path).await {
        return resp;
    }
    match path {
        "/version" | "/version/" => return body::json_response(200, &discovery::version_info()),
        "/openapi/v2"
            if accept
                .as_deref()
                .is_some_and(|a| a.contains("application/com.github.proto-openapi.spec.v2")) =>
        {
            return body::bytes_response(
                200,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                api.openapi.v2_protobuf(),
            );
        }
        "/openapi/v2" => return body::bytes_response(200, "application/json", api.openapi.v2()),
        "/openapi/v3" | "/openapi/v3/" => {
            return body::bytes_response(
                200,
                "application/json",
                api.openapi.v3_index(&api.custom.snapshot()),
            )
        }
        _ => {}
    }
    if let Some(resp) = crate::auth::public_route(api, path) {
        return resp;
    }
    if let Some(rest_path) = path.strip_prefix("/openapi/v3/") {
        return match api.openapi.v3(&api.custom.snapshot(), rest_path) {
            Some(doc) => body::bytes_response(200, "application/json", doc),
            None => body::error_response(&ApiError::no_route()),
        };
    }
    if path == "/" {
        let paths: Vec<String> = [
            "/api",
            "/api/v1",
            "/apis",
            "/healthz",
            "/livez",
            "/metrics",
            "/openapi/v2",
            "/openapi/v3",
            "/readyz",
            "/version",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        return body::json_response(200, &serde_json::json!({ "paths": paths }));
    }
    let Some(target) = request::parse_path(path) else {
        return body::error_response(&ApiError::no_route());
    };
    if node_proxy::handles(&target) {
        return node_proxy::handle(api, req, target, query).await;
    }
    let method = req.method().clone();
    let is_read = method == Method::GET || method == Method::HEAD;
    match target {
        Target::ApiRoot { legacy } if is_read => {
            if let Some(v) = discovery::aggregated_version(accept.as_deref()) {
                let ct = format!(
                    "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                );
                let doc = discovery::aggregated(&api.custom.snapshot(), legacy, v);
                return body::bytes_response(
                    200,
                    &ct,
                    serde_json::to_vec(&doc).unwrap_or_default(),
                );
            }
            let doc = if legacy {
                discovery::api_versions(&api.server_address)
            } else {
                discovery::api_group_list(&api.custom.snapshot())
            };
            body::json_response(200, &doc)
        }
        Target::Group { group } if is_read => {
            match discovery::api_group(&api.custom.snapshot(), &group) {
                Some(doc) => body::json_response(200, &doc),
                None => body::error_response(&ApiError::no_route()),
            }
        }
        Target::GroupVersion { group, version } if is_read => {
            match discovery::resource_list(&api.custom.snapshot(), &group, &version) {
                Some(doc) => body::json_response(200, &doc),
                None => body::error_response(&ApiError::no_route()),
            }
        }
        Target::Resource(r) => {
            let (parts, incoming) = req.into_parts();
            let has_body = !matches!(parts.method, Method::GET | Method::HEAD);
            let body = match record.as_mut() {
                Some(r) if has_body && r.wants_request_body() => match body::read(incoming).await {
                    Ok(bytes) => {
                        r.request_body(&parts.headers, &bytes);
                        RequestBody::Read(bytes)
                    }
                    Err(e) => return body::error_response(&e),
                },
                _ => RequestBody::Incoming(incoming),
            };
            let user = parts
                .extensions
                .get::<Arc<UserInfo>>()
                .cloned()
                .unwrap_or_else(|| Arc::new(UserInfo::anonymous()));
            rest::handle(api, &parts.method, r, query, &parts.headers, &user, body).await
        }
        _ => body::error_response(&ApiError::method_not_supported("", path, method.as_str())),
    }
}
