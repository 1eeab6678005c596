//! Mutating webhooks: called one after another, each seeing the previous ones' changes;
//! JSONPatch replies are applied to the object. A webhook with `reinvocationPolicy:
//! IfNeeded` is called once more if a later webhook changed the object after it ran.

use serde_json::Value;

use super::config::Webhook;
use super::{failed, invoke, Request};
use crate::error::ApiResult;

pub(super) async fn run(
    req: &Request<'_>,
    hooks: &[Webhook],
    object: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    // For each IfNeeded webhook that ran: the object as it left that webhook.
    let mut reinvoke: Vec<(usize, Value)> = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        if call_one(req, hook, object, old, &mut warnings).await? && hook.reinvoke_if_needed() {
            reinvoke.push((i, object.clone()));
        }
    }
    for (i, after) in reinvoke {
        // Only if someone changed the object since; each webhook is reinvoked at most once.
        if after != *object {
            call_one(req, &hooks[i], object, old, &mut warnings).await?;
        }
    }
    Ok(warnings)
}

/// Calls one webhook and applies its patch. `Ok(true)`: it was called and answered.
async fn call_one(
    req: &Request<'_>,
    hook: &Webhook,
    object: &mut Value,
    old: Option<&Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<bool> {
    let Some(reply) = invoke(req, hook, Some(object), old).await? else {
        return Ok(false);
    };
    warnings.extend(reply.warnings);
    if let Some(patch) = reply.patch {
        match apimachinery::patch::json_patch(object, &patch) {
            Ok(patched) if patched.is_object() => *object = patched,
            Ok(_) => return Err(failed(hook, "the patched object is not a JSON object")),
            // A patch that does not apply is the webhook's bug: upstream reports it as a
            // call failure, not subject to the failure policy.
            Err(e) => return Err(failed(hook, &e.status_message())),
        }
    }
    Ok(true)
}
