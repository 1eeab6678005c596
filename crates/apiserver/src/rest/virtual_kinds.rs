//! Kinds that are never stored: access reviews answered on the spot, pod bindings, and
//! component statuses.

use bytes::Bytes;
use http::{Method, Response};
use serde_json::{json, Value};

use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};

pub async fn handle(scope: &Scope<'_>, method: &Method, raw: Bytes) -> ApiResult<Response<Body>> {
    let info = scope.info;
    match (info.plural, method) {
        ("componentstatuses", &Method::GET) => component_statuses(scope),
        ("bindings", &Method::POST) => {
            let req = body::decode_object(scope.headers, &raw)?;
            let pod = req
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let pods = registry::catalog::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
            let pod_scope = Scope {
                info: pods,
                strategy: registry::strategies::for_resource("", "pods"),
                name: Some(pod.clone()),
                namespace: scope.namespace.clone(),
                ..*scope
            };
            super::subresource::handle(&pod_scope, &Method::POST, &pod, "binding", raw).await
        }
        (_, &Method::POST) if info.plural.ends_with("reviews") => review(scope, &raw),
        _ => Err(ApiError::method_not_supported(
            info.group,
            info.plural,
            method.as_str(),
        )),
    }
}

/// Until authorization lands every caller may do everything, and the reviews say so.
fn review(scope: &Scope<'_>, raw: &[u8]) -> ApiResult<Response<Body>> {
    let mut obj = body::decode_object(scope.headers, raw)?;
    let user = scope.user;
    let status = match scope.info.plural {
        "selfsubjectaccessreviews" | "subjectaccessreviews" | "localsubjectaccessreviews" => {
            json!({ "allowed": true, "reason": "skiff: no authorization policy is configured; every request is allowed" })
        }
        "selfsubjectrulesreviews" => json!({
            "resourceRules": [{ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }],
            "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            "incomplete": false,
        }),
        "selfsubjectreviews" => {
            json!({ "userInfo": { "username": user.name, "groups": user.groups } })
        }
        // Bearer tokens arrive with access control; none is valid yet.
        "tokenreviews" => {
            json!({ "authenticated": false, "error": "token authentication is not enabled" })
        }
        _ => {
            return Err(ApiError::method_not_supported(
                scope.info.group,
                scope.info.plural,
                "create",
            ))
        }
    };
    obj["status"] = status;
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    obj["apiVersion"] = json!(scope.info.api_version());
    obj["kind"] = json!(scope.info.kind);
    Ok(body::json_response(201, &obj))
}

/// Upstream reports etcd, scheduler and controller-manager here; this build runs none of
/// them as separate components, so the list is honest and empty.
fn component_statuses(scope: &Scope<'_>) -> ApiResult<Response<Body>> {
    match &scope.name {
        Some(n) => Err(ApiError::not_found("", "componentstatuses", n)),
        None => Ok(body::json_response(
            200,
            &json!({ "kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": [] }),
        )),
    }
}
