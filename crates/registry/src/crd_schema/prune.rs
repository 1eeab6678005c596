//! Pruning: fields the schema does not specify are dropped, as upstream does for every
//! custom resource write. The removed paths feed `fieldValidation=Strict|Warn`.

use super::{AdditionalProperties, Structural};
use serde_json::{Map, Value};

/// The fields of ObjectMeta: what survives in the `metadata` of an embedded resource.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

impl Structural {
    /// Removes fields the schema does not know (upstream pruning), honouring
    /// preserve-unknown-fields and embedded resources (whose apiVersion/kind/metadata are
    /// kept; metadata pruned to ObjectMeta fields). At the root, apiVersion, kind and
    /// metadata are always kept (metadata is handled by the caller). Returns the removed
    /// paths as upstream prints them for fieldValidation=Strict/Warn, e.g. "spec.foo",
    /// "spec.items[0].bar", sorted as upstream sorts them.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        let mut removed = Vec::new();
        if let Value::Object(m) = obj {
            prune_object(Some(self), m, "", Resource::Root, &mut removed);
        }
        removed.sort();
        removed
    }
}

/// Whether an object is a resource, whose type and object meta survive pruning.
#[derive(Clone, Copy, PartialEq)]
enum Resource {
    Root,
    Embedded,
    No,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Prunes `v` against `s`; `None` is "no schema": an object under it loses every field
/// (upstream's treatment of values under a boolean `additionalProperties`).
fn prune_value(s: Option<&Structural>, v: &mut Value, path: &str, removed: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let res = if s.is_some_and(|s| s.embedded_resource) {
                Resource::Embedded
            } else {
                Resource::No
            };
            prune_object(s, m, path, res, removed);
        }
        Value::Array(items) => {
            let item = s.and_then(|s| s.items.as_deref());
            for (i, x) in items.iter_mut().enumerate() {
                prune_value(item, x, &format!("{path}[{i}]"), removed);
            }
        }
        _ => {}
    }
}

fn prune_object(
    s: Option<&Structural>,
    m: &mut Map<String, Value>,
    path: &str,
    res: Resource,
    removed: &mut Vec<String>,
) {
    let keep_unknown = s.is_some_and(|s| s.preserve_unknown_fields);
    let mut drop = Vec::new();
    for (k, v) in m.iter_mut() {
        let child = join(path, k);
        if res != Resource::No && ["apiVersion", "kind", "metadata"].contains(&k.as_str()) {
            // A resource's type and object meta are not the schema's to prune; the caller
            // owns the root's metadata, an embedded one is cut down to ObjectMeta.
            if let (Resource::Embedded, "metadata", Value::Object(meta)) = (res, k.as_str(), v) {
                prune_object_meta(meta, &child, removed);
            }
            continue;
        }
        match s {
            Some(s) => {
                if let Some(p) = s.property(k) {
                    prune_value(Some(p), v, &child, removed);
                } else if let Some(ap) = &s.additional_properties {
                    let ap = match ap {
                        AdditionalProperties::Schema(a) => Some(a.as_ref()),
                        AdditionalProperties::Allows(_) => None,
                    };
                    prune_value(ap, v, &child, removed);
                } else if !keep_unknown {
                    drop.push(k.clone());
                    removed.push(child);
                }
            }
            None => {
                drop.push(k.clone());
                removed.push(child);
            }
        }
    }
    for k in drop {
        m.shift_remove(&k);
    }
}

fn prune_object_meta(meta: &mut Map<String, Value>, path: &str, removed: &mut Vec<String>) {
    let unknown: Vec<String> = meta
        .keys()
        .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in unknown {
        meta.shift_remove(&k);
        removed.push(join(path, &k));
    }
}

/// Prunes a schema `default` as a value of its node (an embedded resource keeps its type
/// and object meta), so the structural check can tell whether it carries unknown fields.
pub(super) fn prune_default(s: &Structural, v: &mut Value, removed: &mut Vec<String>) {
    prune_value(Some(s), v, "", removed);
}
