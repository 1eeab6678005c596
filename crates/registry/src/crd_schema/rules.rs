//! `x-kubernetes-validations`: each rule runs on the value of its node (per item of a list,
//! per value of a map), through the caller's CEL engine. Old values are matched to new ones
//! by property name, map key, list-map key fields or set item, so transition rules
//! (`oldSelf`) see the previous value of the same position.

use super::validate::{json_eq, type_mismatch, ROOT_FIELD};
use super::{list_type, RuleEvaluator, Structural, ValidationRule};
use apimachinery::field::{ErrorType, FieldError, FieldErrors, Path};
use serde_json::Value;

pub(super) fn check(
    s: &Structural,
    v: &Value,
    old: Option<&Value>,
    path: &Path,
    cel: &dyn RuleEvaluator,
    out: &mut FieldErrors,
) {
    // Upstream skips rules of a node whose value already failed type validation, and
    // has nothing to evaluate on a null.
    if v.is_null() || type_mismatch(s, v).is_some() {
        return;
    }
    for rule in &s.validations {
        if let Some(err) = run(s, rule, v, old, path, cel) {
            out.push(err);
        }
    }
    match v {
        Value::Object(m) => {
            let old_map = old.and_then(Value::as_object);
            for (k, x) in m {
                if let Some(fs) = s.field(k) {
                    let ox = old_map.and_then(|o| o.get(k));
                    check(fs, x, ox, &path.child(k), cel, out);
                }
            }
        }
        Value::Array(items) => {
            let Some(item) = &s.items else { return };
            let old_items = old.and_then(Value::as_array);
            for (i, x) in items.iter().enumerate() {
                let ox = old_items.and_then(|o| correlate(s, x, o));
                check(item, x, ox, &path.index(i), cel, out);
            }
        }
        _ => {}
    }
}

/// The old item a new list item continues: same key fields in a list-map, an equal item in
/// a set; atomic lists have no identity per item.
fn correlate<'a>(s: &Structural, x: &Value, old: &'a [Value]) -> Option<&'a Value> {
    match s.list_type.as_deref() {
        Some("map") => {
            let key = list_type::map_key(s, x)?;
            old.iter()
                .find(|o| list_type::map_key(s, o).is_some_and(|k| json_eq(&k, &key)))
        }
        Some("set") => old.iter().find(|o| json_eq(o, x)),
        _ => None,
    }
}

fn run(
    s: &Structural,
    rule: &ValidationRule,
    v: &Value,
    old: Option<&Value>,
    path: &Path,
    cel: &dyn RuleEvaluator,
) -> Option<FieldError> {
    if rule.is_transition() && old.is_none() && !rule.optional_old_self {
        return None;
    }
    let at = with_field_path(path, &rule.field_path);
    let bad_value = Value::from(s.type_.as_str());
    let detail = match cel.evaluate(&rule.rule, v, old) {
        Ok(true) => return None,
        Ok(false) => message(rule, v, old, cel),
        Err(text) => return Some(FieldError::invalid(field(&at), bad_value, text)),
    };
    let field = field(&at);
    Some(match rule.reason.as_str() {
        "FieldValueForbidden" => FieldError::forbidden(field, detail),
        "FieldValueRequired" => FieldError::required(field, detail),
        "FieldValueDuplicate" => FieldError {
            kind: ErrorType::Duplicate,
            field,
            bad_value: Some(bad_value),
            detail,
        },
        _ => FieldError::invalid(field, bad_value, detail),
    })
}

fn field(p: &Path) -> String {
    if p.as_str().is_empty() {
        ROOT_FIELD.to_string()
    } else {
        p.to_string()
    }
}

/// The message of a violated rule: messageExpression's result when it yields a usable
/// single line, else `message`, else upstream's default.
fn message(
    rule: &ValidationRule,
    v: &Value,
    old: Option<&Value>,
    cel: &dyn RuleEvaluator,
) -> String {
    if !rule.message_expression.is_empty() {
        if let Ok(m) = cel.message(&rule.message_expression, v, old) {
            if !m.trim().is_empty() && !m.contains('\n') {
                return m;
            }
        }
    }
    if !rule.message.is_empty() {
        return rule.message.clone();
    }
    format!("failed rule: {}", rule.rule.trim())
}

/// Appends a rule's `fieldPath` (`.spec.x`, `['a.b']`, `.list[0]`) to the node's path.
fn with_field_path(base: &Path, field_path: &str) -> Path {
    let mut p = base.clone();
    let mut rest = field_path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").unwrap_or(r.len());
            p = p.child(&r[..end]);
            rest = r.get(end + 2..).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            p = match r[..end].parse::<usize>() {
                Ok(i) => p.index(i),
                Err(_) => p.key(&r[..end]),
            };
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                p = p.child(&r[..end]);
            }
            rest = &r[end..];
            if end == 0 && !rest.starts_with('[') {
                // A stray dot: skip it rather than loop.
                rest = rest.get(1..).unwrap_or("");
            }
        }
    }
    p
}
