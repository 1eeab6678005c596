//! `serviceaccounts/{name}/token`: the TokenRequest API (authentication.k8s.io/v1). A
//! signed, audience- and time-bound token for the account, optionally bound to a Pod,
//! Secret or Node so that it dies with that object.

use apimachinery::field::FieldError;
use bytes::Bytes;
use http::Response;
use serde_json::{json, Value};

use super::write::current;
use super::Scope;
use crate::auth::service_account::{self, Bound, TokenSpec};
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};

/// Upstream's bounds: at least ten minutes, at most 2^32 seconds; an hour by default.
const MIN_SECONDS: i64 = 600;
const MAX_SECONDS: i64 = 1 << 32;
const DEFAULT_SECONDS: i64 = 3600;

/// Defaults and validates the request's spec (pure): audiences stay empty here and are
/// filled with the server's afterwards.
pub fn validate_spec(spec: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_SECONDS,
        Some(v) => v.as_i64().unwrap_or(0),
    };
    spec["expirationSeconds"] = json!(seconds);
    if seconds < MIN_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if seconds > MAX_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            seconds,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    errs
}

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn bound_of(obj: &Value) -> Bound {
    Bound {
        name: meta(obj, "name").to_string(),
        uid: meta(obj, "uid").to_string(),
    }
}

/// An object of `plural` in the request's namespace (or cluster-wide), from the store.
async fn get(scope: &Scope<'_>, plural: &str, namespaced: bool, name: &str) -> ApiResult<Value> {
    let info = registry::catalog::find("", "v1", plural).ok_or_else(ApiError::no_route)?;
    let s = Scope {
        info,
        strategy: registry::strategies::for_resource("", plural),
        namespace: if namespaced {
            scope.namespace.clone()
        } else {
            None
        },
        name: Some(name.to_string()),
        ..*scope
    };
    Ok(current(&s, name).await?.0)
}

pub async fn create(scope: &Scope<'_>, name: &str, raw: &Bytes) -> ApiResult<Response<Body>> {
    let mut req = if raw.is_empty() {
        json!({})
    } else {
        body::decode_object(scope.headers, raw)?
    };
    if !req.get("spec").is_some_and(Value::is_object) {
        req["spec"] = json!({});
    }
    let errs = validate_spec(&mut req["spec"]);
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            "",
            &errs,
        ));
    }
    let sa = current(scope, name).await?.0;
    let ns = scope.namespace.clone().unwrap_or_default();
    let mut spec = TokenSpec {
        namespace: ns.clone(),
        service_account: bound_of(&sa),
        expiration_seconds: req["spec"]["expirationSeconds"]
            .as_i64()
            .unwrap_or(DEFAULT_SECONDS),
        now: crate::auth::now_unix(),
        id: uuid::Uuid::new_v4().to_string(),
        ..TokenSpec::default()
    };
    if let Some(r) = req["spec"].get("boundObjectRef").filter(|r| r.is_object()) {
        let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
        let ref_name = r.get("name").and_then(Value::as_str).unwrap_or("");
        let ref_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
        let core = matches!(api_version, "" | "v1");
        let obj = match (core, kind) {
            (true, "Pod") => {
                let pod = get(scope, "pods", true, ref_name).await?;
                if pod
                    .pointer("/spec/serviceAccountName")
                    .and_then(Value::as_str)
                    != Some(name)
                {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                    )));
                }
                // The node the pod runs on is named too, so node-scoped checks can use it.
                if let Some(node) = pod
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    if let Ok(n) = get(scope, "nodes", false, node).await {
                        spec.node = Some(bound_of(&n));
                    }
                }
                spec.pod = Some(bound_of(&pod));
                pod
            }
            (true, "Secret") => {
                let secret = get(scope, "secrets", true, ref_name).await?;
                spec.secret = Some(bound_of(&secret));
                secret
            }
            (true, "Node") => {
                let node = get(scope, "nodes", false, ref_name).await?;
                spec.node = Some(bound_of(&node));
                node
            }
            _ => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {group}/{version}, Kind={kind}"
                )));
            }
        };
        if !ref_uid.is_empty() && meta(&obj, "uid") != ref_uid {
            return Err(ApiError::conflict("", kind, ref_name, &format!(
                "the UID in the bound object reference ({ref_uid}) does not match the UID in record. The object might have been deleted and then recreated"
            )));
        }
    }
    let authn = &scope.api.authn;
    let audiences = Some(crate::objects::strings(req["spec"].get("audiences")))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| authn.audiences.clone());
    req["spec"]["audiences"] = json!(audiences);
    spec.audiences = audiences;
    let token = authn
        .key
        .sign(&service_account::claims(&authn.issuer, &spec))
        .map_err(ApiError::internal)?;
    let expires = time::OffsetDateTime::from_unix_timestamp(spec.now + spec.expiration_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": req["spec"],
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok(body::json_response(201, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_defaults_and_bounds() {
        let cases = [
            (json!({}), 3600, ""),
            (json!({"expirationSeconds": 600}), 600, ""),
            (
                json!({"expirationSeconds": 60}),
                60,
                "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
            ),
            (
                json!({"expirationSeconds": 4294967297_i64}),
                4294967297_i64,
                "spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds",
            ),
        ];
        for (mut spec, seconds, err) in cases {
            let errs = validate_spec(&mut spec);
            let msgs: Vec<String> = errs.iter().map(FieldError::message).collect();
            assert_eq!(msgs.join("; "), err);
            assert_eq!(spec["expirationSeconds"], seconds);
        }
    }
}
