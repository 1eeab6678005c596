//! Every failure leaves the server as a `metav1.Status` with upstream's code and reason.

use apimachinery::field::FieldError;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `pods`, `deployments.apps`: how upstream names a resource in messages.
pub fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

pub(crate) fn details(group: &str, plural: &str, name: &str) -> Value {
    let mut d = json!({ "name": name, "kind": plural });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        ApiError {
            details: Some(details(group, plural, name)),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", qualified(group, plural)),
            )
        }
    }
    /// 404 for a path that names no resource at all.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        ApiError {
            details: Some(details(group, plural, name)),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", qualified(group, plural)),
            )
        }
    }
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        ApiError {
            details: Some(details(group, plural, name)),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": {why}",
                    qualified(group, plural)
                ),
            )
        }
    }
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }
    pub fn method_not_supported(group: &str, plural: &str, verb: &str) -> Self {
        ApiError {
            details: Some(json!({ "group": group, "kind": plural })),
            ..Self::new(
                405,
                "MethodNotAllowed",
                format!(
                    "{verb} is not supported on resources of kind \"{}\"",
                    qualified(group, plural)
                ),
            )
        }
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }
    pub fn too_old(requested: i64, oldest: i64) -> Self {
        Self::gone(format!("too old resource version: {requested} ({oldest})"))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }
    /// 422 listing every bad field, as upstream's `NewInvalid`.
    pub fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Self {
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({ "reason": e.kind.reason(), "message": e.body(), "field": e.field }))
            .collect();
        let list = if errs.len() == 1 {
            errs[0].message()
        } else {
            format!(
                "[{}]",
                errs.iter()
                    .map(|e| e.message())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut d = json!({ "name": name, "kind": kind, "causes": causes });
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        ApiError {
            details: Some(d),
            ..Self::new(
                422,
                "Invalid",
                format!("{qualified_kind} \"{name}\" is invalid: {list}"),
            )
        }
    }
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if self.reason.is_empty() {
            if let Some(o) = s.as_object_mut() {
                o.remove("reason");
            }
        }
        s
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Compacted {
                requested,
                compacted,
            } => ApiError::too_old(requested, compacted),
            store::Error::FutureRevision { requested, current } => ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {requested}, current: {current}"),
            ),
            store::Error::Unavailable(why) => ApiError::new(
                503,
                "ServiceUnavailable",
                format!("the datastore is unavailable: {why}"),
            ),
            // Not 503: the same request fails until an operator frees space.
            store::Error::NoSpace(why) => ApiError::internal(format!(
                "the datastore is out of space ({why}): writes fail until space is freed"
            )),
            store::Error::Timeout(why) => ApiError::new(
                504,
                "Timeout",
                format!("Timeout: request did not complete within requested timeout - {why}"),
            ),
            other => match crate::encryption::transform_error(&other) {
                Some(e) => ApiError::internal(e),
                None => ApiError::internal(other),
            },
        }
    }
}
