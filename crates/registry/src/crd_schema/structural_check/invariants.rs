//! Structural invariants: every node has a type (outside preserve-unknown-fields and
//! int-or-string), arrays have items, resources' metadata is implied, embedded resources
//! are objects.

use super::keywords::type_for;
use super::value_validations;
use super::{flag, obj, str_of, Obj};
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Map;

/// Where a node sits: its type is required everywhere, with a message naming the place.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Level {
    Root,
    Field,
    Item,
}

/// The structural invariants of one node and its skeleton below.
pub(super) fn check(m: &Obj, path: &Path, level: Level, out: &mut FieldErrors) {
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
        check(items, &path.child("items"), Level::Item, out);
    }
    for (k, v) in props.into_iter().flatten() {
        if let Some(pm) = v.as_object() {
            check(pm, &path.child("properties").key(k), Level::Field, out);
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
            check(apm, &path.child("additionalProperties"), Level::Field, out);
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
    value_validations::check(m, path, out);

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
