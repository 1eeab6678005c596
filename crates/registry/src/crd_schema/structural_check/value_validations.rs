//! allOf/anyOf/oneOf/not may only constrain values: upstream forbids the keywords that
//! shape the skeleton inside them.

use super::{obj, Obj};
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

fn is_int_or_string_any_of(v: Option<&Value>) -> bool {
    v == Some(&serde_json::json!([{"type": "integer"}, {"type": "string"}]))
}

/// allOf/anyOf/oneOf/not of a skeleton node. The two int-or-string patterns (`anyOf` of
/// integer and string, or that anyOf as `allOf[0]`) are allowed to name types.
pub(super) fn check(m: &Obj, path: &Path, out: &mut FieldErrors) {
    let skip_any_of = is_int_or_string_any_of(m.get("anyOf"));
    let skip_first_all_of_any_of = m
        .get("allOf")
        .and_then(|a| a.get(0))
        .is_some_and(|first| is_int_or_string_any_of(first.get("anyOf")));
    junctors(m, path, skip_any_of, skip_first_all_of_any_of, out);
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        if let Err(e) = regex::Regex::new(p) {
            out.push(FieldError::invalid(
                path.child("pattern"),
                p,
                format!("must be a valid regular expression, but isn't: {e}"),
            ));
        }
    }
}

fn junctors(
    m: &Obj,
    path: &Path,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    out: &mut FieldErrors,
) {
    let list = |k: &str| -> Vec<&Obj> {
        m.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    };
    if !skip_any_of {
        for (i, v) in list("anyOf").into_iter().enumerate() {
            nested(v, &path.child("anyOf").index(i), false, out);
        }
    }
    for (i, v) in list("allOf").into_iter().enumerate() {
        nested(
            v,
            &path.child("allOf").index(i),
            skip_first_all_of_any_of && i == 0,
            out,
        );
    }
    for (i, v) in list("oneOf").into_iter().enumerate() {
        nested(v, &path.child("oneOf").index(i), false, out);
    }
    if let Some(not) = obj(m, "not") {
        nested(not, &path.child("not"), false, out);
    }
}

/// A keyword forbidden in value validations: name, detail, and whether a value counts as set.
type Forbidden = (&'static str, &'static str, fn(&Value) -> bool);

/// A node inside a value validation: it may constrain values only.
fn nested(m: &Obj, path: &Path, skip_any_of: bool, out: &mut FieldErrors) {
    junctors(m, path, skip_any_of, false, out);
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        if let Err(e) = regex::Regex::new(p) {
            out.push(FieldError::invalid(
                path.child("pattern"),
                p,
                format!("must be a valid regular expression, but isn't: {e}"),
            ));
        }
    }
    if let Some(items) = obj(m, "items") {
        nested(items, &path.child("items"), false, out);
    }
    for (k, v) in obj(m, "properties").into_iter().flatten() {
        if let Some(pm) = v.as_object() {
            nested(pm, &path.child("properties").key(k), false, out);
        }
    }
    let forbidden: [Forbidden; 13] = [
        ("type", "must be empty to be structural", |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        }),
        (
            "additionalProperties",
            "must be undefined to be structural",
            |_| true,
        ),
        ("default", "must be undefined to be structural", |v| {
            !v.is_null()
        }),
        ("title", "must be empty to be structural", |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        }),
        ("description", "must be empty to be structural", |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        }),
        ("nullable", "must be false to be structural", |v| {
            v == &Value::Bool(true)
        }),
        (
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
            |v| v == &Value::Bool(true),
        ),
        (
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
            |v| v == &Value::Bool(true),
        ),
        (
            "x-kubernetes-int-or-string",
            "must be false to be structural",
            |v| v == &Value::Bool(true),
        ),
        (
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        ),
        (
            "x-kubernetes-list-type",
            "must be undefined to be structural",
            |v| !v.is_null(),
        ),
        (
            "x-kubernetes-map-type",
            "must be undefined to be structural",
            |v| !v.is_null(),
        ),
        (
            "x-kubernetes-validations",
            "must be empty to be structural",
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        ),
    ];
    for (k, detail, set) in forbidden {
        if m.get(k).is_some_and(set) {
            out.push(FieldError::forbidden(path.child(k), detail));
        }
    }
    if obj(m, "properties").is_some_and(|p| p.contains_key("metadata")) {
        out.push(FieldError::forbidden(
            path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}
