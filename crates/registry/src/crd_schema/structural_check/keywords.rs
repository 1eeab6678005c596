//! The keyword checks upstream runs on every schema node, in schema order: unsupported
//! keywords, forbidden defaults, list and map types, rule shapes.

use super::{flag, list_types, obj, str_of, Obj};
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// Where a keyword check runs: at the resource root, inside a resource's type/object meta
/// (defaults are not allowed in the root's), or elsewhere.
#[derive(Clone, Copy)]
pub(super) struct Ctx {
    root: bool,
    inside_meta: bool,
    /// Why defaults are forbidden here, if they are.
    no_defaults: Option<&'static str>,
}

impl Ctx {
    pub(super) const ROOT: Ctx = Ctx {
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

/// The keyword checks of one node, then of the nodes below it.
pub(super) fn check(m: &Obj, path: &Path, ctx: Ctx, out: &mut FieldErrors) {
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
            check(apm, &path.child("additionalProperties"), sub, out);
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
        check(pm, &path.child("properties").key(k), sub, out);
    }
    if let Some(not) = obj(m, "not") {
        check(not, &path.child("not"), ctx.below(), out);
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
                check(vm, &path.child(key).index(i), ctx.below(), out);
            }
        }
    }
    if let Some(items) = obj(m, "items") {
        check(items, &path.child("items"), ctx.below(), out);
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
    list_types::map_type(m, ty, path, out);
    list_types::list_type(m, ty, path, out);
    rules(m, path, out);
    list_types::list_items(m, path, out);
}

/// "must be <t> if <keyword> is specified": Required when the type is missing.
pub(super) fn type_for(path: &Path, ty: &str, detail: &str) -> FieldError {
    if ty.is_empty() {
        FieldError::required(path.child("type"), detail)
    } else {
        FieldError::invalid(path.child("type"), ty, detail)
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
