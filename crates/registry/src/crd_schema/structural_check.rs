//! Whether a CRD version's `openAPIV3Schema` is structural and well formed, checked when a
//! CRD is written. Works on the raw JSON (not the parsed tree) so it can name keywords of
//! the wrong JSON type and keywords the tree does not keep.

use super::validate::ROOT_FIELD;
use super::Structural;
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{Map, Value};

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// Where a node sits: its type is required at each, with a message naming the place.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Field,
    Item,
}

/// Checks a CRD version's openAPIV3Schema is structural and well-formed, as upstream's CRD
/// validation does (types everywhere outside preserve-unknown-fields/int-or-string, no
/// additionalProperties with properties, metadata restricted to name/generateName, list
/// and map types, defaults that validate and survive pruning). `path` is the field path of
/// the schema, e.g. "spec.versions[0].schema.openAPIV3Schema". Returns upstream's messages.
pub fn check_structural(schema: &Value, path: &Path) -> FieldErrors {
    let mut out = Vec::new();
    match schema.as_object() {
        Some(m) => node(m, path, Level::Root, &mut out),
        None => out.push(FieldError::required(
            path.child("type"),
            "must not be empty at the root",
        )),
    }
    out
}

fn flag(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn node(m: &Map<String, Value>, path: &Path, level: Level, out: &mut FieldErrors) {
    let ty = str_of(m, "type");
    let preserve = flag(m, "x-kubernetes-preserve-unknown-fields");
    let int_or_string = flag(m, "x-kubernetes-int-or-string");
    let embedded = flag(m, "x-kubernetes-embedded-resource");

    if !ty.is_empty() && !TYPES.contains(&ty) {
        out.push(FieldError::not_supported(path.child("type"), ty, TYPES));
    }
    if embedded && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        out.push(if ty.is_empty() {
            FieldError::required(path.child("type"), detail)
        } else {
            FieldError::invalid(path.child("type"), ty, detail)
        });
    } else if ty.is_empty() && !int_or_string && !preserve {
        let detail = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(FieldError::required(path.child("type"), detail));
    } else if level == Level::Root && !ty.is_empty() && ty != "object" {
        out.push(FieldError::invalid(
            path.child("type"),
            ty,
            "must be object at the root",
        ));
    }
    if int_or_string && !ty.is_empty() {
        out.push(FieldError::invalid(
            path.child("type"),
            ty,
            "must be empty if x-kubernetes-int-or-string is true",
        ));
    }
    if matches!(
        m.get("x-kubernetes-preserve-unknown-fields"),
        Some(Value::Bool(false))
    ) {
        out.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    if int_or_string && preserve {
        out.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if flag(m, "uniqueItems") {
        out.push(FieldError::forbidden(
            path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(Value::String(p)) = m.get("pattern") {
        if let Err(e) = regex::Regex::new(p) {
            let detail = format!("must be a valid regular expression, but isn't: {e}");
            out.push(FieldError::invalid(
                path.child("pattern"),
                p.as_str(),
                detail,
            ));
        }
    }

    let props = m.get("properties").and_then(Value::as_object);
    if ty == "array" && !m.contains_key("items") {
        out.push(FieldError::required(
            path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = m.get("items") {
        match items.as_object() {
            Some(im) => node(im, &path.child("items"), Level::Item, out),
            None => out.push(FieldError::forbidden(
                path.child("items"),
                "items must be a schema object and not an array",
            )),
        }
    }
    if let Some(props) = props {
        for (k, v) in props {
            let p = path.child("properties").key(k);
            match v.as_object() {
                Some(pm) => node(pm, &p, Level::Field, out),
                None => out.push(FieldError::required(
                    p.child("type"),
                    "must not be empty for specified object fields",
                )),
            }
        }
    }
    match m.get("additionalProperties") {
        Some(Value::Object(ap)) => {
            if props.is_some_and(|p| !p.is_empty()) {
                out.push(FieldError::forbidden(
                    path.child("additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                ));
            }
            node(ap, &path.child("additionalProperties"), Level::Field, out);
        }
        Some(Value::Bool(false)) => out.push(FieldError::forbidden(
            path.child("additionalProperties"),
            "must not be false",
        )),
        _ => {}
    }

    if level == Level::Root || embedded {
        metadata(props, path, out);
    }
    if embedded && !preserve && props.is_none_or(Map::is_empty) {
        out.push(FieldError::required(
            path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }

    list_and_map_type(m, ty, path, out);

    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = m.get(key).and_then(Value::as_array) {
            for (i, v) in list.iter().enumerate() {
                if let Some(vm) = v.as_object() {
                    let int_or_string_branch = int_or_string && key == "anyOf";
                    nested(vm, &path.child(key).index(i), int_or_string_branch, out);
                }
            }
        }
    }
    if let Some(not) = m.get("not").and_then(Value::as_object) {
        nested(not, &path.child("not"), false, out);
    }

    default(m, path, out);
}

/// The root's (and embedded resources') `metadata` may only restrict name/generateName.
fn metadata(props: Option<&Map<String, Value>>, path: &Path, out: &mut FieldErrors) {
    let Some(meta) = props
        .and_then(|p| p.get("metadata"))
        .and_then(Value::as_object)
    else {
        return;
    };
    let mp = path.child("properties").key("metadata");
    let ty = str_of(meta, "type");
    if ty != "object" {
        out.push(FieldError::invalid(mp.child("type"), ty, "must be object"));
    }
    if let Some(mprops) = meta.get("properties").and_then(Value::as_object) {
        for k in mprops.keys() {
            if k != "name" && k != "generateName" {
                out.push(FieldError::forbidden(
                    mp.child("properties").key(k),
                    "must not be specified",
                ));
            }
        }
    }
}

fn list_and_map_type(m: &Map<String, Value>, ty: &str, path: &Path, out: &mut FieldErrors) {
    let list_type = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys: Vec<&str> = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let lt_path = path.child("x-kubernetes-list-type");
    let keys_path = path.child("x-kubernetes-list-map-keys");
    if let Some(lt) = list_type {
        if !["atomic", "set", "map"].contains(&lt) {
            out.push(FieldError::not_supported(
                lt_path.clone(),
                lt,
                &["atomic", "set", "map"],
            ));
        }
        if ty != "array" {
            out.push(FieldError::invalid(
                path.child("type"),
                ty,
                "must be array if x-kubernetes-list-type is specified",
            ));
        }
    }
    if !keys.is_empty() && list_type != Some("map") {
        out.push(FieldError::forbidden(
            keys_path.clone(),
            "must be empty if x-kubernetes-list-type is not map",
        ));
    }
    let items = m.get("items").and_then(Value::as_object);
    match list_type {
        Some("map") => {
            if keys.is_empty() {
                out.push(FieldError::required(
                    keys_path.clone(),
                    "must not be empty if x-kubernetes-list-type is map",
                ));
            }
            if let Some(items) = items {
                map_items(items, &keys, path, &keys_path, out);
            }
        }
        Some("set") => {
            let item_ty = items.map(|i| str_of(i, "type")).unwrap_or("");
            let atomic_map = items.is_some_and(|i| str_of(i, "x-kubernetes-map-type") == "atomic");
            if item_ty == "object" && !atomic_map {
                out.push(FieldError::invalid(
                    path.child("items").child("x-kubernetes-map-type"),
                    Value::Null,
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            }
            if item_ty == "array" {
                out.push(FieldError::invalid(
                    path.child("items").child("type"),
                    item_ty,
                    "must be a scalar or atomic map as item of a list with x-kubernetes-list-type=set",
                ));
            }
        }
        _ => {}
    }
    if let Some(mt) = m.get("x-kubernetes-map-type").and_then(Value::as_str) {
        if !["atomic", "granular"].contains(&mt) {
            out.push(FieldError::not_supported(
                path.child("x-kubernetes-map-type"),
                mt,
                &["atomic", "granular"],
            ));
        }
        if ty != "object" {
            out.push(FieldError::invalid(
                path.child("type"),
                ty,
                "must be object if x-kubernetes-map-type is specified",
            ));
        }
    }
}

/// Items of a list-map are objects whose key fields are scalar properties that every item
/// has: required, or defaulted.
fn map_items(
    items: &Map<String, Value>,
    keys: &[&str],
    path: &Path,
    keys_path: &Path,
    out: &mut FieldErrors,
) {
    let item_ty = str_of(items, "type");
    if item_ty != "object" {
        out.push(FieldError::invalid(
            path.child("items").child("type"),
            item_ty,
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let props = items.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = items
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].contains(k) {
            out.push(FieldError::invalid(
                keys_path.index(i),
                *k,
                "must not contain duplicate entries",
            ));
            continue;
        }
        let Some(prop) = props.and_then(|p| p.get(*k)).and_then(Value::as_object) else {
            out.push(FieldError::invalid(
                keys_path.clone(),
                *k,
                "entries must all be names of item properties",
            ));
            continue;
        };
        let kp = path.child("items").child("properties").key(k);
        let kt = str_of(prop, "type");
        if !["string", "integer", "number", "boolean"].contains(&kt) {
            out.push(FieldError::invalid(
                kp.child("type"),
                kt,
                "must be a scalar type if parent array's x-kubernetes-list-type is map",
            ));
        }
        if !required.contains(k) && prop.get("default").is_none_or(Value::is_null) {
            out.push(FieldError::required(
                kp,
                "all map keys must be required or have a default value",
            ));
        }
    }
}

/// allOf/anyOf/oneOf/not only constrain values: upstream forbids the keywords that shape
/// the skeleton inside them. The anyOf of an int-or-string node may name the two types.
fn nested(m: &Map<String, Value>, path: &Path, int_or_string_branch: bool, out: &mut FieldErrors) {
    let forbidden = [
        "additionalProperties",
        "default",
        "description",
        "nullable",
        "title",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    ];
    if let Some(ty) = m.get("type") {
        let allowed = int_or_string_branch && matches!(ty.as_str(), Some("integer" | "string"));
        if !allowed {
            out.push(FieldError::forbidden(
                path.child("type"),
                "must be empty to be structural",
            ));
        }
    }
    for k in forbidden {
        if m.contains_key(k) {
            out.push(FieldError::forbidden(
                path.child(k),
                "must be empty to be structural",
            ));
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if let Some(pm) = v.as_object() {
                nested(pm, &path.child("properties").key(k), false, out);
            }
        }
    }
    if let Some(items) = m.get("items").and_then(Value::as_object) {
        nested(items, &path.child("items"), false, out);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = m.get(key).and_then(Value::as_array) {
            for (i, v) in list.iter().enumerate() {
                if let Some(vm) = v.as_object() {
                    nested(vm, &path.child(key).index(i), false, out);
                }
            }
        }
    }
    if let Some(not) = m.get("not").and_then(Value::as_object) {
        nested(not, &path.child("not"), false, out);
    }
}

/// A default must validate against its own schema and must not carry unknown fields.
fn default(m: &Map<String, Value>, path: &Path, out: &mut FieldErrors) {
    let Some(d) = m.get("default").filter(|d| !d.is_null()) else {
        return;
    };
    let dp = path.child("default");
    let node = Structural::from_openapi(&Value::Object(m.clone()));
    let mut errs = Vec::new();
    super::validate::check(&node, d, "", &mut errs);
    for mut e in errs {
        // Upstream validates the default as an object of its own rooted at `.default`.
        e.field = if e.field == ROOT_FIELD {
            dp.to_string()
        } else {
            format!("{dp}.{}", e.field)
        };
        out.push(e);
    }
    let mut pruned = d.clone();
    let mut removed = Vec::new();
    super::prune::prune_default(&node, &mut pruned, &mut removed);
    if !removed.is_empty() {
        out.push(FieldError::invalid(
            dp,
            d.clone(),
            "must not have unknown fields",
        ));
    }
}
