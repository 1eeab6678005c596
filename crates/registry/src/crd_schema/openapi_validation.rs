//! One value against one schema node, as upstream's OpenAPI validator (kube-openapi) does
//! it, with its paths and messages. It reports each problem as "<name> in body ...", where
//! the name is the dotted path (`spec.items[0].name`); the field path of the error is the
//! same path.
//!
//! Upstream runs, per node: type, value validations (allOf/anyOf/oneOf/not), string,
//! format, number, array, enum, object checks; this file keeps that order so several
//! errors come out in the order kubectl users know.

use super::validate::{field, ROOT_FIELD};
use super::{format, list_type, AdditionalProperties, Structural};
use apimachinery::field::{ErrorType, FieldError, FieldErrors};
use serde_json::Value;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// JSON type and Go format upstream infers from a decoded value.
fn json_type(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", "int64"),
        Value::Number(_) => ("number", "double"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// A type mismatch: (expected type text, actual type), as upstream words them.
pub(super) fn type_mismatch(s: &Structural, v: &Value) -> Option<(String, &'static str)> {
    let types: Vec<&str> = if !s.type_.is_empty() {
        vec![s.type_.as_str()]
    } else if s.int_or_string {
        // Upstream validates int-or-string as the type list [integer, string].
        vec!["integer", "string"]
    } else {
        return None;
    };
    if v.is_null() {
        return (!s.nullable).then(|| (types.join(","), "null"));
    }
    let (actual, fmt) = json_type(v);
    let format = if format::SUPPORTED.contains(&s.format.as_str()) {
        s.format.as_str()
    } else {
        ""
    };
    let has = |t: &str| types.contains(&t);
    let float_int =
        actual == "number" && v.as_f64().is_some_and(|f| f.fract() == 0.0) && has("integer");
    let int_float = actual == "integer" && has("number");
    let scalar_or_object = !matches!(v, Value::String(_) | Value::Array(_));
    if scalar_or_object
        && !format.is_empty()
        && !has(actual)
        && fmt != format
        && !float_int
        && !int_float
    {
        // Upstream names the schema's format and the value's Go format here.
        return Some((format.to_string(), fmt));
    }
    if !has("number") && !has("integer") && !format.is_empty() && !scalar_or_object {
        return None;
    }
    (!has(actual) && !float_int && !int_float).then(|| (types.join(","), actual))
}

fn invalid(path: &str, value: Value, detail: String) -> FieldError {
    FieldError::invalid(field(path), value, detail)
}

fn type_invalid(path: &str, value: &str, detail: String) -> FieldError {
    FieldError {
        kind: ErrorType::TypeInvalid,
        field: field(path),
        bad_value: Some(Value::from(value)),
        detail,
    }
}

/// Errors of allOf/anyOf/oneOf/not: upstream reports them at the nil path with an empty
/// value, naming the position inside the message.
fn composite(detail: String) -> FieldError {
    FieldError::invalid(ROOT_FIELD, "", detail)
}

/// Go's `%v` of a float64: integral values print without a fraction.
pub(super) fn go_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i128)
    } else {
        format!("{f}")
    }
}

/// JSON equality where 1 and 1.0 are the same number, as Go's float64 decoding makes them.
pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| json_eq(a, b)))
        }
        _ => a == b,
    }
}

/// Validates `v` against `s`; `path` is the dotted path ("" at the root).
pub(super) fn check(s: &Structural, v: &Value, path: &str, out: &mut FieldErrors) {
    check_node(s, v, None, path, out);
}

