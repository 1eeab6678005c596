//! Server-side apply: field ownership (`metadata.managedFields`), merging an applied
//! configuration into the live object, and apply conflicts, as upstream's apiserver does them
//! (structured-merge-diff and the field manager around it).
//!
//! - [`apply`] is a `PATCH` with `application/apply-patch+yaml`: the applier's `Apply` entry
//!   becomes exactly the fields of its configuration; fields it applied before and no longer
//!   does are removed from the object unless another manager owns them; changing a field
//!   another manager owns is a conflict unless forced, which moves the field to the applier;
//!   applying a field with the value it already has shares it.
//! - [`track_update`] is every other write (create, update, non-apply patch, subresources):
//!   what the write added or changed becomes the writer's (`Update` entry) and leaves every
//!   other entry; what it removed is owned by no one.
//!
//! Entries: an applier has one per manager and subresource (its `apiVersion` is the last one
//! it applied with), an updater one per manager, `apiVersion` and subresource. An entry's
//! `time` moves when its write changed the object; an entry that owns nothing is dropped;
//! past ten updaters the oldest merge into `ancient-changes`; entries are written appliers
//! first, then by time, manager, version and subresource. See `last_applied.rs` for the move
//! from client-side apply and [`BEFORE_FIRST_APPLY`] for objects never tracked.
//!
//! List and object semantics come from [`PatchMeta`]: [`PatchMeta::list_type`] (atomic list,
//! list-map by keys, set), [`PatchMeta::atomic_object`], [`PatchMeta::list_key_default`] and
//! [`PatchMeta::always_present`].
//!
//! Not tracked (as upstream): `apiVersion`, `kind`, `metadata` itself and its `name`,
//! `namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`, `selfLink`,
//! `clusterName`, `managedFields`. Labels, annotations, finalizers and owner references are.
//!
//! Fields a strategy resets (`status` on the main resource, `spec` on `/status`) are passed as
//! [`WriteOptions::ignored`]: nobody gains or loses them in that write, as upstream. Resetting
//! their values in the object stays the caller's (the registry's strategies).
//!
//! Where this differs from upstream, knowingly: "named fields" (which a previous apply's
//! fields make removable) are every object field here, also keys of maps of objects, since
//! JSON does not tell structs from maps; and [`PatchMeta::always_present`] is not applied
//! inside list items.

mod compare;
mod config_set;
mod conflicts;
mod fieldset;
mod last_applied;
mod managed;
mod merge;
mod path;
mod prune;
mod schema;
mod update;

#[cfg(test)]
mod test_meta;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use crate::patch::ListType;
pub use conflicts::{conflict_message, Conflict};
pub use fieldset::FieldSet;
pub use last_applied::LAST_APPLIED_ANNOTATION;
pub use managed::{ManagedEntry, ManagedFields, Operation};
pub use path::{path_text, Path, PathElement};

use crate::patch::PatchMeta;
use compare::compare;
use config_set::config_field_set;
use merge::merge_objects;
use prune::prune_object;
use update::{record_update, untracked_fields, Writer};

/// The manager upstream gives the fields of an object that has no `managedFields` when it is
/// first applied to (an object written before tracking began, or whose entries were reset).
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// The applier would change fields other managers own (409 `Conflict`; the message is
    /// [`conflict_message`], each conflict one `FieldManagerConflict` cause).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// A bad applied configuration or bad `managedFields` in a request (400 `BadRequest`).
    #[error("{0}")]
    Invalid(String),
    /// The stored object's `managedFields` do not decode (upstream answers 500).
    #[error("failed to decode managed fields: {0}")]
    StoredManagedFields(String),
}

impl ApplyError {
    /// The HTTP status upstream answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::Invalid(_) => 400,
            ApplyError::StoredManagedFields(_) => 500,
        }
    }
}

/// What most writes leave at the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions<'a> {
    /// The subresource written through (`status`, `scale`); `None` for the main resource.
    /// Entries of a subresource are separate managers.
    pub subresource: Option<&'a str>,
    /// Paths the write's strategy resets (upstream's "reset fields": `status` on the main
    /// resource, `spec` and most of `metadata` on `/status`), with everything under them: no
    /// manager gains or loses them in this write, and applying them is not a conflict.
    pub ignored: Option<&'a FieldSet>,
}

