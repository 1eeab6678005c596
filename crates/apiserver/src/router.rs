//! Routes a request to discovery, health, OpenAPI or the REST handlers.

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, Method, Request, Response};
use hyper::body::Incoming;

use crate::auth::UserInfo;
use crate::body::{self, Body};
use crate::error::ApiError;
use crate::request::{self, Target};
use crate::{discovery, node_proxy, rest, Api};

pub async fn route(api: Arc<Api>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = request::parse_query(req.uri().query());
    let resp = match crate::auth::authenticate_request(&api, req).await {
        Ok(req) => match crate::authz::filter(&api, req, &path, &query) {
            Ok(req) => dispatch(&api, req, &path, &query).await,
            Err(refused) => body::error_response(&refused),
        },
        Err(refused) => refused,
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    Ok(resp)
}

async fn dispatch(
    api: &Arc<Api>,
    req: Request<Incoming>,
    path: &str,
    query: &std::collections::HashMap<String, String>,
) -> Response<Body> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match path {
        "/healthz" | "/livez" | "/readyz" | "/healthz/" | "/livez/" | "/readyz/" => {
            return body::bytes_response(200, "text/plain; charset=utf-8", "ok");
        }
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
            let user = parts
                .extensions
                .get::<Arc<UserInfo>>()
                .cloned()
                .unwrap_or_else(|| Arc::new(UserInfo::anonymous()));
            rest::handle(
                api,
                &parts.method,
                r,
                query,
                &parts.headers,
                &user,
                incoming,
            )
            .await
        }
        _ => body::error_response(&ApiError::method_not_supported("", path, method.as_str())),
    }
}
