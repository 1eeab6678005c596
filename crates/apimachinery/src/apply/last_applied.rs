//! The move from client-side to server-side apply.
//!
//! Client-side `kubectl apply` records what it applied in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, and its writes are owned by
//! the updater `kubectl-client-side-apply`. Upstream eases the switch in two places:
//!
//! - kubectl 1.26+ rewrites `managedFields` itself before a server-side apply (client-go's
//!   `csaupgrade`): the fields of the `kubectl-client-side-apply` `Update` entries move into
//!   the `kubectl` `Apply` entry (and those entries go), sent as a JSON patch on
//!   `metadata.managedFields`. That is an ordinary patch here: [`track_update`] keeps the
//!   `managedFields` a write sets (see there).
//! - the apiserver, for the manager named exactly `kubectl`: an apply whose conflicts all lie
//!   in fields the annotation lists, with the live value still the annotation's, is forced
//!   (older kubectl, or a first apply that skipped the rewrite, takes those fields over
//!   without `--force-conflicts`); and after every apply by `kubectl` to an object that has the
//!   annotation, the annotation is rewritten to the applied configuration, so a later
//!   client-side apply computes the right patch.
//!
//! [`track_update`]: super::track_update

use serde_json::{Map, Value};

use super::compare::compare;
use super::config_set::config_field_set;
use super::fieldset::{go_json, FieldSet};
use crate::patch::PatchMeta;

pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager whose applies take part in the move.
pub(crate) const KUBECTL: &str = "kubectl";

fn annotation(obj: &Map<String, Value>) -> Option<&str> {
    obj.get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The fields `kubectl` may take over without forcing: those in the annotation whose live
/// value is still the annotation's. `None` when there is no usable annotation (missing,
/// unparsable, or of another API version), as upstream.
pub(crate) fn allowed_conflicts(
    live: &Map<String, Value>,
    api_version: &str,
    meta: &dyn PatchMeta,
) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(annotation(live)?).ok()?;
    let Value::Object(last) = last else {
        return None;
    };
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    let set = config_field_set(&last, meta).ok()?;
    let cmp = compare(&last, live, meta, &FieldSet::new());
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Rewrites the annotation (if `obj` has one) to `config`, without the annotation itself,
/// encoded as Go encodes it (sorted keys, trailing newline).
pub(crate) fn sync_annotation(obj: &mut Map<String, Value>, config: &Value) {
    if annotation(obj).is_none() {
        return;
    }
    let mut applied = config.clone();
    if let Some(Value::Object(a)) = applied.pointer_mut("/metadata/annotations") {
        a.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    let text = format!("{}\n", go_json(&applied));
    if let Some(Value::Object(a)) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        a.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(text));
    }
}
