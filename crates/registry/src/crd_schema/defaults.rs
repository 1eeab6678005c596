//! Defaulting from schema `default`s, run on every custom resource read from storage and
//! every write, as upstream does.

use super::{AdditionalProperties, Structural};
use serde_json::Value;

impl Structural {
    /// Applies schema `default`s (upstream: defaults of a property apply when the property
    /// is absent — and for nullable:false, when null — and only inside objects that exist;
    /// defaults are applied recursively into the default value).
    ///
    /// First, as upstream's defaulter does, a `null` where the schema allows none and has no
    /// default to put there is dropped (`spec.x: null` for a non-nullable `x` means unset).
    pub fn apply_defaults(&self, obj: &mut Value) {
        drop_nulls(Some(self), obj);
        apply(self, obj);
    }
}

/// The schema of the value at key `k`, boolean `additionalProperties` giving none.
fn field_schema<'a>(s: Option<&'a Structural>, k: &str) -> Option<&'a Structural> {
    s.and_then(|s| s.field(k))
}

/// Removes nulls the schema forbids and cannot replace by a default.
fn drop_nulls(s: Option<&Structural>, v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, x| {
                let fs = field_schema(s, k);
                let droppable =
                    x.is_null() && fs.is_some_and(|fs| !fs.nullable && fs.default.is_none());
                if !droppable {
                    drop_nulls(fs, x);
                }
                !droppable
            });
        }
        Value::Array(items) => {
            let item = s.and_then(|s| s.items.as_deref());
            for x in items {
                drop_nulls(item, x);
            }
        }
        _ => {}
    }
}

/// A `null` where the schema forbids null and has a default: upstream replaces it.
fn replaceable_null(v: &Value, s: &Structural) -> bool {
    v.is_null() && !s.nullable && s.default.is_some()
}

fn apply(s: &Structural, v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing = m.get(k).is_none_or(|x| replaceable_null(x, prop));
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            for (k, x) in m.iter_mut() {
                if let Some(prop) = s.property(k) {
                    apply(prop, x);
                } else if let Some(AdditionalProperties::Schema(ap)) = &s.additional_properties {
                    if let (true, Some(d)) = (replaceable_null(x, ap), &ap.default) {
                        *x = d.clone();
                    }
                    apply(ap, x);
                }
            }
        }
        Value::Array(items) => {
            let Some(item) = &s.items else { return };
            for x in items.iter_mut() {
                if let (true, Some(d)) = (replaceable_null(x, item), &item.default) {
                    *x = d.clone();
                }
                apply(item, x);
            }
        }
        _ => {}
    }
}
