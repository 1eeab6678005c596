//! Ownership for writes that are not applies (create, update, patch, and the
//! `before-first-apply` step): whatever the write added or changed becomes the writer's,
//! nobody owns what it removed.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::compare::compare;
use super::fieldset::FieldSet;
use super::managed::{ManagedEntry, ManagedFields, Operation};
use super::path::PathElement;
use crate::patch::PatchMeta;

/// How many updaters an object keeps before the oldest are merged into `ancient-changes`.
const MAX_UPDATE_MANAGERS: usize = 10;
const ANCIENT_CHANGES: &str = "ancient-changes";

/// The fields no manager owns: type and identity, and what the server sets (built once:
/// every write consults it).
pub(crate) fn untracked_fields() -> &'static FieldSet {
    static UNTRACKED: std::sync::LazyLock<FieldSet> = std::sync::LazyLock::new(build_untracked);
    &UNTRACKED
}

fn build_untracked() -> FieldSet {
    let mut s = FieldSet::new();
    let f = |n: &str| PathElement::Field(n.to_string());
    s.insert(&[f("apiVersion")]);
    s.insert(&[f("kind")]);
    s.insert(&[f("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&[f("metadata"), f(name)]);
    }
    s
}

/// Records that `manager` changed `old` into `new`.
pub(crate) struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub now: &'a str,
    /// Paths no manager owns in this write (see [`super::apply_ignoring`]).
    pub ignored: &'a FieldSet,
}

pub(crate) fn record_update(
    managed: &mut ManagedFields,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    w: &Writer<'_>,
    meta: &dyn PatchMeta,
) {
    let (mut changed, removed) = compare(old, new, meta, w.ignored).into_changed_and_removed();
    // The writer's own earlier entry loses these too, and gets them back below: the entry's
    // time moves only when the write took something.
    for e in &mut managed.0 {
        e.fields.subtract(&changed);
        e.fields.subtract(&removed);
    }
    changed.subtract(untracked_fields());
    let taken = changed;
    if !taken.is_empty() {
        let like = ManagedEntry {
            manager: w.manager.to_string(),
            operation: Operation::Update,
            api_version: w.api_version.to_string(),
            time: Some(w.now.to_string()),
            subresource: w.subresource.to_string(),
            fields: FieldSet::new(),
        };
        match managed.0.iter_mut().find(|e| e.same_manager(&like)) {
            Some(e) => {
                let mut fields = std::mem::take(&mut e.fields);
                fields.absorb(taken);
                *e = ManagedEntry { fields, ..like };
            }
            None => managed.0.push(ManagedEntry {
                fields: taken,
                ..like
            }),
        }
    }
    managed.drop_empty();
    cap_update_managers(managed);
}

/// Keeps at most [`MAX_UPDATE_MANAGERS`] updaters: the oldest are merged, per API version,
/// into an `ancient-changes` entry (the oldest of a version becomes that entry, later ones are
/// added to it and give it their time), as upstream.
fn cap_update_managers(managed: &mut ManagedFields) {
    let is_update = |e: &&ManagedEntry| e.operation == Operation::Update;
    if managed.0.iter().filter(is_update).count() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let mut updaters: Vec<ManagedEntry> = managed.0.iter().filter(is_update).cloned().collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|a, b| {
        a.seconds()
            .cmp(&b.seconds())
            .then_with(|| a.identifier().cmp(&b.identifier()))
    });
    let mut count = updaters.len();
    let mut first_of_version: HashMap<String, ManagedEntry> = HashMap::new();
    for u in updaters {
        if count <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(first) = first_of_version.get(&u.api_version) else {
            first_of_version.insert(u.api_version.clone(), u);
            continue;
        };
        let bucket_like = ManagedEntry {
            manager: ANCIENT_CHANGES.to_string(),
            operation: Operation::Update,
            api_version: u.api_version.clone(),
            time: None,
            subresource: String::new(),
            fields: FieldSet::new(),
        };
        let mut bucket = match managed.take(&bucket_like) {
            Some(b) => b,
            None => match managed.take(first) {
                Some(f) => ManagedEntry {
                    manager: ANCIENT_CHANGES.to_string(),
                    subresource: String::new(),
                    ..f
                },
                None => continue,
            },
        };
        bucket.fields = bucket.fields.union(&u.fields);
        bucket.time = u.time.clone();
        managed.take(&u);
        managed.put(bucket);
        count -= 1;
    }
}
