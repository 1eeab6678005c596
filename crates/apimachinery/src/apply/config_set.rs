//! The set of fields an applied configuration names: what its manager owns after applying it.
//!
//! Every scalar, atomic list and atomic object is a member; objects are not (an empty object
//! names nothing); each list-map item is a member and so are its fields; each set item is a
//! member.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::path::{path_text, Path, PathElement};
use super::schema::{child, item_key, shape, Shape};
use crate::patch::PatchMeta;

/// The fields `config` names. Errors (a list-map item without its key, an item listed twice)
/// are the applier's fault.
pub(crate) fn config_field_set(
    config: &Map<String, Value>,
    meta: &dyn PatchMeta,
) -> Result<FieldSet, String> {
    let mut out = FieldSet::new();
    visit_object(&mut Vec::new(), config, meta, &mut out)?;
    Ok(out)
}

fn visit_object(
    path: &mut Path,
    obj: &Map<String, Value>,
    meta: &dyn PatchMeta,
    out: &mut FieldSet,
) -> Result<(), String> {
    for (name, v) in obj {
        path.push(PathElement::Field(name.clone()));
        visit_field(path, name, v, meta, out)?;
        path.pop();
    }
    Ok(())
}

fn visit_field(
    path: &mut Path,
    name: &str,
    v: &Value,
    parent: &dyn PatchMeta,
    out: &mut FieldSet,
) -> Result<(), String> {
    match (shape(parent, name, v), v) {
        (Shape::Object, Value::Object(m)) => visit_object(path, m, &*child(parent, name), out),
        (Shape::ListMap(keys), Value::Array(items)) => {
            let item_meta = child(parent, name);
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(fields) = item else {
                    return Err(format!(
                        "{}: element {i}: expected an object, got {item}",
                        path_text(path)
                    ));
                };
                let pe = item_key(parent, name, &keys, item).map_err(|missing| {
                    format!(
                        "{}: element {i}: associative list with keys has an element that omits key field {missing:?} (and doesn't have default value)",
                        path_text(path)
                    )
                })?;
                if !seen.insert(pe.clone()) {
                    return Err(duplicate(path, &pe));
                }
                path.push(pe);
                out.insert(path);
                visit_object(path, fields, &*item_meta, out)?;
                path.pop();
            }
            Ok(())
        }
        (Shape::ListSet, Value::Array(items)) => {
            let mut seen = BTreeSet::new();
            for item in items {
                let pe = PathElement::Value(item.clone());
                if !seen.insert(pe.clone()) {
                    return Err(duplicate(path, &pe));
                }
                path.push(pe);
                out.insert(path);
                path.pop();
            }
            Ok(())
        }
        _ => {
            out.insert(path);
            Ok(())
        }
    }
}

fn duplicate(path: &Path, pe: &PathElement) -> String {
    format!("{}: duplicate entries for key {pe}", path_text(path))
}
