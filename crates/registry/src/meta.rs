//! Object metadata validation shared by every kind.

use apimachinery::field::{FieldError, FieldErrors};
use serde_json::Value;

use crate::ResourceInfo;

/// Validates `metadata` of an object of `info`'s kind (name rules, scope, labels, ...).
pub fn validate(info: &ResourceInfo, meta: &Value) -> FieldErrors {
    let mut errs = FieldErrors::new();
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
    if info.namespaced && ns.is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    }
    errs
}
