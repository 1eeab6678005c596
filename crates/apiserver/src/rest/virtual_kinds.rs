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
        ("tokenreviews", &Method::POST) => token_review(scope, &raw).await,
        (_, &Method::POST) if info.plural.ends_with("reviews") => review(scope, &raw),
        _ => Err(ApiError::method_not_supported(
            info.group,
            info.plural,
            method.as_str(),
        )),
    }
}

/// Access reviews, answered by the authorizer; `selfsubjectreviews` says who the caller is.
fn review(scope: &Scope<'_>, raw: &[u8]) -> ApiResult<Response<Body>> {
    use crate::authz::{rules_review, Attributes};
    let mut obj = body::decode_object(scope.headers, raw)?;
    let user = scope.user;
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let status = match scope.info.plural {
        "selfsubjectaccessreviews" => {
            let a = rules_review::attributes_of(&spec)?;
            rules_review::access_status(scope.api, user, &a)
        }
        "subjectaccessreviews" => {
            let a = rules_review::attributes_of(&spec)?;
            rules_review::access_status(scope.api, &rules_review::subject_of(&spec), &a)
        }
        "localsubjectaccessreviews" => {
            let ns = scope.namespace.clone().unwrap_or_default();
            let mut a = rules_review::attributes_of(&spec)?;
            if !a.resource_request {
                return Err(ApiError::bad_request(
                    "spec.nonResourceAttributes: disallowed on this kind of request",
                ));
            }
            if !a.namespace.is_empty() && a.namespace != ns {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match metadata.namespace: {:?}",
                    a.namespace
                )));
            }
            a = Attributes { namespace: ns, ..a };
            rules_review::access_status(scope.api, &rules_review::subject_of(&spec), &a)
        }
        "selfsubjectrulesreviews" => {
            let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            let policy = scope.api.authz.policy(&scope.api.cache);
            rules_review::rules_review(&policy, user, ns)
        }
        "selfsubjectreviews" => json!({ "userInfo": user_info(user) }),
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

fn user_info(user: &crate::auth::UserInfo) -> Value {
    let mut u = json!({ "username": user.name, "groups": user.groups });
    if !user.uid.is_empty() {
        u["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        u["extra"] = json!(user.extra);
    }
    u
}

/// TokenReview: whether a token authenticates here, and as whom (for webhook-style
/// verifiers inside the cluster).
async fn token_review(scope: &Scope<'_>, raw: &[u8]) -> ApiResult<Response<Body>> {
    let mut obj = body::decode_object(scope.headers, raw)?;
    let token = obj
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let wanted = crate::objects::strings(obj.pointer("/spec/audiences"));
    let audiences = if wanted.is_empty() {
        scope.api.authn.audiences.clone()
    } else {
        wanted.clone()
    };
    let now = crate::auth::now_unix();
    obj["status"] =
        match crate::auth::bearer::authenticate(scope.api, &token, now, &audiences).await {
            Ok(user) => {
                json!({ "authenticated": true, "user": user_info(&user), "audiences": audiences })
            }
            Err(why) => json!({ "authenticated": false, "error": why }),
        };
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
