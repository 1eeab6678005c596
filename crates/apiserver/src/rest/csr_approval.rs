//! `certificatesigningrequests/{name}/approval`: only the Approved and Denied conditions
//! change here (`kubectl certificate approve|deny`); spec and the rest of the status stay.
//! And `/status` for CSRs (signers): everything in the status but those two conditions,
//! and a certificate, once issued, stays.

use apimachinery::field::FieldError;
use http::{Method, Response};
use serde_json::{json, Value};

use super::read::respond_object;
use super::write::{apply_patch, current, persist, written_response};
use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::objects;

const DECISIONS: [&str; 2] = ["Approved", "Denied"];

fn conditions(obj: &Value) -> Vec<Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn ctype(c: &Value) -> &str {
    c.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The new object: the old one with the requested conditions, timestamps filled in as
/// upstream does, or the reasons the change is refused (pure).
pub fn approve(old: &Value, requested: &Value, now: &str) -> Result<Value, Vec<FieldError>> {
    let before = conditions(old);
    let mut after = conditions(requested);
    let mut errs = Vec::new();
    for (i, c) in after.iter_mut().enumerate() {
        let path = format!("status.conditions[{i}]");
        if ctype(c).is_empty() {
            errs.push(FieldError::required(format!("{path}.type"), ""));
        }
        let status = c.get("status").and_then(Value::as_str).unwrap_or("");
        if !matches!(status, "True" | "False" | "Unknown") {
            errs.push(FieldError::not_supported(
                format!("{path}.status"),
                status,
                &["False", "True", "Unknown"],
            ));
        }
        let prev = before.iter().find(|p| ctype(p) == ctype(c));
        if c.get("lastUpdateTime").is_none_or(Value::is_null) {
            c["lastUpdateTime"] = json!(now);
        }
        let changed = prev.is_none_or(|p| p.get("status") != c.get("status"));
        if c.get("lastTransitionTime").is_none_or(Value::is_null) {
            let keep = prev
                .and_then(|p| p.get("lastTransitionTime"))
                .filter(|_| !changed);
            c["lastTransitionTime"] = keep.cloned().unwrap_or_else(|| json!(now));
        }
    }
    let holds = |t: &str| after.iter().any(|c| ctype(c) == t && c["status"] == "True");
    if holds("Approved") && holds("Denied") {
        errs.push(FieldError::invalid(
            "status.conditions",
            "Approved",
            "Approved and Denied conditions are mutually exclusive",
        ));
    }
    for t in DECISIONS {
        if before.iter().any(|c| ctype(c) == t) && !after.iter().any(|c| ctype(c) == t) {
            errs.push(FieldError::forbidden(
                "status.conditions",
                format!("updates may not remove a condition of type {t:?}"),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut new = old.clone();
    new["status"]["conditions"] = Value::Array(after);
    Ok(new)
}

/// A signer's status write: decisions stay as they were, an issued certificate stays.
pub fn status_update(old: &Value, requested: &Value, now: &str) -> Result<Value, Vec<FieldError>> {
    let cert = |v: &Value| {
        v.pointer("/status/certificate")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (was, is) = (cert(old), cert(requested));
    if !was.is_empty() && was != is {
        return Err(vec![FieldError::forbidden(
            "status.certificate",
            "updates may not modify existing certificate",
        )]);
    }
    let mut status = requested
        .get("status")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let decisions = conditions(old)
        .into_iter()
        .filter(|c| DECISIONS.contains(&ctype(c)));
    let mut conds: Vec<Value> = decisions.collect();
    for mut c in conditions(requested) {
        if DECISIONS.contains(&ctype(&c)) {
            continue;
        }
        for field in ["lastUpdateTime", "lastTransitionTime"] {
            if c.get(field).is_none_or(Value::is_null) {
                c[field] = json!(now);
            }
        }
        conds.push(c);
    }
    if conds.is_empty() {
        if let Some(o) = status.as_object_mut() {
            o.remove("conditions");
        }
    } else {
        status["conditions"] = Value::Array(conds);
    }
    let mut new = old.clone();
    new["status"] = status;
    Ok(new)
}

pub async fn handle(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    write(scope, method, name, raw, approve).await
}

pub async fn handle_status(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    write(scope, method, name, raw, status_update).await
}

type Rule = fn(&Value, &Value, &str) -> Result<Value, Vec<FieldError>>;

async fn write(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    raw: &[u8],
    rule: Rule,
) -> ApiResult<Response<Body>> {
    if *method == Method::GET {
        return respond_object(scope, 200, &current(scope, name).await?.0);
    }
    if !matches!(*method, Method::PUT | Method::PATCH) {
        return Err(ApiError::method_not_supported(
            scope.info.group,
            "certificatesigningrequests",
            method.as_str(),
        ));
    }
    for _ in 0..16 {
        let (old, rev) = current(scope, name).await?;
        let req = if *method == Method::PATCH {
            let mut base = old.clone();
            if let Some(m) = base.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            apply_patch(scope, &base, raw)?
        } else {
            body::decode_object(scope.headers, raw)?
        };
        let precondition = objects::resource_version(&req)?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        let mut new = rule(&old, &req, &objects::now_rfc3339())
            .map_err(|errs| ApiError::invalid(scope.group(), scope.info.kind, name, &errs))?;
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        match persist(scope, name, new, &old, rev).await {
            Ok(w) => return written_response(scope, w),
            Err(store::Error::Conflict { .. }) if precondition.is_none() => continue,
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::stale(scope.group(), scope.info.plural, name))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keeps_decisions_and_certificates() {
        let ts = "2026-01-01T00:00:00Z";
        let approved_old = json!({"status": {"conditions": [approved(ts)]}});
        let issued = json!({"status": {"conditions": [approved(ts)], "certificate": "Y2VydA=="}});
        let cases: Vec<(&str, &Value, Value, Result<Value, String>)> = vec![
            (
                "signer issues",
                &approved_old,
                json!({"status": {"conditions": [approved(ts)], "certificate": "Y2VydA=="}}),
                Ok(json!({"conditions": [approved(ts)], "certificate": "Y2VydA=="})),
            ),
            (
                "decisions cannot be dropped or added here",
                &approved_old,
                json!({"status": {"conditions": [{"type": "Denied", "status": "True"}]}}),
                Ok(json!({"conditions": [approved(ts)]})),
            ),
            (
                "failure recorded",
                &approved_old,
                json!({"status": {"conditions": [approved(ts), {"type": "Failed", "status": "True", "reason": "SignerValidationFailure"}]}}),
                Ok(
                    json!({"conditions": [approved(ts), {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "lastUpdateTime": NOW, "lastTransitionTime": NOW}]}),
                ),
            ),
            (
                "certificate replaced",
                &issued,
                json!({"status": {"certificate": "b3RoZXI="}}),
                Err(
                    "status.certificate: Forbidden: updates may not modify existing certificate"
                        .into(),
                ),
            ),
        ];
        for (what, old, req, want) in cases {
            let got = status_update(old, &req, NOW)
                .map(|v| v["status"].clone())
                .map_err(|e| {
                    e.iter()
                        .map(FieldError::message)
                        .collect::<Vec<_>>()
                        .join("; ")
                });
            assert_eq!(got, want, "{what}");
        }
    }

    const NOW: &str = "2026-12-05T10:00:00Z";

    fn approved(ts: &str) -> Value {
        json!({"type": "Approved", "status": "True", "reason": "KubectlApprove", "lastUpdateTime": ts, "lastTransitionTime": ts})
    }

    #[test]
    fn approval_table() {
        let pending = json!({"spec": {"request": "x"}, "status": {}});
        let done = json!({"spec": {"request": "x"}, "status": {"conditions": [approved("2026-01-01T00:00:00Z")], "certificate": "Y2VydA=="}});
        let cases: Vec<(&str, &Value, Value, Result<Value, String>)> = vec![
            (
                "approve fills timestamps",
                &pending,
                json!({"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]}}),
                Ok(json!([approved(NOW)])),
            ),
            (
                "spec and certificate stay",
                &done,
                json!({"spec": {"request": "changed"}, "status": {"certificate": "", "conditions": [approved("2026-01-01T00:00:00Z")]}}),
                Ok(json!([approved("2026-01-01T00:00:00Z")])),
            ),
            (
                "both decisions",
                &pending,
                json!({"status": {"conditions": [{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]}}),
                Err("status.conditions: Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive".into()),
            ),
            (
                "decision removed",
                &done,
                json!({"status": {"conditions": []}}),
                Err("status.conditions: Forbidden: updates may not remove a condition of type \"Approved\"".into()),
            ),
            (
                "bad status",
                &pending,
                json!({"status": {"conditions": [{"type": "Denied", "status": "Yes"}]}}),
                Err("status.conditions[0].status: Unsupported value: \"Yes\": supported values: \"False\", \"True\", \"Unknown\"".into()),
            ),
        ];
        for (what, old, req, want) in cases {
            let got = approve(old, &req, NOW)
                .map(|v| {
                    assert_eq!(v["spec"], old["spec"], "{what}");
                    assert_eq!(
                        v["status"].get("certificate"),
                        old["status"].get("certificate"),
                        "{what}"
                    );
                    v["status"]["conditions"].clone()
                })
                .map_err(|e| {
                    e.iter()
                        .map(FieldError::message)
                        .collect::<Vec<_>>()
                        .join("; ")
                });
            assert_eq!(got, want, "{what}");
        }
    }
}
