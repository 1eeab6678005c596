//! Whether a CRD version's `openAPIV3Schema` is structural and well formed, checked when a
//! CRD is written. Works on the raw JSON (not the parsed tree) so it can name keywords the
//! tree does not keep.
//!
//! Upstream reports in three groups, and so do we: keyword checks in schema order
//! ([`keywords`]), structural invariants sorted by message ([`invariants`]), then, for a
//! schema without such errors, defaults.

use super::validate::ROOT_FIELD;
use super::Structural;
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{Map, Value};

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];
type Obj = Map<String, Value>;

/// Checks a CRD version's openAPIV3Schema is structural and well-formed, as upstream's CRD
/// validation does (types everywhere outside preserve-unknown-fields/int-or-string, no
/// additionalProperties with properties, metadata restricted to name/generateName, list
/// and map types, defaults that validate and survive pruning). `path` is the field path of
/// the schema, e.g. "spec.versions[0].schema.openAPIV3Schema". Returns upstream's messages.
pub fn check_structural(schema: &Value, path: &Path) -> FieldErrors {
    let Some(m) = schema.as_object() else {
        return vec![FieldError::required(
            path.child("type"),
            "must not be empty at the root",
        )];
    };
    let mut out = Vec::new();
    keywords(m, path, Ctx::ROOT, &mut out);
    let mut structural = Vec::new();
    invariants(m, path, Level::Root, &mut structural);
    completeness(m, m, path, path, &mut structural);
    // Upstream sorts these by message, as it finds them by walking maps.
    structural.sort_by_key(FieldError::message);
    out.extend(structural);
    // Defaults are only meaningful against a schema that is itself sound.
    if out.is_empty() {
        defaults(m, path, true, &mut out);
    }
    out
}

fn flag(m: &Obj, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn str_of<'a>(m: &'a Obj, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn obj<'a>(m: &'a Obj, k: &str) -> Option<&'a Obj> {
    m.get(k).and_then(Value::as_object)
}

fn strings<'a>(m: &'a Obj, k: &str) -> Vec<&'a str> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Where a keyword check runs: at the resource root, inside a resource's type/object meta
/// (defaults are not allowed in the root's), or elsewhere.
#[derive(Clone, Copy)]
struct Ctx {
    root: bool,
    inside_meta: bool,
    /// Why defaults are forbidden here, if they are.
    no_defaults: Option<&'static str>,
}

impl Ctx {
    const ROOT: Ctx = Ctx {
        root: true,
        inside_meta: false,
        no_defaults: None,
    };
    fn below(self) -> Ctx {
        Ctx {
            root: false,
            ..self
        }
    }
}

