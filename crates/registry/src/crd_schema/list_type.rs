//! `x-kubernetes-list-type: set|map` invariants: no two set items equal, no two map items
//! with the same key fields. Like upstream, a value repeated several times is reported
//! once, at its second appearance.

use super::openapi_validation::json_eq;
use super::{AdditionalProperties, Structural};
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{Map, Value};

pub(super) fn check(s: &Structural, v: &Value, path: &Path, out: &mut FieldErrors) {
    match v {
        Value::Object(m) => {
            // Upstream walks map values before properties.
            if let Some(AdditionalProperties::Schema(ap)) = &s.additional_properties {
                for (k, x) in m.iter().filter(|(k, _)| s.property(k).is_none()) {
                    check(ap, x, &path.key(k), out);
                }
            }
            for (k, x) in m {
                if let Some(p) = s.property(k) {
                    check(p, x, &path.child(k), out);
                }
            }
        }
        Value::Array(items) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    for i in repeats(items) {
                        out.push(FieldError::duplicate(path.index(i), items[i].clone()));
                    }
                }
                Some("map") => map_duplicates(s, items, path, out),
                _ => {}
            }
            if let Some(item) = &s.items {
                for (i, x) in items.iter().enumerate() {
                    check(item, x, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}

fn map_duplicates(s: &Structural, items: &[Value], path: &Path, out: &mut FieldErrors) {
    if let Some(i) = items.iter().position(|x| !x.is_object() && !x.is_null()) {
        out.push(FieldError::invalid(
            path.index(i),
            items[i].clone(),
            "must be an object for an array of list-type map",
        ));
        return;
    }
    // A null item, or one without key fields, has the empty key.
    let keys: Vec<Value> = items
        .iter()
        .map(|x| map_key(s, x).unwrap_or_else(|| Value::Object(Map::new())))
        .collect();
    for i in repeats(&keys) {
        out.push(FieldError::duplicate(path.index(i), keys[i].clone()));
    }
}

/// Indices of the second appearance of each value that appears more than once. Scalars
/// compare as decoded (1 and 1.0 differ, as in Go), objects and lists by their JSON.
fn repeats(values: &[Value]) -> Vec<usize> {
    let same = |a: &Value, b: &Value| match (a, b) {
        (Value::Object(_) | Value::Array(_), _) => json_eq(a, b),
        _ => a == b,
    };
    (0..values.len())
        .filter(|&i| {
            let earlier = values[..i].iter().filter(|e| same(e, &values[i])).count();
            earlier == 1
        })
        .collect()
}

/// The key fields an item of a list-map has, as the object upstream shows for a duplicate.
pub(super) fn map_key(s: &Structural, item: &Value) -> Option<Value> {
    let m = item.as_object()?;
    let key: Map<String, Value> = s
        .list_map_keys
        .iter()
        .filter_map(|k| m.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    Some(Value::Object(key))
}

/// The old item a new list item continues: only list-maps give items an identity (their
/// key fields); upstream correlates no other list items, for rules and for ratcheting.
pub(super) fn old_item<'a>(s: &Structural, x: &Value, old: &'a [Value]) -> Option<&'a Value> {
    if s.list_type.as_deref() != Some("map") {
        return None;
    }
    let key = map_key(s, x)?;
    old.iter()
        .find(|o| map_key(s, o).is_some_and(|k| json_eq(&k, &key)))
}