/// [`check`] with the old value of the same position, if any: an unchanged value keeps
/// whatever errors it had before (upstream's ratcheting), so none are reported for it.
pub(super) fn check_node(
    s: &Structural,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut FieldErrors,
) {
    if old.is_some_and(|o| json_eq(o, v)) {
        return;
    }
    if let Some((expected, actual)) = type_mismatch(s, v) {
        let detail = format!("{path} in body must be of type {expected}: {actual:?}");
        out.push(type_invalid(path, actual, detail));
        return;
    }
    if v.is_null() {
        return;
    }
    value_validations(s, v, path, out);
    match v {
        Value::String(x) => check_string(s, x, path, out),
        Value::Number(_) => check_number(s, v, path, out),
        Value::Array(items) => check_array(s, items, old.and_then(Value::as_array), path, out),
        _ => {}
    }
    if let Some(values) = &s.enum_ {
        if !values.iter().any(|e| json_eq(e, v)) {
            let names: Vec<String> = values
                .iter()
                .map(|e| match e {
                    Value::String(x) => x.clone(),
                    other => other.to_string(),
                })
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            out.push(FieldError::not_supported(field(path), v.clone(), &refs));
        }
    }
    if let Value::Object(m) = v {
        let n = m.len() as u64;
        if let Some(min) = s.min_properties.filter(|min| n < *min) {
            let detail = format!("{path} in body should have at least {min} properties");
            out.push(invalid(path, Value::from(min), detail));
            return;
        }
        if let Some(max) = s.max_properties.filter(|max| n > *max) {
            // Upstream passes the limit as the "actual" count too.
            out.push(FieldError::too_many(
                field(path),
                max as usize,
                max as usize,
            ));
            return;
        }
        let old_map = old.and_then(Value::as_object);
        // Upstream checks the keys outside `properties` first, then the properties.
        let (known, extra): (Vec<_>, Vec<_>) = m.iter().partition(|(k, _)| s.property(k).is_some());
        for (k, x) in extra {
            match &s.additional_properties {
                Some(AdditionalProperties::Schema(ap)) => {
                    let ox = old_map.and_then(|o| o.get(k));
                    check_node(ap, x, ox, &join(path, k), out);
                }
                Some(AdditionalProperties::Allows(false)) => {
                    let detail = format!("{path}.{k} in body is a forbidden property");
                    out.push(invalid(path, Value::from(k.as_str()), detail));
                }
                _ => {}
            }
        }
        for (k, x) in known {
            if let Some(fs) = s.property(k) {
                let ox = old_map.and_then(|o| o.get(k));
                check_node(fs, x, ox, &join(path, k), out);
            }
        }
        for r in &s.required {
            if !m.contains_key(r) {
                out.push(FieldError::required(join(path, r), ""));
            }
        }
    }
}

fn check_string(s: &Structural, x: &str, path: &str, out: &mut FieldErrors) {
    let len = x.chars().count() as u64;
    if let Some(max) = s.max_length.filter(|max| len > *max) {
        // Upstream prints no value for Too long errors; leaving it out gives the same text.
        out.push(FieldError {
            kind: ErrorType::TooLong,
            field: field(path),
            bad_value: None,
            detail: format!("may not be more than {max} bytes"),
        });
    }
    if let Some(min) = s.min_length.filter(|min| len < *min) {
        let detail = format!("{path} in body should be at least {min} chars long");
        out.push(invalid(path, Value::from(x), detail));
    }
    if let Some(p) = &s.pattern {
        if p.re.as_ref().is_some_and(|re| !re.is_match(x)) {
            let detail = format!("{path} in body should match '{}'", p.source);
            out.push(invalid(path, Value::from(x), detail));
        }
    }
    if !s.format.is_empty() && !format::is_valid(&s.format, x) {
        let detail = format!("{path} in body must be of type {}: {x:?}", s.format);
        out.push(type_invalid(path, x, detail));
    }
}

