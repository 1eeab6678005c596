//! The admission.k8s.io/v1 AdmissionReview: the request we send, and reading the reply.

use base64::Engine;
use serde_json::{json, Value};

use super::matching::Operation;
use super::Request;
use crate::error::ApiError;

/// `request` of an AdmissionReview (also CEL's `request` variable).
pub(super) fn request(
    req: &Request<'_>,
    uid: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Value {
    let info = req.scope.info;
    let user = req.scope.user;
    let kind = json!({"group": info.group, "version": info.version, "kind": info.kind});
    let resource = json!({"group": info.group, "version": info.version, "resource": info.plural});
    let options_kind = match req.operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
    };
    let mut r = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": req.name_of(object.or(old)),
        "operation": req.operation.as_str(),
        "userInfo": {
            "username": user.name,
            "uid": user.uid,
            "groups": user.groups,
            "extra": user.extra,
        },
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": old.cloned().unwrap_or(Value::Null),
        "dryRun": req.dry_run(),
        "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"},
    });
    if info.namespaced {
        r["namespace"] = json!(req.scope.namespace.as_deref().unwrap_or(""));
    }
    if !req.subresource.is_empty() {
        r["subResource"] = json!(req.subresource);
        r["requestSubResource"] = json!(req.subresource);
    }
    r
}

pub(super) fn envelope(request: Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

#[derive(Debug)]
pub(super) enum Verdict {
    Allowed {
        /// A decoded JSONPatch.
        patch: Option<Value>,
        warnings: Vec<String>,
    },
    Denied(ApiError),
}

/// Reasons a webhook may put in its Status that clients act on; anything else is kept
/// out (the error type holds only static reasons) and the code alone speaks.
fn known_reason(reason: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "Timeout",
        "TooManyRequests",
        "BadRequest",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
        "ServiceUnavailable",
    ];
    KNOWN.iter().find(|k| **k == reason).copied().unwrap_or("")
}

/// Reads a reply to the review with `uid`. `Err`: the reply is not a valid answer, which
/// the webhook's failure policy decides about.
pub(super) fn read_response(webhook: &str, uid: &str, reply: &Value) -> Result<Verdict, String> {
    let invalid = |why: String| format!("received invalid webhook response: {why}");
    let api_version = reply
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = reply.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        return Err(invalid(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {api_version}, Kind={kind}"
        )));
    }
    let response = reply
        .get("response")
        .filter(|r| r.is_object())
        .ok_or_else(|| invalid("response was absent".into()))?;
    let got_uid = response.get("uid").and_then(Value::as_str).unwrap_or("");
    if got_uid != uid {
        return Err(invalid(format!(
            "expected response.uid=\"{uid}\", got \"{got_uid}\""
        )));
    }
    let warnings: Vec<String> = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !response
        .get("allowed")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(Verdict::Denied(denial(webhook, response.get("status"))));
    }
    let patch = match response.get("patch").and_then(Value::as_str) {
        None | Some("") => None,
        Some(b64) => {
            let patch_type = response
                .get("patchType")
                .and_then(Value::as_str)
                .unwrap_or("");
            if patch_type != "JSONPatch" {
                return Err(invalid(format!("unsupported patch type \"{patch_type}\"")));
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| invalid(format!("patch is not base64: {e}")))?;
            Some(
                serde_json::from_slice(&raw)
                    .map_err(|e| invalid(format!("patch is not JSON: {e}")))?,
            )
        }
    };
    Ok(Verdict::Allowed { patch, warnings })
}

/// A denial as upstream reports it: the webhook's code (at least 400) and reason, its
/// message prefixed with the webhook's name.
fn denial(webhook: &str, status: Option<&Value>) -> ApiError {
    let null = Value::Null;
    let status = status.unwrap_or(&null);
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(400);
    let reason = known_reason(status.get("reason").and_then(Value::as_str).unwrap_or(""));
    let message = status.get("message").and_then(Value::as_str).unwrap_or("");
    let denied_by = format!("admission webhook \"{webhook}\" denied the request");
    let message = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    ApiError {
        details: status.get("details").cloned(),
        ..ApiError::new(code, reason, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ok = |resp: Value| json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp});
        let cases = [
            ok(json!({"uid": "u1", "allowed": true})),
            ok(json!({"uid": "u1", "allowed": true, "warnings": ["careful"]})),
            ok(
                json!({"uid": "u1", "allowed": true, "patchType": "JSONPatch",
                "patch": b64(r#"[{"op":"add","path":"/metadata/labels/x","value":"y"}]"#)}),
            ),
            ok(json!({"uid": "u1", "allowed": true, "patch": b64("[]")})),
            ok(json!({"uid": "u1", "allowed": false, "status": {"message": "no forbidden keys"}})),
            ok(
                json!({"uid": "u1", "allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": "nope"}}),
            ),
            ok(json!({"uid": "u1", "allowed": false, "status": {"code": 200}})),
            ok(json!({"uid": "u1", "allowed": false})),
            ok(json!({"uid": "other", "allowed": true})),
            json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "response": {"uid": "u1", "allowed": true}}),
            ok(Value::Null),
        ];
        let out: String = cases
            .iter()
            .map(|c| match read_response("check.example.com", "u1", c) {
                Ok(Verdict::Allowed { patch, warnings }) => {
                    format!(
                        "allowed patch={} warnings={warnings:?}\n",
                        patch.unwrap_or(Value::Null)
                    )
                }
                Ok(Verdict::Denied(e)) => {
                    format!("denied {} {:?} {}\n", e.code, e.reason, e.message)
                }
                Err(e) => format!("error {e}\n"),
            })
            .collect();
        expect_test::expect![[r#"
            allowed patch=null warnings=[]
            allowed patch=null warnings=["careful"]
            allowed patch=[{"op":"add","path":"/metadata/labels/x","value":"y"}] warnings=[]
            error received invalid webhook response: unsupported patch type ""
            denied 400 "" admission webhook "check.example.com" denied the request: no forbidden keys
            denied 403 "Forbidden" admission webhook "check.example.com" denied the request: nope
            denied 400 "" admission webhook "check.example.com" denied the request without explanation
            denied 400 "" admission webhook "check.example.com" denied the request without explanation
            error received invalid webhook response: expected response.uid="u1", got "other"
            error received invalid webhook response: expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview
            error received invalid webhook response: response was absent
        "#]].assert_eq(&out);
    }
}
