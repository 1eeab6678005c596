//! `pods/{name}/eviction` (upstream's `EvictionREST`): a pod is deleted only if the
//! PodDisruptionBudget that covers it allows one more disruption, which the eviction spends
//! (`disruptionsAllowed` down by one, the pod noted in `disruptedPods`) before deleting.

use std::collections::HashMap;

use http::Response;
use serde_json::{json, Map, Value};

use super::delete::{self, DeleteOptions};
use super::write::{current, persist, Written};
use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::objects;

/// Upstream's `MaxDisruptedPodSize`: evictions the disruption controller has not yet seen.
const MAX_DISRUPTED_PODS: usize = 2000;
const RETRIES: usize = 16;
const TOO_MANY: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

pub async fn evict(scope: &Scope<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let eviction = body::decode_object(scope.headers, raw)?;
    if objects::meta_str(&eviction, "name").unwrap_or("") != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let delete_options = eviction.get("deleteOptions").filter(|v| v.is_object());
    // A dry run asked for in the eviction's options counts as one asked for in the query.
    let body_dry_run = delete_options
        .and_then(|o| o.get("dryRun"))
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "All"));
    let mut query: HashMap<String, String> = scope.query.clone();
    if body_dry_run {
        query.insert("dryRun".into(), "All".into());
    }
    let scope = Scope {
        api: scope.api,
        info: scope.info,
        strategy: scope.strategy,
        namespace: scope.namespace.clone(),
        name: scope.name.clone(),
        query: &query,
        headers: scope.headers,
        user: scope.user,
    };
    let scope = &scope;
    let mut opts = delete::options_from(scope, delete_options)?;
    let caller_rv = opts.resource_version.is_some();

    let (pod, pod_rev) = current(scope, name).await?;
    if can_ignore_budgets(&pod) {
        delete_pod(scope, name, &mut opts).await?;
        return Ok(success());
    }
    let budgets = covering_budgets(scope, &pod)?;
    if budgets.len() > 1 {
        return Err(ApiError::new(
            500,
            "",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let mut unhealthy_ok = false;
    let mut budget_name = String::new();
    if let Some(pdb_name) = budgets.first() {
        budget_name = pdb_name.clone();
        let pdb_scope = budget_scope(scope)?;
        unhealthy_ok = spend_budget(&pdb_scope, pdb_name, &pod, name).await?;
    }
    // An unready pod evicted without spending the budget must still be that pod, unready:
    // had it become ready meanwhile, it would count toward the budget.
    if unhealthy_ok && !caller_rv {
        opts.resource_version = Some(pod_rev.to_string());
    }
    match delete_pod(scope, name, &mut opts).await {
        Ok(()) => Ok(success()),
        Err(e) if e.code == 409 && unhealthy_ok && !caller_rv => {
            Err(too_many_requests(processing_message(&budget_name), 10))
        }
        Err(e) => Err(e),
    }
}

/// Terminal, pending and already deleting pods disrupt nothing more by going.
fn can_ignore_budgets(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed" | "Pending")
    ) || pod.pointer("/metadata/deletionTimestamp").is_some()
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn success() -> Response<Body> {
    body::json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

fn too_many_requests(cause: String, retry_after: u32) -> ApiError {
    let mut details = json!({ "causes": [{ "reason": "DisruptionBudget", "message": cause }] });
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    ApiError {
        details: Some(details),
        ..ApiError::new(429, "TooManyRequests", TOO_MANY)
    }
}

fn processing_message(pdb: &str) -> String {
    format!("The disruption budget {pdb} is still being processed by the server.")
}

fn budget_forbidden(pdb: &str, why: &str) -> ApiError {
    ApiError::forbidden(format!(
        "poddisruptionbudgets.policy \"{pdb}\" is forbidden: {why}"
    ))
}

/// The names of the budgets in the pod's namespace whose selector matches it.
fn covering_budgets(scope: &Scope<'_>, pod: &Value) -> ApiResult<Vec<String>> {
    let empty = Map::new();
    let labels = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    let ns = scope.namespace.as_deref().unwrap_or("default");
    let info = budget_info()?;
    let (items, _) = scope
        .api
        .cache
        .list(&format!("/registry/{}/{ns}/", info.storage_prefix));
    let mut names = Vec::new();
    for item in items {
        let pdb = item.value();
        let Ok(sel) = apimachinery::selector::LabelSelector::from_object(
            pdb.pointer("/spec/selector").unwrap_or(&Value::Null),
        ) else {
            continue;
        };
        if sel.matches(labels) {
            names.push(objects::name(&pdb).to_string());
        }
    }
    names.sort();
    Ok(names)
}

fn budget_info() -> ApiResult<&'static registry::ResourceInfo> {
    registry::catalog::find("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("poddisruptionbudgets are not served"))
}

fn budget_scope<'a>(scope: &Scope<'a>) -> ApiResult<Scope<'a>> {
    let info = budget_info()?;
    Ok(Scope {
        api: scope.api,
        info,
        strategy: registry::strategies::for_resource(info.group, info.plural),
        namespace: scope.namespace.clone(),
        name: None,
        query: scope.query,
        headers: scope.headers,
        user: scope.user,
    })
}

/// Spends one disruption of the budget on the pod, retrying on write conflicts. Returns
/// true when the pod is unready and may go without spending anything.
async fn spend_budget(
    pdb_scope: &Scope<'_>,
    pdb_name: &str,
    pod: &Value,
    pod_name: &str,
) -> ApiResult<bool> {
    for _ in 0..RETRIES {
        let (pdb, rev) = current(pdb_scope, pdb_name).await?;
        if !is_ready(pod) && unready_may_go(&pdb) {
            return Ok(true);
        }
        let spent = check_and_decrement(&pdb, pod_name, &objects::now_rfc3339())?;
        if pdb_scope.dry_run() {
            return Ok(false);
        }
        match persist(pdb_scope, pdb_name, spent, &pdb, rev).await {
            Ok(_) => return Ok(false),
            Err(store::Error::Conflict { .. }) => continue,
            Err(store::Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        504,
        "Timeout",
        format!("couldn't update PodDisruptionBudget {pdb_name:?} due to conflicts"),
    ))
}

fn status_i64(pdb: &Value, field: &str) -> i64 {
    pdb.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// An unready pod does not count as healthy; evicting it disrupts nothing when the
/// budget's policy says so, or (the default `IfHealthyBudget`) when the budget is met.
fn unready_may_go(pdb: &Value) -> bool {
    if pdb.pointer("/spec/unhealthyPodEvictionPolicy") == Some(&json!("AlwaysAllow")) {
        return true;
    }
    let desired = status_i64(pdb, "desiredHealthy");
    status_i64(pdb, "currentHealthy") >= desired && desired > 0
}

/// Upstream `checkAndDecrement` on the stored budget: the budget with one disruption
/// spent on `pod`, or why not.
pub fn check_and_decrement(pdb: &Value, pod: &str, now: &str) -> ApiResult<Value> {
    let name = objects::name(pdb);
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if status_i64(pdb, "observedGeneration") < generation {
        return Err(too_many_requests(processing_message(name), 10));
    }
    let allowed = status_i64(pdb, "disruptionsAllowed");
    if allowed < 0 {
        return Err(budget_forbidden(
            name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, Map::len);
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(budget_forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(denied_message(pdb), 0));
    }
    let mut spent = pdb.clone();
    let status = &mut spent["status"];
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed == 1 {
        set_insufficient(status, now);
    }
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod] = json!(now);
    if let Some(m) = spent.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    Ok(spent)
}

/// Why a budget with no disruptions left refuses, as upstream words it.
fn denied_message(pdb: &Value) -> String {
    let name = objects::name(pdb);
    let cond = pdb
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "DisruptionAllowed"));
    let field = |k: &str| {
        cond.and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (status, reason, message) = (field("status"), field("reason"), field("message"));
    let (current, desired) = (
        status_i64(pdb, "currentHealthy"),
        status_i64(pdb, "desiredHealthy"),
    );
    if status == "False" && !message.is_empty() && reason == "SyncFailed" {
        format!("The disruption budget {name} does not allow evicting pods currently because it failed sync: {message}")
    } else if current <= desired {
        format!(
            "The disruption budget {name} needs {desired} healthy pods and has {current} currently"
        )
    } else if status == "False" && !message.is_empty() {
        format!("The disruption budget {name} does not allow evicting pods currently ({reason}): {message}")
    } else {
        format!("The disruption budget {name} does not allow evicting pods currently")
    }
}

/// The DisruptionAllowed condition once no disruption is left.
fn set_insufficient(status: &mut Value, now: &str) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(conds) = status["conditions"].as_array_mut() else {
        return;
    };
    let want = json!({
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "InsufficientPods",
        "message": "",
        "lastTransitionTime": now,
    });
    match conds.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        Some(c) => {
            if c["status"] != "False" {
                c["lastTransitionTime"] = json!(now);
            }
            c["status"] = json!("False");
            c["reason"] = json!("InsufficientPods");
        }
        None => conds.push(want),
    }
}

