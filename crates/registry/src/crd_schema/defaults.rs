//! Defaulting from schema `default`s, run on every custom resource read from storage and
//! every write, as upstream does.

use super::{AdditionalProperties, Structural};
use serde_json::Value;

impl Structural {
    /// Applies schema `default`s (upstream: defaults of a property apply when the property
    /// is absent — and for nullable:false, when null — and only inside objects that exist;
    /// defaults are applied recursively into the default value).
    pub fn apply_defaults(&self, obj: &mut Value) {
        apply(self, obj);
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
