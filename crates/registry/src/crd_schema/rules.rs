//! `x-kubernetes-validations`: each rule runs on the value of its node (per item of a list,
//! per value of a map), through the caller's CEL engine. Old values are matched to new ones
//! by property name, map key (unless the map is atomic) or list-map key fields, so
//! transition rules (`oldSelf`) see the previous value of the same position.
//!
//! Ratcheting, as upstream: on update, a violated rule that does not use `oldSelf` is not an
//! error where the value is unchanged (upstream turns it into a warning), so objects stored
//! before a rule was added stay updatable.

use super::openapi_validation::{json_eq, type_mismatch};
use super::validate::ROOT_FIELD;
use super::{list_type, RuleEvaluator, Structural, ValidationRule};
use apimachinery::field::{ErrorType, FieldError, FieldErrors, Path};
use serde_json::Value;

/// Where the rules pass stands: the caller's engine, and whether the nearest ancestor with
/// an old value is unchanged (a node without an old value of its own inherits that).
#[derive(Clone, Copy)]
pub(super) struct Walk<'a> {
    pub cel: &'a dyn RuleEvaluator,
    pub parent_unchanged: bool,
}

pub(super) fn check(
    s: &Structural,
    v: &Value,
    old: Option<&Value>,
    path: &Path,
    walk: Walk<'_>,
    out: &mut FieldErrors,
) {
    // Upstream skips rules of a node whose value already failed type validation, and
    // has nothing to evaluate on a null.
    if v.is_null() || type_mismatch(s, v).is_some() {
        return;
    }
    let unchanged = old.map_or(walk.parent_unchanged, |o| json_eq(o, v));
    for rule in &s.validations {
        if unchanged && !rule.is_transition() {
            continue;
        }
        if let Some(err) = run(s, rule, v, old, path, walk.cel) {
            out.push(err);
        }
    }
    let walk = Walk {
        parent_unchanged: unchanged,
        ..walk
    };
    match v {
        Value::Object(m) => {
            // Upstream gives map values no old value when the map is atomic.
            let old_map = old
                .and_then(Value::as_object)
                .filter(|_| s.map_type.as_deref() != Some("atomic"));
            for (k, x) in m {
                if let Some(fs) = s.field(k) {
                    let ox = old_map.and_then(|o| o.get(k));
                    let p = match s.property(k) {
                        Some(_) => path.child(k),
                        None => path.key(k),
                    };
                    check(fs, x, ox, &p, walk, out);
                }
            }
        }
        Value::Array(items) => {
            let Some(item) = &s.items else { return };
            let old_items = old.and_then(Value::as_array);
            for (i, x) in items.iter().enumerate() {
                let ox = old_items.and_then(|o| list_type::old_item(s, x, o));
                check(item, x, ox, &path.index(i), walk, out);
            }
        }
        _ => {}
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
    let at = with_field_path(s, path, &rule.field_path);
    let detail = match cel.evaluate(&rule.rule, v, old) {
        Ok(true) => return None,
        Ok(false) => message(rule, v, old, cel),
        Err(text) => {
            // Upstream names the node's type as the value of evaluation errors.
            let ty = Value::from(s.type_.as_str());
            return Some(FieldError::invalid(field(&at), ty, text));
        }
    };
    // A violated rule shows scalars, but not whole objects or lists.
    let bad_value = match s.type_.as_str() {
        "object" | "array" => None,
        _ => Some(v.clone()),
    };
    let field = field(&at);
    Some(match rule.reason.as_str() {
        "FieldValueForbidden" => FieldError::forbidden(field, detail),
        "FieldValueRequired" => FieldError::required(field, detail),
        // Upstream's Duplicate errors carry no detail.
        "FieldValueDuplicate" => FieldError {
            kind: ErrorType::Duplicate,
            field,
            bad_value,
            detail: String::new(),
        },
        _ => FieldError {
            kind: ErrorType::Invalid,
            field,
            bad_value,
            detail,
        },
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
            let m = m.trim();
            if !m.is_empty() && !m.contains('\n') {
                return m.to_string();
            }
        }
    }
    let msg = rule.message.trim();
    if !msg.is_empty() {
        return msg.to_string();
    }
    format!("failed rule: {}", rule.rule.trim())
}

/// Appends a rule's `fieldPath` (`.spec.x`, `['a.b']`) to the node's path: a property is a
/// child, a key of an additionalProperties map a `[key]`, as upstream prints them.
fn with_field_path(s: &Structural, base: &Path, field_path: &str) -> Path {
    let mut p = base.clone();
    let mut node = Some(s);
    let mut rest = field_path;
    while !rest.is_empty() {
        let name;
        if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").unwrap_or(r.len());
            name = &r[..end];
            rest = r.get(end + 2..).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            name = &r[..end];
            rest = &r[end..];
        } else {
            // Not a path upstream accepts (the CRD check rejects it); keep what we have.
            break;
        }
        if name.is_empty() {
            continue;
        }
        match node {
            Some(n) if n.property(name).is_none() && n.field(name).is_some() => {
                p = p.key(name);
            }
            _ => p = p.child(name),
        }
        node = node.and_then(|n| n.field(name));
    }
    p
}
