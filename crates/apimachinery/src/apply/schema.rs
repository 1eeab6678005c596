//! What apply needs to know about one position of an object, read through [`PatchMeta`].

use serde_json::Value;

use super::path::PathElement;
use crate::patch::{ListType, NoPatchMeta, PatchMeta};

/// How the value in one field is merged and owned.
pub(crate) enum Shape {
    /// An object merged field by field; ownership is tracked per field.
    Object,
    /// A list of objects merged item by item, each item identified by these keys.
    ListMap(Vec<String>),
    /// A list of scalars, each owned apart.
    ListSet,
    /// A scalar, atomic object or atomic list: replaced and owned whole.
    Leaf,
}

/// The meta of field `name` (of a list: of its items); unknown positions know nothing.
pub(crate) fn child<'a>(meta: &'a dyn PatchMeta, name: &str) -> Box<dyn PatchMeta + 'a> {
    meta.child(name).unwrap_or_else(|| Box::new(NoPatchMeta))
}

/// The shape of value `v` in field `name` of an object described by `parent`. The JSON type
/// decides first: a schema that says "list" cannot make a string mergeable.
pub(crate) fn shape(parent: &dyn PatchMeta, name: &str, v: &Value) -> Shape {
    match v {
        Value::Object(_) if !parent.atomic_object(name) => Shape::Object,
        Value::Array(_) => match parent.list_type(name) {
            ListType::Atomic => Shape::Leaf,
            ListType::Map(keys) if !keys.is_empty() => Shape::ListMap(keys),
            ListType::Map(_) => Shape::Leaf,
            ListType::Set => Shape::ListSet,
        },
        _ => Shape::Leaf,
    }
}

/// The step that identifies `item` in list-map `list` (keys sorted by name, as upstream), or
/// the name of the first key it lacks (and that has no default).
pub(crate) fn item_key(
    parent: &dyn PatchMeta,
    list: &str,
    keys: &[String],
    item: &Value,
) -> Result<PathElement, String> {
    let mut fields = Vec::with_capacity(keys.len());
    for key in keys {
        let value = match item.get(key) {
            Some(v) if !v.is_null() => v.clone(),
            _ => parent
                .list_key_default(list, key)
                .ok_or_else(|| key.clone())?,
        };
        fields.push((key.clone(), value));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PathElement::Key(fields))
}

/// The steps that identify each item of a list-map or set (`None` for an item that cannot be
/// identified: a list-map item without its key, which live objects may hold).
pub(crate) fn item_elements(
    parent: &dyn PatchMeta,
    list: &str,
    shape: &Shape,
    items: &[Value],
) -> Vec<Option<PathElement>> {
    items
        .iter()
        .map(|item| match shape {
            Shape::ListMap(keys) => item_key(parent, list, keys, item).ok(),
            Shape::ListSet => Some(PathElement::Value(item.clone())),
            _ => None,
        })
        .collect()
}
