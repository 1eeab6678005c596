//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`:
//! on the right types, with values upstream knows, and list-map keys every item has.

use super::keywords::type_for;
use super::{flag, obj, str_of, strings, Obj};
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

pub(super) fn map_type(m: &Obj, ty: &str, path: &Path, out: &mut FieldErrors) {
    let Some(mt) = m.get("x-kubernetes-map-type").and_then(Value::as_str) else {
        return;
    };
    if ty != "object" {
        out.push(type_for(
            path,
            ty,
            "must be object if x-kubernetes-map-type is specified",
        ));
    }
    if mt != "atomic" && mt != "granular" {
        out.push(FieldError::not_supported(
            path.child("x-kubernetes-map-type"),
            mt,
            &["atomic", "granular"],
        ));
    }
}

pub(super) fn list_type(m: &Obj, ty: &str, path: &Path, out: &mut FieldErrors) {
    let lt = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys = strings(m, "x-kubernetes-list-map-keys");
    let keys_value = || Value::from(keys.clone());
    let items = obj(m, "items");
    if let Some(lt) = lt {
        if ty != "array" {
            out.push(type_for(
                path,
                ty,
                "must be array if x-kubernetes-list-type is specified",
            ));
        } else if lt == "set" {
            // Set items are compared whole, so they must be atomic.
            let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
            match items.map(|i| str_of(i, "type")) {
                Some("array") => {
                    let ilt = items
                        .map(|i| str_of(i, "x-kubernetes-list-type"))
                        .unwrap_or("");
                    if !ilt.is_empty() && ilt != "atomic" {
                        out.push(FieldError::invalid(
                            path.child("items").child("x-kubernetes-list-type"),
                            ilt,
                            detail,
                        ));
                    }
                }
                Some("object")
                    if items.map(|i| str_of(i, "x-kubernetes-map-type")) != Some("atomic") =>
                {
                    out.push(FieldError::invalid(
                        path.child("items").child("x-kubernetes-map-type"),
                        // Upstream passes the item's unset list type here; Go prints "null".
                        "null",
                        detail,
                    ));
                }
                _ => {}
            }
        }
        if !["atomic", "set", "map"].contains(&lt) {
            out.push(FieldError::not_supported(
                path.child("x-kubernetes-list-type"),
                lt,
                &["atomic", "set", "map"],
            ));
        }
    }
    if !keys.is_empty() {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match lt {
            None => out.push(FieldError::required(
                path.child("x-kubernetes-list-type"),
                detail,
            )),
            Some(lt) if lt != "map" => out.push(FieldError::invalid(
                path.child("x-kubernetes-list-type"),
                lt,
                detail,
            )),
            _ => {}
        }
    }
    if lt != Some("map") {
        return;
    }
    let keys_path = path.child("x-kubernetes-list-map-keys");
    if keys.is_empty() {
        out.push(FieldError::required(
            keys_path.clone(),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let Some(items) = items else {
        if m.get("items").is_none() {
            out.push(FieldError::required(
                path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            ));
        }
        return;
    };
    let item_ty = str_of(items, "type");
    if item_ty != "object" {
        out.push(FieldError::invalid(
            path.child("items").child("type"),
            item_ty,
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let props = obj(items, "properties");
    for (i, k) in keys.iter().enumerate() {
        match props.and_then(|p| obj(p, k)) {
            Some(prop) => {
                if matches!(str_of(prop, "type"), "array" | "object") {
                    // Upstream names the item's type here, not the key's.
                    out.push(FieldError::invalid(
                        path.child("items").child("properties").key(k).child("type"),
                        item_ty,
                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                    ));
                }
            }
            None => out.push(FieldError::invalid(
                keys_path.clone(),
                keys_value(),
                "entries must all be names of item properties",
            )),
        }
        if keys[..i].contains(k) {
            out.push(FieldError::invalid(
                keys_path.clone(),
                keys_value(),
                "must not contain duplicate entries",
            ));
        }
    }
}

/// Items of sets and list-maps are never null, and a list-map's key fields are always set.
pub(super) fn list_items(m: &Obj, path: &Path, out: &mut FieldErrors) {
    let lt = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let (Some(lt @ ("set" | "map")), Some(items)) = (lt, obj(m, "items")) else {
        return;
    };
    if flag(items, "nullable") {
        out.push(FieldError::forbidden(
            path.child("items").child("nullable"),
            format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
        ));
    }
    if lt != "map" {
        return;
    }
    let required = strings(items, "required");
    let props = obj(items, "properties");
    for k in strings(m, "x-kubernetes-list-map-keys") {
        let Some(prop) = props.and_then(|p| obj(p, k)) else {
            continue;
        };
        let kp = path.child("items").child("properties").key(k);
        if !required.contains(&k) && !prop.contains_key("default") {
            out.push(FieldError::required(
                kp.child("default"),
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ));
        }
        if flag(prop, "nullable") {
            out.push(FieldError::forbidden(
                kp.child("nullable"),
                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ));
        }
    }
}
