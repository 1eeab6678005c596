//! The rules every kind shares, run around its strategy's hooks, as upstream's generic
//! registry store does: identity and timestamps on create, status kept apart from spec,
//! `generation` bumped on spec changes only, immutable metadata.

use apimachinery::field::{FieldError, FieldErrors};
use serde_json::{Map, Value};

use crate::{ResourceInfo, Strategy};

/// What the apiserver decides for a create: the values the object cannot choose itself.
pub struct CreateContext<'a> {
    pub uid: &'a str,
    /// RFC 3339, second precision, UTC (`2026-11-22T01:02:03Z`).
    pub now: &'a str,
    /// Random suffix for `generateName` (upstream: 5 chars from a consonant-digit alphabet).
    pub name_suffix: &'a str,
}

/// `obj.metadata` as a map, created if missing; `None` only if `obj` is not an object
/// (the apiserver decodes every object into its typed struct first, so never in practice).
fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let m = obj
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut()
}

/// Resolves `generateName` into `name` when no name is given.
pub fn resolve_generate_name(obj: &mut Value, suffix: &str) {
    let Some(meta) = meta_mut(obj) else { return };
    let has_name = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if has_name {
        return;
    }
    if let Some(base) = meta
        .get("generateName")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
    {
        // Upstream truncates the base so the result stays within 63 characters.
        let max_base = 63 - suffix.len();
        let base: String = base.chars().take(max_base).collect();
        meta.insert("name".into(), Value::String(format!("{base}{suffix}")));
    }
}

/// Runs the create pipeline on `obj`: identity, defaults, strategy preparation, validation.
pub fn prepare_create(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    obj: &mut Value,
    ctx: &CreateContext<'_>,
) -> FieldErrors {
    resolve_generate_name(obj, ctx.name_suffix);
    if let Some(meta) = meta_mut(obj) {
        meta.insert("uid".into(), Value::String(ctx.uid.to_string()));
        meta.insert(
            "creationTimestamp".into(),
            Value::String(ctx.now.to_string()),
        );
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(k);
        }
        if strategy.tracks_generation() {
            meta.insert("generation".into(), Value::from(1));
        } else {
            meta.remove("generation");
        }
        if !info.namespaced {
            meta.remove("namespace");
        }
    }
    if strategy.has_status() {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    strategy.default(obj);
    strategy.prepare_for_create(obj);
    let mut errs = validate_meta(info, obj);
    errs.extend(strategy.validate(obj));
    errs
}

/// Runs the update pipeline (main resource): `new` keeps `old`'s identity and status.
pub fn prepare_update(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    new: &mut Value,
    old: &Value,
) -> FieldErrors {
    let mut errs = FieldErrors::new();
    {
        let old_meta = old.get("metadata").cloned().unwrap_or(Value::Null);
        let Some(meta) = meta_mut(new) else {
            return vec![FieldError::invalid(
                "metadata",
                Value::Null,
                "must be an object",
            )];
        };
        // Identity the client left out is kept; changing it is an error (validated below).
        for k in ["uid", "creationTimestamp"] {
            if let (None, Some(v)) = (meta.get(k), old_meta.get(k)) {
                meta.insert(k.into(), v.clone());
            }
        }
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(v) => meta.insert(k.into(), v.clone()),
                None => meta.remove(k),
            };
        }
        meta.remove("selfLink");
        if !info.namespaced {
            meta.remove("namespace");
        }
    }
    if strategy.has_status() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    strategy.default(new);
    strategy.prepare_for_update(new, old);
    if strategy.tracks_generation() && spec_changed(new, old, strategy.has_status()) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(meta) = meta_mut(new) {
            meta.insert("generation".into(), Value::from(g + 1));
        }
    }
    errs.extend(validate_meta(info, new));
    errs.extend(crate::meta::validate_update(new, old));
    errs.extend(strategy.validate_update(new, old));
    errs
}

/// The status subresource: only `status` (and nothing else) comes from `new`.
pub fn prepare_status_update(new: &Value, old: &Value) -> Value {
    let mut out = old.clone();
    match new.get("status") {
        Some(s) => out["status"] = s.clone(),
        None => {
            if let Some(o) = out.as_object_mut() {
                o.remove("status");
            }
        }
    }
    // The resourceVersion precondition travels with the request.
    if let Some(rv) = new.pointer("/metadata/resourceVersion") {
        if let Some(meta) = meta_mut(&mut out) {
            meta.insert("resourceVersion".into(), rv.clone());
        }
    }
    out
}

/// Everything but metadata and status counts as spec for generation tracking.
/// Whether anything but metadata (and status, when a status subresource owns it) changed.
fn spec_changed(new: &Value, old: &Value, status_apart: bool) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            if status_apart {
                o.remove("status");
            }
            o.remove("apiVersion");
            o.remove("kind");
        }
        v
    };
    strip(new) != strip(old)
}

fn validate_meta(info: &ResourceInfo, obj: &Value) -> FieldErrors {
    let meta = obj.get("metadata").cloned().unwrap_or(Value::Null);
    crate::meta::validate(info, &meta)
}
