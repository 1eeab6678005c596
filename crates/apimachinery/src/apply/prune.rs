//! Removing what an applier stopped applying.
//!
//! A path is removed when the applier's previous apply named it (or led through it by field
//! name), and no manager, the applier's new configuration included, owns it (or owns
//! something under a field on its way). Removing a path removes everything under it.

use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::path::PathElement;
use super::schema::{child, item_elements, shape, Shape};
use crate::patch::PatchMeta;

/// Removes from `obj` the members of `candidates` that are not members of `owned`; both sets
/// already have their named fields as members.
pub(crate) fn prune_object(
    obj: &mut Map<String, Value>,
    candidates: &FieldSet,
    owned: Option<&FieldSet>,
    meta: &dyn PatchMeta,
) {
    let names: Vec<String> = obj.keys().cloned().collect();
    for name in names {
        let pe = PathElement::Field(name.clone());
        let Some(cand) = candidates.child(&pe) else {
            continue;
        };
        let kept = owned.and_then(|o| o.child(&pe));
        if cand.has(&[]) && !kept.is_some_and(|k| k.has(&[])) {
            obj.shift_remove(&name);
            continue;
        }
        let Some(v) = obj.get_mut(&name) else {
            continue;
        };
        match shape(meta, &name, v) {
            Shape::Object => {
                if let Value::Object(m) = v {
                    prune_object(m, cand, kept, &*child(meta, &name));
                }
            }
            s @ (Shape::ListMap(_) | Shape::ListSet) => {
                if let Value::Array(items) = v {
                    prune_items(items, &name, &s, cand, kept, meta);
                }
            }
            Shape::Leaf => {}
        }
    }
}

fn prune_items(
    items: &mut Vec<Value>,
    name: &str,
    s: &Shape,
    candidates: &FieldSet,
    owned: Option<&FieldSet>,
    parent: &dyn PatchMeta,
) {
    let pes = item_elements(parent, name, s, items);
    let item_meta = child(parent, name);
    let mut keep = Vec::with_capacity(items.len());
    for (item, pe) in std::mem::take(items).into_iter().zip(pes) {
        let Some(pe) = pe else {
            keep.push(item);
            continue;
        };
        let Some(cand) = candidates.child(&pe) else {
            keep.push(item);
            continue;
        };
        let kept = owned.and_then(|o| o.child(&pe));
        if cand.has(&[]) && !kept.is_some_and(|k| k.has(&[])) {
            continue;
        }
        let mut item = item;
        if let (Shape::ListMap(_), Value::Object(m)) = (s, &mut item) {
            prune_object(m, cand, kept, &*item_meta);
        }
        keep.push(item);
    }
    *items = keep;
}
