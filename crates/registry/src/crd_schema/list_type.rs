//! `x-kubernetes-list-type: set|map` invariants: no two set items equal, no two map items
//! with the same key fields. Upstream reports each later duplicate at its index.

use super::validate::json_eq;
use super::Structural;
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{Map, Value};

pub(super) fn check(s: &Structural, v: &Value, path: &Path, out: &mut FieldErrors) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let Some(fs) = s.field(k) {
                    check(fs, x, &child_path(s, path, k), out);
                }
            }
        }
        Value::Array(items) => {
            match s.list_type.as_deref() {
                Some("set") => duplicates(items, path, out, |x| Some(x.clone())),
                Some("map") => duplicates(items, path, out, |x| map_key(s, x)),
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

/// The key fields of a list-map item (a key the item omits takes its schema default), as
/// the object upstream shows for a duplicate.
pub(super) fn map_key(s: &Structural, item: &Value) -> Option<Value> {
    let m = item.as_object()?;
    let schema = s.items.as_deref();
    let mut key = Map::new();
    for k in &s.list_map_keys {
        let v = m.get(k).cloned().or_else(|| {
            schema
                .and_then(|s| s.property(k))
                .and_then(|p| p.default.clone())
        });
        if let Some(v) = v {
            key.insert(k.clone(), v);
        }
    }
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

fn duplicates(
    items: &[Value],
    path: &Path,
    out: &mut FieldErrors,
    key: impl Fn(&Value) -> Option<Value>,
) {
    let keys: Vec<Option<Value>> = items.iter().map(key).collect();
    for (i, k) in keys.iter().enumerate() {
        let Some(k) = k else { continue };
        let seen = keys[..i]
            .iter()
            .flatten()
            .any(|earlier| json_eq(earlier, k));
        if seen {
            out.push(FieldError::duplicate(path.index(i), k.clone()));
        }
    }
}

/// The path of the value at key `k`: a property is a child, a map key a `[k]`.
fn child_path(s: &Structural, path: &Path, k: &str) -> Path {
    match s.property(k) {
        Some(_) => path.child(k),
        None => path.key(k),
    }
}
