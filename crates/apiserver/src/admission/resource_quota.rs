//! Upstream's `ResourceQuota` admission plugin: a create (or an update, for what it adds)
//! that would take a namespace past a quota's `hard` is refused (403), and an admitted one
//! is charged to the quota's `status.used` before it is stored. The charge is a compare-and-swap on the quota's
//! revision, retried on conflict, so two racing creates cannot both take the last unit.
//! The ResourceQuota controller later recounts `used` from what exists, which also gives
//! back a charge whose create failed after admission (as upstream).
//!
//! The verdict itself is pure, in `resource_quota/usage.rs`.

mod usage;

use serde_json::Value;

use super::forbidden;
use crate::error::{ApiError, ApiResult};
use crate::rest::Scope;

/// Attempts before giving up on a quota that keeps changing under us.
const RETRIES: usize = 16;

pub async fn admit_create(scope: &Scope<'_>, obj: &Value) -> ApiResult<()> {
    if !has_quota(scope) {
        return Ok(());
    }
    let delta = usage::delta(scope.info.group, scope.info.plural, obj);
    charge(scope, obj, &delta, true).await
}

/// An update is charged what it adds (see `usage::update_delta`); it runs after the
/// update's validation and the other admission, so nothing needs checking first.
pub async fn admit_update(scope: &Scope<'_>, new: &Value, old: &Value) -> ApiResult<()> {
    if !has_quota(scope) {
        return Ok(());
    }
    let delta = usage::update_delta(scope.info.group, scope.info.plural, new, old);
    if delta.is_empty() {
        return Ok(());
    }
    charge(scope, new, &delta, false).await
}

/// Whether the request's namespace has a quota. Most have none: the watch cache says so
/// without a store read and before the request's usage is worked out. A quota binds only
/// once the controller has written its `status.hard`, which it does after seeing the quota
/// through this same cache.
fn has_quota(scope: &Scope<'_>) -> bool {
    let Some(ns) = scope.namespace.as_deref().filter(|_| scope.info.namespaced) else {
        return false;
    };
    scope
        .api
        .cache
        .count(&format!("/registry/resourcequotas/{ns}/"))
        > 0
}

/// Checks `delta` of `obj` against every quota of the namespace and charges it. With
/// `check_store`, a create that would fail anyway (invalid, name taken) is not charged.
async fn charge(
    scope: &Scope<'_>,
    obj: &Value,
    delta: &std::collections::BTreeMap<String, super::quantity::Amount>,
    check_store: bool,
) -> ApiResult<()> {
    let Some(ns) = scope.namespace.as_deref().filter(|_| scope.info.namespaced) else {
        return Ok(());
    };
    let (group, plural) = (scope.info.group, scope.info.plural);
    // Quotas already charged for this create, by name: a retry re-reads only the others.
    let mut charged: Vec<String> = Vec::new();
    for _ in 0..RETRIES {
        let listed = scope
            .api
            .store
            .list(
                &format!("/registry/resourcequotas/{ns}/"),
                Default::default(),
            )
            .await?;
        let mut updates = Vec::new();
        for kv in &listed.kvs {
            let Ok(quota) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            let name = crate::objects::name(&quota).to_string();
            if charged.contains(&name) {
                continue;
            }
            if let Some(used) = usage::admit_delta(&quota, group, plural, obj, delta)
                .map_err(|why| forbidden(scope, obj, why))?
            {
                updates.push((kv.key.clone(), kv.mod_revision, name, quota, used));
            }
        }
        if updates.is_empty() || scope.dry_run() {
            return Ok(());
        }
        if check_store && !would_store(scope, obj) {
            // The create fails later anyway; a charge now would linger until the recount.
            return Ok(());
        }
        let mut conflict = false;
        for (key, rev, name, mut quota, used) in updates {
            quota["status"]["used"] = serde_json::to_value(used).unwrap_or(Value::Null);
            if let Some(m) = quota.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            let raw = serde_json::to_vec(&quota).map_err(ApiError::internal)?;
            match scope.api.store.update(&key, raw.into(), rev).await {
                Ok(_) => charged.push(name),
                Err(store::Error::Conflict { .. } | store::Error::NotFound(_)) => conflict = true,
                Err(e) => return Err(e.into()),
            }
        }
        if !conflict {
            return Ok(());
        }
    }
    Err(ApiError::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {}: too many concurrent changes to resource quotas in namespace {ns}, please retry",
            crate::error::qualified(group, plural)
        ),
    ))
}

/// Whether the create, as admitted so far, passes the resource's validation and names an
/// object that does not exist yet. Admission runs before validation here, so quota checks
/// a copy first: a request refused for any reason must leave the quota as it was.
fn would_store(scope: &Scope<'_>, obj: &Value) -> bool {
    let mut copy = obj.clone();
    let ctx = registry::generic::CreateContext {
        uid: "00000000-0000-0000-0000-000000000000",
        now: "1970-01-01T00:00:00Z",
        name_suffix: "xxxxx",
    };
    let errs = registry::generic::prepare_create(scope.info, scope.strategy, &mut copy, &ctx);
    if !errs.is_empty() {
        return false;
    }
    let name = crate::objects::name(obj);
    name.is_empty() || scope.api.cache.get(&scope.key(name)).is_none()
}
