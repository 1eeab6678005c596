//! Field ownership on every write (`metadata.managedFields`) and server-side apply, over the
//! pure implementation in `apimachinery::apply`. The registry supplies list and map
//! semantics per kind (`patch_meta`).

use apimachinery::apply::{self, ApplyError, FieldSet, PathElement, WriteOptions};
use serde_json::{json, Value};

use super::Scope;
use crate::error::{details, ApiError, ApiResult};
use crate::objects;

/// Upstream's limit on a manager's name.
const MAX_MANAGER_LEN: usize = 128;

/// The manager a write is recorded under: `?fieldManager=`, else the client's user agent
/// up to its first '/', as upstream does (`kubectl` always names itself).
pub fn manager(scope: &Scope<'_>) -> ApiResult<String> {
    if let Some(m) = scope.param("fieldManager") {
        manager_ok(m)?;
        return Ok(m.to_string());
    }
    let agent = scope
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let prefix = agent.split('/').next().unwrap_or("");
    Ok(prefix.chars().take(MAX_MANAGER_LEN).collect())
}

/// Fields the write's strategy resets, which nobody gains or loses in it: `status` through
/// the main resource of a kind with a status subresource, `spec` through `status`.
fn reset_fields(scope: &Scope<'_>, subresource: Option<&str>) -> FieldSet {
    let mut set = FieldSet::new();
    match subresource {
        None if scope.strategy.has_status() => set.insert(&[PathElement::Field("status".into())]),
        Some("status") => set.insert(&[PathElement::Field("spec".into())]),
        _ => {}
    }
    set
}

/// `new` (the prepared object of a create, update, patch or subresource write) with its
/// managedFields brought up to date.
pub fn track(
    scope: &Scope<'_>,
    old: Option<&Value>,
    new: Value,
    subresource: Option<&str>,
) -> ApiResult<Value> {
    let manager = manager(scope)?;
    let builtin = registry::patch_meta::patch_meta_for(scope.info);
    let custom = scope.strategy.apply_meta();
    let meta: &dyn apimachinery::patch::PatchMeta = custom.as_deref().unwrap_or(&builtin);
    let ignored = reset_fields(scope, subresource);
    Ok(apply::track_update_with(
        old,
        new,
        &manager,
        &scope.info.api_version(),
        &objects::now_rfc3339(),
        meta,
        WriteOptions {
            subresource,
            ignored: Some(&ignored),
        },
    ))
}

/// Server-side apply of `config` to `live` (`None`: the object does not exist yet), to the
/// main resource or through a subresource (`status`).
pub fn apply(
    scope: &Scope<'_>,
    name: &str,
    live: Option<&Value>,
    config: &Value,
    subresource: Option<&str>,
) -> ApiResult<Value> {
    let Some(manager) = scope.param("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PATCH request: fieldManager is required for apply requests",
        ));
    };
    let manager = manager.to_string();
    manager_ok(&manager)?;
    let force = scope
        .param("force")
        .is_some_and(|f| f == "true" || f == "1");
    let builtin = registry::patch_meta::patch_meta_for(scope.info);
    let custom = scope.strategy.apply_meta();
    let meta: &dyn apimachinery::patch::PatchMeta = custom.as_deref().unwrap_or(&builtin);
    let ignored = reset_fields(scope, subresource);
    apply::apply_with(
        live,
        config,
        &manager,
        force,
        &scope.info.api_version(),
        &objects::now_rfc3339(),
        meta,
        WriteOptions {
            subresource,
            ignored: Some(&ignored),
        },
    )
    .map_err(|e| apply_error(scope, name, e))
}

fn manager_ok(m: &str) -> ApiResult<()> {
    if m.len() > MAX_MANAGER_LEN {
        return Err(ApiError::bad_request(format!(
            "fieldManager: Too long: may not be more than {MAX_MANAGER_LEN} bytes"
        )));
    }
    if m.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "fieldManager: Invalid value: {m:?}: may only contain printable characters"
        )));
    }
    Ok(())
}

fn apply_error(scope: &Scope<'_>, name: &str, e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflicts(conflicts) => {
            let mut d = details(scope.info.group, scope.info.plural, name);
            d["causes"] = conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.cause_message(), "field": c.field}))
                .collect::<Vec<Value>>()
                .into();
            ApiError {
                details: Some(d),
                ..ApiError::new(409, "Conflict", apply::conflict_message(&conflicts))
            }
        }
        ApplyError::Invalid(m) => ApiError::bad_request(m),
        ApplyError::StoredManagedFields(m) => {
            ApiError::internal(format!("failed to decode managed fields: {m}"))
        }
    }
}
