//! Built-in admission that upstream enables by default (ServiceAccount in
//! `admission/service_account.rs`, DefaultTolerationSeconds, Priority, DefaultStorageClass,
//! DefaultIngressClass, StorageObjectInUseProtection, LimitRanger, PodSecurity,
//! ResourceQuota), the requestor of a CertificateSigningRequest, NodeRestriction's checks
//! on what a node creates (`admission/node_restriction.rs`), and RBAC's escalation checks
//! on Role and binding writes (`crate::authz::escalation`).
//! Webhooks and policies are `crate::webhooks`.
//!
//! Plugins run in upstream's order: the mutating ones first, then PodSecurity, then
//! ResourceQuota last, so a quota is charged only for a request every other plugin admits.

mod certificates;
mod default_class;
mod default_ingress_class;
mod default_storage_class;
mod limit_ranger;
mod node_restriction;
mod pod_security;
mod priority;
mod quantity;
mod resource_quota;
mod service_account;
mod storage_protection;
mod warnings;

use serde_json::{json, Value};

pub use warnings::collect as collect_warnings;

use crate::error::{ApiError, ApiResult};
use crate::rest::Scope;

/// Admission on create, before defaulting and validation.
pub async fn on_create(scope: &Scope<'_>, obj: &mut Value) -> ApiResult<()> {
    if let Some(node) = crate::authz::node::node_name(scope.user) {
        let ns = scope.namespace.as_deref().unwrap_or("");
        node_restriction::admit_create(node, scope.info.group, scope.info.plural, ns, obj)
            .map_err(|why| forbidden(scope, obj, why))?;
    }
    create_plugins(scope, obj).await
}

/// ResourceQuota, on every kind, after all other admission (webhooks and policies
/// included), as upstream orders it: it charges only what the rest let through, as they
/// left it.
pub async fn charge_quota(scope: &Scope<'_>, obj: &Value) -> ApiResult<()> {
    resource_quota::admit_create(scope, obj).await
}

/// ResourceQuota on an update: what the update adds (a claim's storage growing, a service
/// becoming a NodePort), after all other admission.
pub async fn charge_quota_update(scope: &Scope<'_>, new: &Value, old: &Value) -> ApiResult<()> {
    resource_quota::admit_update(scope, new, old).await
}

async fn create_plugins(scope: &Scope<'_>, obj: &mut Value) -> ApiResult<()> {
    match (scope.info.group, scope.info.plural) {
        ("", "pods") => {
            service_account::admit(scope, obj)
                .await
                .map_err(|why| forbidden(scope, obj, why))?;
            default_tolerations(obj);
            priority::admit_pod_create(obj, &priority_classes(scope))
                .map_err(|why| forbidden(scope, obj, why))?;
            // One wait for the cache serves both lookups.
            let cache = synced_cache(scope).await?;
            limit_ranger::admit_pod_create(obj, &limit_ranges(scope, cache))
                .map_err(|why| forbidden(scope, obj, why))?;
            let warned = pod_security::admit_pod(&pod_security_policy(scope, cache), obj)
                .map_err(|why| forbidden(scope, obj, why))?;
            warnings::add(warned);
            Ok(())
        }
        ("", "secrets") => service_account::fill_legacy_token(scope, obj)
            .await
            .map_err(|why| forbidden(scope, obj, why)),
        ("scheduling.k8s.io", "priorityclasses") => {
            priority::admit_priority_class(obj, &priority_classes(scope), false)
                .map_err(|why| forbidden(scope, obj, why))
        }
        ("", "persistentvolumeclaims") => {
            let (classes, _) = scope.api.cache.list("/registry/storageclasses/");
            let classes: Vec<Value> = classes.iter().map(|o| o.value()).collect();
            default_storage_class::admit_claim_create(obj, &classes);
            storage_protection::add_finalizer(obj, storage_protection::PVC_PROTECTION);
            limit_ranger::admit_claim_create(obj, &limit_ranges(scope, synced_cache(scope).await?))
                .map_err(|why| forbidden(scope, obj, why))
        }
        ("networking.k8s.io", "ingresses") => {
            let (classes, _) = scope.api.cache.list("/registry/ingressclasses/");
            let classes: Vec<Value> = classes.iter().map(|o| o.value()).collect();
            default_ingress_class::admit_ingress_create(obj, &classes);
            Ok(())
        }
        ("", "persistentvolumes") => {
            storage_protection::add_finalizer(obj, storage_protection::PV_PROTECTION);
            Ok(())
        }
        ("certificates.k8s.io", "certificatesigningrequests") => {
            certificates::record_requestor(obj, scope.user);
            Ok(())
        }
        ("", "namespaces") => check_pod_security_labels(obj),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            warnings::add(conversion_warning(obj));
            Ok(())
        }
        ("rbac.authorization.k8s.io", "roles" | "clusterroles") => {
            crate::authz::escalation::check_role(scope, obj, None)
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            crate::authz::escalation::check_binding(scope, obj, None)
        }
        (group, plural) if pod_security::is_workload(group, plural) => {
            let policy = pod_security_policy(scope, synced_cache(scope).await?);
            warnings::add(pod_security::admit_workload(&policy, group, plural, obj));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// skiff does not call conversion webhooks: a CRD that asks for one while serving several
/// versions is served with strategy None, and its writer is told so.
fn conversion_warning(crd: &Value) -> Vec<String> {
    let webhook = crd
        .pointer("/spec/conversion/strategy")
        .and_then(Value::as_str)
        == Some("Webhook");
    let served = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter(|x| x.get("served").and_then(Value::as_bool) == Some(true))
                .count()
        })
        .unwrap_or(0);
    if webhook && served > 1 {
        vec!["spec.conversion.strategy: Webhook is not supported by this server; objects are served in every version with strategy None (only apiVersion changes)".to_string()]
    } else {
        Vec::new()
    }
}