/// The keyword checks upstream runs on every schema node, in schema order.
fn keywords(m: &Obj, path: &Path, ctx: Ctx, out: &mut FieldErrors) {
    let ty = str_of(m, "type");
    if ty == "null" {
        out.push(FieldError::forbidden(
            path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    } else if !ty.is_empty() && !TYPES.contains(&ty) {
        out.push(FieldError::not_supported(path.child("type"), ty, TYPES));
    }
    if let (true, Some(reason)) = (m.contains_key("default"), ctx.no_defaults) {
        out.push(FieldError::forbidden(
            path.child("default"),
            format!("must not be set {reason}"),
        ));
    }
    for (k, what) in [
        ("id", "id"),
        ("additionalItems", "additionalItems"),
        ("patternProperties", "patternProperties"),
        ("definitions", "definitions"),
        ("dependencies", "dependencies"),
        ("$ref", "$ref"),
    ] {
        if m.contains_key(k) {
            out.push(FieldError::forbidden(
                path.child(k),
                format!("{what} is not supported"),
            ));
        }
    }
    if m.get("items").is_some_and(Value::is_array) {
        out.push(FieldError::forbidden(
            path.child("items"),
            "items must be a schema object and not an array",
        ));
    }
    let embedded = flag(m, "x-kubernetes-embedded-resource");
    if ctx.inside_meta && embedded {
        out.push(FieldError::forbidden(
            path.child("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
    if flag(m, "uniqueItems") {
        out.push(FieldError::forbidden(
            path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }

    let props = obj(m, "properties");
    if let Some(ap @ (Value::Bool(false) | Value::Object(_))) = m.get("additionalProperties") {
        if props.is_some_and(|p| !p.is_empty()) {
            out.push(FieldError::forbidden(
                path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Value::Object(apm) = ap {
            let sub = if ctx.inside_meta {
                // Pruning a defaulted map value inside metadata would be ambiguous.
                Ctx {
                    no_defaults: Some("inside additionalProperties applying to object metadata"),
                    ..ctx.below()
                }
            } else {
                ctx.below()
            };
            keywords(apm, &path.child("additionalProperties"), sub, out);
        }
    }
    for (k, v) in props.into_iter().flatten() {
        let Some(pm) = v.as_object() else { continue };
        let mut sub = ctx.below();
        if (ctx.root || embedded) && ["metadata", "apiVersion", "kind"].contains(&k.as_str()) {
            sub.inside_meta = true;
            if ctx.root {
                sub.no_defaults = Some(match k.as_str() {
                    "metadata" => "in top-level metadata",
                    "apiVersion" => "in top-level apiVersion",
                    _ => "in top-level kind",
                });
            }
        }
        keywords(pm, &path.child("properties").key(k), sub, out);
    }
    if let Some(not) = obj(m, "not") {
        keywords(not, &path.child("not"), ctx.below(), out);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, v) in m
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(vm) = v.as_object() {
                keywords(vm, &path.child(key).index(i), ctx.below(), out);
            }
        }
    }
    if let Some(items) = obj(m, "items") {
        keywords(items, &path.child("items"), ctx.below(), out);
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
    map_type(m, ty, path, out);
    list_type(m, ty, path, out);
    rules(m, path, out);
    list_items(m, path, out);
}

/// "must be <t> if <keyword> is specified": Required when the type is missing.
fn type_for(path: &Path, ty: &str, detail: &str) -> FieldError {
    if ty.is_empty() {
        FieldError::required(path.child("type"), detail)
    } else {
        FieldError::invalid(path.child("type"), ty, detail)
    }
}

fn map_type(m: &Obj, ty: &str, path: &Path, out: &mut FieldErrors) {
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

fn list_type(m: &Obj, ty: &str, path: &Path, out: &mut FieldErrors) {
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
fn list_items(m: &Obj, path: &Path, out: &mut FieldErrors) {
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

/// Shape checks of `x-kubernetes-validations` entries (the rules themselves are compiled
/// by the caller's CEL engine).
fn rules(m: &Obj, path: &Path, out: &mut FieldErrors) {
    let Some(list) = m.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    for (i, r) in list.iter().enumerate() {
        let Some(r) = r.as_object() else { continue };
        let rp = path.child("x-kubernetes-validations").index(i);
        let rule = str_of(r, "rule").trim();
        let raw_msg = str_of(r, "message");
        let msg = raw_msg.trim();
        let newline = |s: &str| s.contains(['\n', '\r']);
        if rule.is_empty() {
            out.push(FieldError::required(
                rp.child("rule"),
                "rule is not specified",
            ));
        } else if !raw_msg.is_empty() && msg.is_empty() {
            out.push(FieldError::invalid(
                rp.child("message"),
                raw_msg,
                "message must be non-empty if specified",
            ));
        } else if newline(msg) {
            out.push(FieldError::invalid(
                rp.child("message"),
                raw_msg,
                "message must not contain line breaks",
            ));
        } else if newline(rule) && msg.is_empty() {
            out.push(FieldError::required(
                rp.child("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
    }
}

/// Where a node sits: its type is required everywhere, with a message naming the place.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Field,
    Item,
}

/// The structural invariants of one node and its skeleton below.
fn invariants(m: &Obj, path: &Path, level: Level, out: &mut FieldErrors) {
    let ty = str_of(m, "type");
    let preserve = flag(m, "x-kubernetes-preserve-unknown-fields");
    let int_or_string = flag(m, "x-kubernetes-int-or-string");
    let embedded = flag(m, "x-kubernetes-embedded-resource");
    let props = obj(m, "properties");

    if ty == "array" && !m.contains_key("items") {
        out.push(FieldError::required(
            path.child("items"),
            "must be specified",
        ));
    }
    if let Some(items) = obj(m, "items") {
        invariants(items, &path.child("items"), Level::Item, out);
    }
    for (k, v) in props.into_iter().flatten() {
        if let Some(pm) = v.as_object() {
            invariants(pm, &path.child("properties").key(k), Level::Field, out);
        }
    }
    if let Some(ap) = m.get("additionalProperties") {
        if level == Level::Root {
            out.push(FieldError::forbidden(
                path.child("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Some(apm) = ap.as_object() {
            invariants(apm, &path.child("additionalProperties"), Level::Field, out);
        }
    }
    if int_or_string && preserve {
        out.push(FieldError::invalid(
            path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        out.push(FieldError::invalid(
            path.child("x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    value_validation(m, path, out);

    if embedded && ty != "object" {
        out.push(type_for(
            path,
            ty,
            "must be object if x-kubernetes-embedded-resource is true",
        ));
    } else if ty.is_empty() && !int_or_string && !preserve {
        let detail = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(FieldError::required(path.child("type"), detail));
    }
    if embedded && m.contains_key("additionalProperties") {
        out.push(FieldError::forbidden(
            path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        out.push(FieldError::invalid(
            path.child("type"),
            ty,
            "must be object at the root",
        ));
    }

    let resource = level == Level::Root || embedded;
    if resource {
        for k in ["kind", "apiVersion"] {
            if let Some(p) = props.and_then(|p| obj(p, k)) {
                let t = str_of(p, "type");
                if t != "string" {
                    out.push(FieldError::invalid(
                        path.child("properties").key(k).child("type"),
                        t,
                        "must be string",
                    ));
                }
            }
        }
    }
    if let Some(meta) = props.and_then(|p| obj(p, "metadata")) {
        metadata(
            meta,
            resource,
            level,
            &path.child("properties").key("metadata"),
            out,
        );
    }
    if embedded && !preserve && props.is_none_or(Map::is_empty) {
        out.push(FieldError::required(
            path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// A resource's `metadata` schema is implied (ObjectMeta); at the root it may only
/// restrict `name` and `generateName`.
fn metadata(meta: &Obj, resource: bool, level: Level, path: &Path, out: &mut FieldErrors) {
    let ty = str_of(meta, "type");
    if resource && ty != "object" {
        out.push(FieldError::invalid(
            path.child("type"),
            ty,
            "must be object",
        ));
    }
    if level != Level::Root {
        return;
    }
    let props_ok = obj(meta, "properties")
        .is_none_or(|p| p.keys().all(|k| k == "name" || k == "generateName"));
    // Documentation and the (separately rejected) default say nothing about the shape.
    let harmless = ["type", "properties", "default", "description", "title"];
    let other = meta.keys().any(|k| !harmless.contains(&k.as_str()));
    if !props_ok || other {
        out.push(FieldError::forbidden(
            path.clone(),
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

fn is_int_or_string_any_of(v: Option<&Value>) -> bool {
    v == Some(&serde_json::json!([{"type": "integer"}, {"type": "string"}]))
}

/// allOf/anyOf/oneOf/not of a skeleton node. The two int-or-string patterns (`anyOf` of
/// integer and string, or that anyOf as `allOf[0]`) are allowed to name types.
fn value_validation(m: &Obj, path: &Path, out: &mut FieldErrors) {
    let skip_any_of = is_int_or_string_any_of(m.get("anyOf"));
    let skip_first_all_of_any_of = m
        .get("allOf")
        .and_then(|a| a.get(0))
        .is_some_and(|first| is_int_or_string_any_of(first.get("anyOf")));
    junctors(m, path, skip_any_of, skip_first_all_of_any_of, out);
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        if let Err(e) = regex::Regex::new(p) {
            out.push(FieldError::invalid(
                path.child("pattern"),
                p,
                format!("must be a valid regular expression, but isn't: {e}"),
            ));
        }
    }
}

fn junctors(
    m: &Obj,
    path: &Path,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    out: &mut FieldErrors,
) {
    let list = |k: &str| -> Vec<&Obj> {
        m.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    };
    if !skip_any_of {
        for (i, v) in list("anyOf").into_iter().enumerate() {
            nested(v, &path.child("anyOf").index(i), false, out);
        }
    }
    for (i, v) in list("allOf").into_iter().enumerate() {
        nested(
            v,
            &path.child("allOf").index(i),
            skip_first_all_of_any_of && i == 0,
            out,
        );
    }
    for (i, v) in list("oneOf").into_iter().enumerate() {
        nested(v, &path.child("oneOf").index(i), false, out);
    }
    if let Some(not) = obj(m, "not") {
        nested(not, &path.child("not"), false, out);
    }
}

/// A keyword forbidden in value validations: name, detail, and whether a value counts as set.
type Forbidden = (&'static str, &'static str, fn(&Value) -> bool);

/// A node inside a value validation: it may constrain values only.
fn nested(m: &Obj, path: &Path, skip_any_of: bool, out: &mut FieldErrors) {
    junctors(m, path, skip_any_of, false, out);
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        if let Err(e) = regex::Regex::new(p) {
            out.push(FieldError::invalid(
                path.child("pattern"),
                p,
                format!("must be a valid regular expression, but isn't: {e}"),
            ));
        }
    }
    if let Some(items) = obj(m, "items") {
        nested(items, &path.child("items"), false, out);
    }
    for (k, v) in obj(m, "properties").into_iter().flatten() {
        if let Some(pm) = v.as_object() {
            nested(pm, &path.child("properties").key(k), false, out);
        }
    }
    let forbidden: [Forbidden; 13] = [
        ("type", "must be empty to be structural", |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        }),
        (
            "additionalProperties",
            "must be undefined to be structural",
            |_| true,
        ),
        ("default", "must be undefined to be structural", |v| {
            !v.is_null()
        }),
        ("title", "must be empty to be structural", |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        }),
        ("description", "must be empty to be structural", |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        }),
        ("nullable", "must be false to be structural", |v| {
            v == &Value::Bool(true)
        }),
        (
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
            |v| v == &Value::Bool(true),
        ),
        (
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
            |v| v == &Value::Bool(true),
        ),
        (
            "x-kubernetes-int-or-string",
            "must be false to be structural",
            |v| v == &Value::Bool(true),
        ),
        (
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        ),
        (
            "x-kubernetes-list-type",
            "must be undefined to be structural",
            |v| !v.is_null(),
        ),
        (
            "x-kubernetes-map-type",
            "must be undefined to be structural",
            |v| !v.is_null(),
        ),
        (
            "x-kubernetes-validations",
            "must be empty to be structural",
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        ),
    ];
    for (k, detail, set) in forbidden {
        if m.get(k).is_some_and(set) {
            out.push(FieldError::forbidden(path.child(k), detail));
        }
    }
    if obj(m, "properties").is_some_and(|p| p.contains_key("metadata")) {
        out.push(FieldError::forbidden(
            path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every property and items a value validation of the root mentions must exist in the
/// skeleton too (upstream checks this from the root's value validations only).
fn completeness(v: &Obj, s: &Obj, s_path: &Path, v_path: &Path, out: &mut FieldErrors) {
    let mut visit = |node: &Obj, vp: Path| completeness_nested(node, Some(s), s_path, &vp, out);
    if let Some(not) = obj(v, "not") {
        visit(not, v_path.child("not"));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, x) in v
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(xm) = x.as_object() {
                visit(xm, v_path.child(key).index(i));
            }
        }
    }
}

fn completeness_nested(
    v: &Obj,
    s: Option<&Obj>,
    s_path: &Path,
    v_path: &Path,
    out: &mut FieldErrors,
) {
    let Some(s) = s else {
        out.push(FieldError::required(
            s_path.clone(),
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    completeness(v, s, s_path, v_path, out);
    if let Some(items) = obj(v, "items") {
        completeness_nested(
            items,
            obj(s, "items"),
            &s_path.child("items"),
            &v_path.child("items"),
            out,
        );
    }
    for (k, x) in obj(v, "properties").into_iter().flatten() {
        let Some(xm) = x.as_object() else { continue };
        let sp = s_path.child("properties").key(k);
        let vp = v_path.child("properties").key(k);
        match obj(s, "properties").and_then(|p| obj(p, k)) {
            Some(sm) => completeness_nested(xm, Some(sm), &sp, &vp, out),
            None => out.push(FieldError::required(
                sp,
                format!("because it is defined in {vp}"),
            )),
        }
    }
}

/// Defaults must survive pruning and validate against their own node. Defaults inside the
/// root's type and object meta are reported as forbidden by [`keywords`] instead.
fn defaults(m: &Obj, path: &Path, root: bool, out: &mut FieldErrors) {
    if let Some(d) = m.get("default").filter(|d| !d.is_null()) {
        default(m, d, path, out);
    }
    if let Some(items) = obj(m, "items") {
        defaults(items, &path.child("items"), false, out);
    }
    if let Some(ap) = obj(m, "additionalProperties") {
        defaults(ap, &path.child("additionalProperties"), false, out);
    }
    for (k, v) in obj(m, "properties").into_iter().flatten() {
        let meta = root && ["metadata", "apiVersion", "kind"].contains(&k.as_str());
        if let (false, Some(pm)) = (meta, v.as_object()) {
            defaults(pm, &path.child("properties").key(k), false, out);
        }
    }
}

fn default(m: &Obj, d: &Value, path: &Path, out: &mut FieldErrors) {
    let dp = path.child("default");
    let node = Structural::from_openapi(&Value::Object(m.clone()));
    let mut pruned = d.clone();
    let mut removed = Vec::new();
    super::prune::prune_default(&node, &mut pruned, &mut removed);
    if !removed.is_empty() {
        out.push(FieldError::invalid(
            dp,
            d.clone(),
            "must not have unknown fields",
        ));
        return;
    }
    let mut errs = Vec::new();
    super::validate::check(&node, d, "", &mut errs);
    for mut e in errs {
        // Upstream validates the default as an object of its own, rooted at `.default`.
        e.field = if e.field == ROOT_FIELD {
            dp.to_string()
        } else {
            format!("{dp}.{}", e.field)
        };
        out.push(e);
    }
}
