//! Whether a CRD version's `openAPIV3Schema` is structural and well formed, checked when a
//! CRD is written. Works on the raw JSON (not the parsed tree) so it can name keywords the
//! tree does not keep.
//!
//! Upstream reports in three groups, and so do we: keyword checks in schema order
//! ([`keywords`]), structural invariants sorted by message ([`invariants`]), then, for a
//! schema without such errors, defaults.

mod completeness;
mod defaults;
mod invariants;
mod keywords;
mod list_types;
mod value_validations;

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{Map, Value};

/// The JSON of one schema node.
type Obj = Map<String, Value>;

/// Checks a CRD version's openAPIV3Schema is structural and well-formed, as upstream's CRD
/// validation does (types everywhere outside preserve-unknown-fields/int-or-string, no
/// additionalProperties with properties, metadata restricted to name/generateName, list
/// and map types, defaults that validate and survive pruning). `path` is the field path of
/// the schema, e.g. "spec.versions[0].schema.openAPIV3Schema". Returns upstream's messages.
pub fn check_structural(schema: &Value, path: &Path) -> FieldErrors {
    let Some(m) = schema.as_object() else {
        return vec![FieldError::required(
            path.child("type"),
            "must not be empty at the root",
        )];
    };
    let mut out = Vec::new();
    keywords::check(m, path, keywords::Ctx::ROOT, &mut out);
    let mut structural = Vec::new();
    invariants::check(m, path, invariants::Level::Root, &mut structural);
    completeness::check(m, m, path, path, &mut structural);
    // Upstream sorts these by message, as it finds them by walking maps.
    structural.sort_by_key(FieldError::message);
    out.extend(structural);
    // Defaults are only meaningful against a schema that is itself sound.
    if out.is_empty() {
        defaults::check(m, path, true, &mut out);
    }
    out
}

/// A boolean keyword, false when absent.
pub(super) fn flag(m: &Obj, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// A string keyword, "" when absent.
pub(super) fn str_of<'a>(m: &'a Obj, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// An object keyword (a sub-schema or a map of them).
pub(super) fn obj<'a>(m: &'a Obj, k: &str) -> Option<&'a Obj> {
    m.get(k).and_then(Value::as_object)
}

/// A list-of-strings keyword, empty when absent.
pub(super) fn strings<'a>(m: &'a Obj, k: &str) -> Vec<&'a str> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