/// Marks the pod with the DisruptionTarget condition, then deletes it with the
/// eviction's options (upstream `addConditionAndDeletePod`).
async fn delete_pod(scope: &Scope<'_>, name: &str, opts: &mut DeleteOptions) -> ApiResult<()> {
    if !scope.dry_run() {
        mark_disruption_target(scope, name, opts).await?;
    }
    delete::delete_with(scope, name, opts).await.map(|_| ())
}

async fn mark_disruption_target(
    scope: &Scope<'_>,
    name: &str,
    opts: &mut DeleteOptions,
) -> ApiResult<()> {
    for _ in 0..RETRIES {
        let (old, rev) = current(scope, name).await?;
        let uid = objects::meta_str(&old, "uid").unwrap_or("");
        if opts
            .uid
            .as_deref()
            .is_some_and(|u| !u.is_empty() && u != uid)
        {
            return Err(ApiError::conflict(
                "",
                "pods",
                name,
                &format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                    opts.uid.as_deref().unwrap_or("")
                ),
            ));
        }
        if let Some(p) = opts.resource_version.as_deref().filter(|p| !p.is_empty()) {
            if *p != rev.to_string() {
                return Err(ApiError::conflict("", "pods", name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {rev}"
                )));
            }
        }
        let mut new = old.clone();
        let conds = &mut new["status"]["conditions"];
        if !conds.is_array() {
            *conds = json!([]);
        }
        let cond = json!({
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": null,
            "lastTransitionTime": objects::now_rfc3339(),
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        });
        if let Some(list) = conds.as_array_mut() {
            match list.iter_mut().find(|c| c["type"] == "DisruptionTarget") {
                Some(c) if c["status"] == "True" && c["reason"] == "EvictionByEvictionAPI" => {}
                Some(c) => *c = cond,
                None => list.push(cond),
            }
        }
        match persist(scope, name, new, &old, rev).await {
            Ok(Written::Updated(v)) | Ok(Written::Unchanged(v)) | Ok(Written::Deleted(v)) => {
                if opts.resource_version.is_some() {
                    opts.resource_version =
                        objects::resource_version(&v)?.map(|r| r.to_string());
                }
                return Ok(());
            }
            Err(store::Error::Conflict { .. }) if opts.resource_version.is_none() => continue,
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::conflict("", "pods", name, "the object has been modified; please apply your changes to the latest version and try again"))
            }
            Err(store::Error::NotFound(_)) => return Err(scope.not_found(name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale("", "pods", name))
}

#[cfg(test)]
mod tests;