fn check_number(s: &Structural, v: &Value, path: &str, out: &mut FieldErrors) {
    let Some(x) = v.as_f64() else { return };
    if let Some(m) = s.multiple_of.filter(|m| *m != 0.0) {
        let q = x / m;
        if (q - q.round()).abs() > 1e-9 * q.abs().max(1.0) {
            let detail = format!("{path} in body should be a multiple of {}", go_number(m));
            out.push(invalid(path, v.clone(), detail));
        }
    }
    if let Some(max) = s.maximum {
        let (bad, words) = if s.exclusive_maximum {
            (x >= max, "less than")
        } else {
            (x > max, "less than or equal to")
        };
        if bad {
            let detail = format!("{path} in body should be {words} {}", go_number(max));
            out.push(invalid(path, v.clone(), detail));
        }
    }
    if let Some(min) = s.minimum {
        let (bad, words) = if s.exclusive_minimum {
            (x <= min, "greater than")
        } else {
            (x < min, "greater than or equal to")
        };
        if bad {
            let detail = format!("{path} in body should be {words} {}", go_number(min));
            out.push(invalid(path, v.clone(), detail));
        }
    }
}

fn check_array(
    s: &Structural,
    items: &[Value],
    old: Option<&Vec<Value>>,
    path: &str,
    out: &mut FieldErrors,
) {
    if let Some(item) = &s.items {
        for (i, x) in items.iter().enumerate() {
            let ox = old.and_then(|o| list_type::old_item(s, x, o));
            check_node(item, x, ox, &format!("{path}[{i}]"), out);
        }
    }
    let n = items.len();
    if let Some(min) = s.min_items.filter(|min| (n as u64) < *min) {
        let detail = format!("{path} in body should have at least {min} items");
        out.push(invalid(path, Value::from(n), detail));
    }
    if let Some(max) = s.max_items.filter(|max| (n as u64) > *max) {
        out.push(FieldError::too_many(field(path), n, max as usize));
    }
    let dup = |i: usize| items[..i].iter().any(|y| json_eq(y, &items[i]));
    if s.unique_items && (1..n).any(dup) {
        let detail = format!("{path} in body shouldn't contain duplicates");
        out.push(invalid(path, Value::from(""), detail));
    }
}

fn errors_of(s: &Structural, v: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    check(s, v, path, &mut errs);
    errs
}

/// allOf/anyOf/oneOf/not. For a failed anyOf/oneOf upstream adds the errors of the
/// alternative that came closest; we take the one with the fewest errors.
fn value_validations(s: &Structural, v: &Value, path: &str, out: &mut FieldErrors) {
    if !s.any_of.is_empty() {
        let results: Vec<FieldErrors> = s.any_of.iter().map(|a| errors_of(a, v, path)).collect();
        if !results.iter().any(Vec::is_empty) {
            out.push(composite(format!(
                "{path:?} must validate at least one schema (anyOf)"
            )));
            out.extend(closest(results));
        }
    }
    if !s.one_of.is_empty() {
        let results: Vec<FieldErrors> = s.one_of.iter().map(|a| errors_of(a, v, path)).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid == 0 {
            out.push(composite(format!(
                "{path:?} must validate one and only one schema (oneOf). Found none valid"
            )));
            out.extend(closest(results));
        } else if valid > 1 {
            out.push(composite(format!(
                "{path:?} must validate one and only one schema (oneOf). Found {valid} valid alternatives"
            )));
        }
    }
    if !s.all_of.is_empty() {
        let mut valid = 0;
        for a in &s.all_of {
            let errs = errors_of(a, v, path);
            if errs.is_empty() {
                valid += 1;
            }
            out.extend(errs);
        }
        if valid != s.all_of.len() {
            let suffix = if valid == 0 { ". None validated" } else { "" };
            out.push(composite(format!(
                "{path:?} must validate all the schemas (allOf){suffix}"
            )));
        }
    }
    if let Some(not) = &s.not {
        if errors_of(not, v, path).is_empty() {
            out.push(composite(format!(
                "{path:?} must not validate the schema (not)"
            )));
        }
    }
}

fn closest(results: Vec<FieldErrors>) -> FieldErrors {
    results.into_iter().min_by_key(Vec::len).unwrap_or_default()
}
