//! Schema defaults must survive pruning and validate against their own node.

use super::{obj, Obj};
use crate::crd_schema::validate::ROOT_FIELD;
use crate::crd_schema::Structural;
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

/// Defaults must survive pruning and validate against their own node. Defaults inside the
/// root's type and object meta are reported as forbidden by [`keywords`] instead.
pub(super) fn check(m: &Obj, path: &Path, root: bool, out: &mut FieldErrors) {
    if let Some(d) = m.get("default").filter(|d| !d.is_null()) {
        default(m, d, path, out);
    }
    if let Some(items) = obj(m, "items") {
        check(items, &path.child("items"), false, out);
    }
    if let Some(ap) = obj(m, "additionalProperties") {
        check(ap, &path.child("additionalProperties"), false, out);
    }
    for (k, v) in obj(m, "properties").into_iter().flatten() {
        let meta = root && ["metadata", "apiVersion", "kind"].contains(&k.as_str());
        if let (false, Some(pm)) = (meta, v.as_object()) {
            check(pm, &path.child("properties").key(k), false, out);
        }
    }
}

fn default(m: &Obj, d: &Value, path: &Path, out: &mut FieldErrors) {
    let dp = path.child("default");
    let node = Structural::from_openapi(&Value::Object(m.clone()));
    let mut pruned = d.clone();
    let mut removed = Vec::new();
    crate::crd_schema::prune::prune_default(&node, &mut pruned, &mut removed);
    if !removed.is_empty() {
        out.push(FieldError::invalid(
            dp,
            d.clone(),
            "must not have unknown fields",
        ));
        return;
    }
    let mut errs = Vec::new();
    crate::crd_schema::openapi_validation::check(&node, d, "", &mut errs);
    for mut e in errs {
        // Upstream validates the default as an object of its own, rooted at `.default`.
        e.field = if e.field == ROOT_FIELD {
            dp.to_string()
        } else {
            format!("{dp}.{}", e.field)
        };
        out.push(e);
    }
}
