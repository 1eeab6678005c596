//! Object metadata validation shared by every kind.

use apimachinery::field::FieldErrors;
use apimachinery::validation::{validate_object_meta, validate_object_meta_update};
use serde_json::Value;

use crate::{strategies, ResourceInfo};

/// Validates `metadata` of an object of `info`'s kind (name rules, scope, labels, ...).
pub fn validate(info: &ResourceInfo, meta: &Value) -> FieldErrors {
    validate_object_meta(
        meta,
        info.namespaced,
        strategies::name_rule(info.group, info.plural),
    )
}

/// Validates what an update may not change in `metadata`.
pub fn validate_update(new: &Value, old: &Value) -> FieldErrors {
    validate_object_meta_update(
        new.get("metadata").unwrap_or(&Value::Null),
        old.get("metadata").unwrap_or(&Value::Null),
    )
}