/// Server-side apply of `config` (the applied configuration, a full or partial object) by
/// `manager` to `live` (`None`: the object does not exist yet). Returns the new object with
/// `metadata.managedFields` updated, or the conflicts. `now` (RFC 3339) stamps the applier's
/// entry when the object changed; `api_version` is the version applied with (the request's).
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
    meta: &dyn PatchMeta,
) -> Result<Value, ApplyError> {
    apply_with(
        live,
        config,
        manager,
        force,
        api_version,
        now,
        meta,
        WriteOptions::default(),
    )
}

/// [`apply`] through a subresource or with reset fields.
#[allow(clippy::too_many_arguments)]
pub fn apply_with(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
    meta: &dyn PatchMeta,
    opts: WriteOptions<'_>,
) -> Result<Value, ApplyError> {
    let no_paths = FieldSet::new();
    let ignored = opts.ignored.unwrap_or(&no_paths);
    let subresource = opts.subresource.unwrap_or("");
    let Value::Object(config_map) = config else {
        return Err(ApplyError::Invalid(
            "the applied configuration must be an object".into(),
        ));
    };
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    if let Some(v) = config.get("apiVersion").and_then(Value::as_str) {
        if v != api_version {
            return Err(ApplyError::Invalid(format!(
                "Incorrect version specified in apply patch. Specified patch version: {v}, expected: {api_version}"
            )));
        }
    }
    let mut managed = match live {
        Some(l) => ManagedFields::from_object(l).map_err(|e| match e {
            ApplyError::Invalid(m) => ApplyError::StoredManagedFields(m),
            other => other,
        })?,
        None => ManagedFields::default(),
    };
    let live_obj = live.map(without_managed_fields).unwrap_or_default();
    if managed.is_empty() && live.is_some() {
        // Nothing tracked yet: whatever the object holds was written by someone, so the
        // applier must not silently take it over.
        let writer = Writer {
            manager: BEFORE_FIRST_APPLY,
            api_version,
            subresource,
            now,
            ignored,
        };
        record_update(&mut managed, &Map::new(), &live_obj, &writer, meta);
    }
    let applier = ManagedEntry {
        manager: manager.to_string(),
        operation: Operation::Apply,
        api_version: api_version.to_string(),
        time: None,
        subresource: subresource.to_string(),
        fields: FieldSet::new(),
    };
    let once = |force| {
        apply_once(
            &live_obj, config_map, &managed, &applier, force, meta, ignored,
        )
    };
    let outcome = match once(force) {
        Err(ApplyError::Conflicts(conflicts)) if manager == last_applied::KUBECTL => {
            let Some(allowed) = last_applied::allowed_conflicts(&live_obj, api_version, meta)
            else {
                return Err(ApplyError::Conflicts(conflicts));
            };
            let left: Vec<Conflict> = conflicts
                .into_iter()
                .filter(|c| !allowed.has(&c.path))
                .collect();
            if !left.is_empty() {
                return Err(ApplyError::Conflicts(left));
            }
            once(true)?
        }
        other => other?,
    };
    let Applied {
        object,
        mut managed,
        changed,
    } = outcome;
    if changed {
        if let Some(e) = managed.0.iter_mut().find(|e| e.same_manager(&applier)) {
            e.time = Some(now.to_string());
        }
    }
    let mut object = object;
    if manager == last_applied::KUBECTL {
        last_applied::sync_annotation(&mut object, config);
    }
    let mut out = Value::Object(object);
    managed.write_to(&mut out);
    Ok(out)
}

struct Applied {
    object: Map<String, Value>,
    managed: ManagedFields,
    /// Whether the object differs from the live one (the applier's time moves only then).
    changed: bool,
}

