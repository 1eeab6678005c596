//! RFC 7386 JSON merge patch (`application/merge-patch+json`).

use serde_json::Value;

use super::PatchError;

/// Applies an RFC 7386 merge patch: objects merge recursively, `null` deletes a field, and any
/// other value (lists included) replaces what was there.
///
/// The patch must be an object, as upstream requires for API objects; anything else is
/// upstream's `Invalid JSON Patch` (500, see [`PatchError`]).
pub fn merge_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::InvalidMergePatch);
    }
    let mut out = doc.clone();
    json_patch::merge(&mut out, patch);
    Ok(out)
}
