//! Objects under `x-kubernetes-embedded-resource` are resources of their own: upstream
//! requires their `apiVersion` and `kind` and validates their `metadata` as ObjectMeta.

use super::validate::child_path;
use super::Structural;
use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{is_dns1035_label, validate_object_meta, NameRule};
use serde_json::{Map, Value};

pub(super) fn check(s: &Structural, v: &Value, path: &Path, out: &mut FieldErrors) {
    match v {
        Value::Object(m) => {
            if s.embedded_resource {
                resource(m, path, out);
            }
            for (k, x) in m {
                if let Some(fs) = s.field(k) {
                    check(fs, x, &child_path(s, path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &s.items {
                for (i, x) in items.iter().enumerate() {
                    check(item, x, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}

fn resource(m: &Map<String, Value>, path: &Path, out: &mut FieldErrors) {
    for k in ["apiVersion", "kind"] {
        if !m.contains_key(k) {
            out.push(FieldError::required(path.child(k), ""));
        }
    }
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" => out.extend(type_field(path.child(k), v, api_version_problem)),
            "kind" => out.extend(type_field(path.child(k), v, kind_problem)),
            "metadata" => out.extend(object_meta(path, v)),
            _ => {}
        }
    }
}

/// `apiVersion`/`kind`: a non-empty string that passes `problem`.
fn type_field(at: Path, v: &Value, problem: fn(&str) -> Option<String>) -> Option<FieldError> {
    let detail = match v.as_str() {
        None => "must be a string".to_string(),
        Some("") => "must not be empty".to_string(),
        Some(s) => problem(s)?,
    };
    Some(FieldError::invalid(at, v.clone(), detail))
}

/// Go's group/version parsing accepts "v1" and "group/v1", nothing with more slashes.
fn api_version_problem(s: &str) -> Option<String> {
    (s.matches('/').count() > 1).then(|| format!("unexpected GroupVersion string: {s}"))
}

fn kind_problem(s: &str) -> Option<String> {
    let errs = is_dns1035_label(&s.to_lowercase());
    (!errs.is_empty()).then(|| {
        format!(
            "may have mixed case, but should otherwise match: {}",
            errs.join(",")
        )
    })
}

/// ObjectMeta rules, as for any object; an embedded resource need not be named, so an
/// empty name is checked as a placeholder, as upstream does.
fn object_meta(path: &Path, meta: &Value) -> FieldErrors {
    let mut meta = meta.clone();
    if let Some(m) = meta.as_object_mut() {
        if m.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            m.insert("name".into(), Value::from("fakename"));
        }
    }
    let namespaced = meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let mut errs = validate_object_meta(&meta, namespaced, NameRule::PathSegment);
    for e in &mut errs {
        // The shared rules name `metadata.*` at the root; here metadata sits below `path`.
        e.field = format!("{}", path.child(&e.field));
    }
    errs
}