/// Admission on update (main resource only), before the strategy's update rules.
pub fn on_update(scope: &Scope<'_>, new: &mut Value, old: &Value) -> ApiResult<()> {
    match (scope.info.group, scope.info.plural) {
        ("", "pods") => {
            priority::admit_pod_update(new, old);
            Ok(())
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            priority::admit_priority_class(new, &priority_classes(scope), true)
                .map_err(|why| forbidden(scope, new, why))
        }
        ("", "namespaces") => {
            // A bad label already there does not block unrelated updates.
            let messages = |ns: &Value| -> Vec<String> {
                let errs = pod_security::invalid_labels(ns);
                errs.iter().map(|e| e.message()).collect()
            };
            if messages(new) != messages(old) {
                check_pod_security_labels(new)?;
            }
            let name = crate::objects::name(new);
            let (pods, _) = scope.api.cache.list(&format!("/registry/pods/{name}/"));
            let pods: Vec<Value> = pods.iter().map(|o| o.value()).collect();
            warnings::add(pod_security::namespace_update_warnings(new, old, &pods));
            Ok(())
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            warnings::add(conversion_warning(new));
            Ok(())
        }
        ("rbac.authorization.k8s.io", "roles" | "clusterroles") => {
            crate::authz::escalation::check_role(scope, new, Some(old))
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            crate::authz::escalation::check_binding(scope, new, Some(old))
        }
        (group, plural) if pod_security::is_workload(group, plural) => {
            // Upstream warns again only when the pod template changed.
            if pod_security::template_changed(group, plural, new, old) {
                let policy = pod_security_policy_cached(scope);
                warnings::add(pod_security::admit_workload(&policy, group, plural, new));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Deletes upstream refuses outright: the built-in PriorityClasses stay.
pub fn on_delete(scope: &Scope<'_>, name: &str) -> ApiResult<()> {
    let system = registry::strategies::scheduling::priorityclasses::is_system_class;
    if (scope.info.group, scope.info.plural) == ("scheduling.k8s.io", "priorityclasses")
        && system(name)
    {
        return Err(forbidden_named(
            scope,
            name,
            "this is a system priority class and cannot be deleted".into(),
        ));
    }
    Ok(())
}

/// Admission reads PriorityClasses from the watch cache, as upstream's plugin reads its
/// informer: a class created a moment ago may not be seen yet.
fn priority_classes(scope: &Scope<'_>) -> Vec<Value> {
    let (items, _) = scope.api.cache.list("/registry/priorityclasses/");
    items.iter().map(|o| o.value()).collect()
}

/// The watch cache, once it holds every write acknowledged before this call. Admission
/// reads it as upstream's plugins read their informers, without their lag: a LimitRange
/// created or a namespace label set a moment ago already applies. On SQLite the check is
/// an atomic load and the cache is almost always there already, so this costs far less
/// than the store reads it replaces.
async fn synced_cache<'a>(scope: &Scope<'a>) -> ApiResult<&'a crate::watch_cache::WatchCache> {
    crate::rest::consistent_cache_revision(&scope.api.cache, scope.api.store.as_ref()).await?;
    Ok(&scope.api.cache)
}

/// The LimitRanges of the request's namespace, from a [`synced_cache`].
fn limit_ranges(scope: &Scope<'_>, cache: &crate::watch_cache::WatchCache) -> Vec<Value> {
    let prefix = format!(
        "/registry/limitranges/{}/",
        scope.namespace.as_deref().unwrap_or("")
    );
    let (items, _) = cache.list(&prefix);
    items.iter().map(|o| o.value()).collect()
}

/// The PodSecurity policy of the request's namespace, from its labels in a
/// [`synced_cache`].
fn pod_security_policy(
    scope: &Scope<'_>,
    cache: &crate::watch_cache::WatchCache,
) -> pod_security::Policy {
    let key = format!(
        "/registry/namespaces/{}",
        scope.namespace.as_deref().unwrap_or("")
    );
    namespace_policy(cache, &key)
}

/// The same from the watch cache, for the update hook, which cannot wait on the store.
fn pod_security_policy_cached(scope: &Scope<'_>) -> pod_security::Policy {
    let key = format!(
        "/registry/namespaces/{}",
        scope.namespace.as_deref().unwrap_or("")
    );
    namespace_policy(&scope.api.cache, &key)
}

/// The policy from the cached namespace's labels alone: the policy reads nothing else,
/// and the cache keeps them parsed (the whole namespace would be parsed per pod).
fn namespace_policy(cache: &crate::watch_cache::WatchCache, key: &str) -> pod_security::Policy {
    match cache.get(key) {
        Some(o) => pod_security::policy(&serde_json::json!({"metadata": {"labels": o.labels}})),
        None => pod_security::policy(&Value::Null),
    }
}

/// PodSecurity's 422 for a namespace whose labels name no level, as upstream's plugin
/// answers it: `namespaces "x" is invalid: ...`, with no per-field details.
fn check_pod_security_labels(namespace: &Value) -> ApiResult<()> {
    let errs = pod_security::invalid_labels(namespace);
    let list: Vec<String> = errs.iter().map(|e| e.message()).collect();
    let why = match list.as_slice() {
        [] => return Ok(()),
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let name = crate::objects::name(namespace);
    Err(ApiError::new(
        422,
        "Invalid",
        format!("namespaces \"{name}\" is invalid: {why}"),
    ))
}

/// Upstream's `admission.NewForbidden`: `<resource> "<name>" is forbidden: <why>`.
fn forbidden(scope: &Scope<'_>, obj: &Value, why: String) -> ApiError {
    forbidden_named(scope, crate::objects::name(obj), why)
}

fn forbidden_named(scope: &Scope<'_>, name: &str, why: String) -> ApiError {
    ApiError {
        details: Some(json!({"name": name, "kind": scope.info.plural})),
        ..ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: {why}",
            crate::error::qualified(scope.group(), scope.info.plural)
        ))
    }
}

/// How long a pod stays on a not-ready or unreachable node before taint-based eviction
/// (upstream's DefaultTolerationSeconds plugin, `--default-*-toleration-seconds`).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Upstream's DefaultTolerationSeconds: unless the pod already tolerates the taint, it
/// tolerates `not-ready` and `unreachable` NoExecute taints for five minutes.
fn default_tolerations(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tolerated = |key: &str| {
        existing.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
            (k.is_empty() || k == key) && (e.is_empty() || e == "NoExecute")
        })
    };
    let mut added = existing.clone();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        if !tolerated(key) {
            added.push(json!({
                "key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
    if added.len() != existing.len() {
        spec.insert("tolerations".into(), Value::Array(added));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tolerations_added_unless_present() {
        let nr = json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300});
        let ur = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300});
        let mine = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5});
        let cases = [
            (json!({"spec": {}}), json!([nr, ur])),
            (json!({"spec": {"tolerations": [mine]}}), json!([mine, nr])),
            (
                json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
                json!([{"operator": "Exists"}]),
            ),
            (
                json!({"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}),
                json!([{"key": "gpu", "operator": "Exists"}, nr, ur]),
            ),
        ];
        for (mut pod, want) in cases {
            default_tolerations(&mut pod);
            assert_eq!(pod["spec"]["tolerations"], want);
        }
    }
}