fn apply_once(
    live: &Map<String, Value>,
    config: &Map<String, Value>,
    managed: &ManagedFields,
    applier: &ManagedEntry,
    force: bool,
    meta: &dyn PatchMeta,
    ignored: &FieldSet,
) -> Result<Applied, ApplyError> {
    let applied = config_field_set(config, meta)
        .map_err(ApplyError::Invalid)?
        .recursive_difference(ignored);
    let mut merged = merge_objects(live, config, meta);
    let previous = managed.get(applier).cloned();
    let mut managers = managed.clone();
    managers.put(ManagedEntry {
        fields: applied.clone(),
        api_version: applier.api_version.clone(),
        time: previous.as_ref().and_then(|p| p.time.clone()),
        ..applier.clone()
    });
    if let Some(previous) = previous.filter(|p| !p.fields.is_empty()) {
        let owned = managers
            .0
            .iter()
            .fold(FieldSet::new(), |all, e| all.union(&e.fields))
            .with_fields_as_members();
        prune_object(
            &mut merged,
            &previous.fields.with_fields_as_members(),
            Some(&owned),
            meta,
        );
    }
    let cmp = compare(live, &merged, meta, ignored);
    let changed_fields = cmp.changed();
    let mut conflicts = Vec::new();
    for e in managers.0.iter_mut().filter(|e| !e.same_manager(applier)) {
        let taken = e.fields.intersection(&changed_fields);
        if !taken.is_empty() {
            conflicts.extend(Conflict::from_set(e, &taken));
            e.fields = e.fields.difference(&taken);
        }
        e.fields = e.fields.difference(&cmp.removed);
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        return Err(ApplyError::Conflicts(conflicts));
    }
    let untracked = untracked_fields();
    for e in managers.0.iter_mut().filter(|e| e.same_manager(applier)) {
        e.fields = e.fields.difference(untracked);
    }
    managers.drop_empty();
    Ok(Applied {
        changed: merged != *live,
        object: merged,
        managed: managers,
    })
}

/// Ownership tracking for a non-apply write (create, update, patch) by `manager`: fields
/// changed from `old` to `new` (`None`: a create, which owns every field) become `manager`'s
/// (`Update` entry for `api_version` and `subresource`, stamped `now`) and leave every other
/// manager's set. Returns `new` with `managedFields` set.
///
/// As upstream: the write's own `managedFields` are kept when it sets some that decode (how
/// kubectl moves client-side-apply ownership to its applier), `[]` or `[{}]` clears them,
/// and otherwise (or for a subresource, which cannot set them) the old object's are used. An
/// existing object with no `managedFields` stays untracked until it is applied to.
pub fn track_update(
    old: Option<&Value>,
    new: Value,
    manager: &str,
    api_version: &str,
    now: &str,
    meta: &dyn PatchMeta,
    subresource: Option<&str>,
) -> Value {
    let opts = WriteOptions {
        subresource,
        ignored: None,
    };
    track_update_with(old, new, manager, api_version, now, meta, opts)
}

/// [`track_update`] with reset fields.
pub fn track_update_with(
    old: Option<&Value>,
    new: Value,
    manager: &str,
    api_version: &str,
    now: &str,
    meta: &dyn PatchMeta,
    opts: WriteOptions<'_>,
) -> Value {
    let no_paths = FieldSet::new();
    let subresource = opts.subresource;
    let mut managed = managed_for_write(old, &new, subresource.is_some());
    let Value::Object(mut new_obj) = new else {
        return new;
    };
    if let Some(Value::Object(m)) = new_obj.get_mut("metadata") {
        m.shift_remove("managedFields");
    }
    if managed.is_empty() && old.is_some() {
        return Value::Object(new_obj);
    }
    let baseline = match old {
        Some(o) => without_managed_fields(o),
        None => Map::new(),
    };
    let writer = Writer {
        manager,
        api_version,
        subresource: subresource.unwrap_or(""),
        now,
        ignored: opts.ignored.unwrap_or(&no_paths),
    };
    record_update(&mut managed, &baseline, &new_obj, &writer, meta);
    let mut out = Value::Object(new_obj);
    managed.write_to(&mut out);
    out
}

/// The entries a write starts from (upstream's rules; see [`track_update`]). Undecodable
/// entries count as none: a write never fails over them.
fn managed_for_write(old: Option<&Value>, new: &Value, subresource: bool) -> ManagedFields {
    let from_old = || {
        old.and_then(|o| ManagedFields::from_object(o).ok())
            .unwrap_or_default()
    };
    if subresource {
        return from_old();
    }
    if let Some(Value::Array(entries)) = new.pointer("/metadata/managedFields") {
        let reset = match entries.as_slice() {
            [] => true,
            [only] => only
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_null)),
            _ => false,
        };
        if reset {
            return ManagedFields::default();
        }
    }
    match ManagedFields::from_object(new) {
        Ok(m) if !m.is_empty() => m,
        _ => from_old(),
    }
}

fn without_managed_fields_value(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Object(m)) = out.get_mut("metadata") {
        m.shift_remove("managedFields");
    }
    out
}

fn without_managed_fields(obj: &Value) -> Map<String, Value> {
    match without_managed_fields_value(obj) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
