//! What one object adds to a namespace's quota usage, and whether a quota admits it
//! (pure). Counted as the ResourceQuota controller counts (`controllers::resourcequota`),
//! so admission's charge and the controller's recount agree.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::admission::quantity::Amount;

/// Compute resources a pod's containers ask for or cap.
const COMPUTE: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// The quota keys a pod counts under, for `resource` of `kind` (`requests`/`limits`).
fn pod_keys(kind: &str, resource: &str) -> Vec<String> {
    let mut keys = vec![format!("{kind}.{resource}")];
    if kind == "requests" {
        keys.push(resource.to_string());
    }
    keys
}

/// A container's amount; an unset request is its limit, as upstream's defaulting makes it.
fn container_amount(c: &Value, kind: &str, resource: &str) -> Option<Amount> {
    let get = |k: &str| {
        c.pointer(&format!("/resources/{k}/{resource}"))
            .and_then(Amount::of)
    };
    match kind {
        "requests" => get("requests").or_else(|| get("limits")),
        _ => get("limits"),
    }
}

fn containers<'a>(spec: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Upstream's pod request/limit: app containers plus restartable init containers, at least
/// each plain init container's (with the sidecars started before it), plus overhead.
fn pod_amount(pod: &Value, kind: &str, resource: &str) -> Amount {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut total = Amount::default();
    for c in containers(spec, "containers") {
        total = total.add(container_amount(c, kind, resource).unwrap_or_default());
    }
    let mut sidecars = Amount::default();
    let mut init_max = Amount::default();
    for c in containers(spec, "initContainers") {
        let own = container_amount(c, kind, resource).unwrap_or_default();
        if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            sidecars = sidecars.add(own);
            total = total.add(own);
        } else {
            init_max = init_max.max(own.add(sidecars));
        }
    }
    let mut amount = total.max(init_max);
    if let Some(q) = spec
        .pointer(&format!("/overhead/{resource}"))
        .and_then(Value::as_str)
        .and_then(Amount::parse)
    {
        amount = amount.add(q);
    }
    amount
}

/// The object count key of a resource: `count/<plural>[.<group>]`.
fn count_key(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// Every quota key the object being created counts under, with what it adds. A quota
/// that names none of them does not constrain the object.
pub fn delta(group: &str, plural: &str, obj: &Value) -> BTreeMap<String, Amount> {
    let mut d = BTreeMap::new();
    d.insert(count_key(group, plural), Amount::count(1));
    match (group, plural) {
        ("", "pods") => {
            d.insert("pods".into(), Amount::count(1));
            for kind in ["requests", "limits"] {
                for resource in COMPUTE {
                    for key in pod_keys(kind, resource) {
                        d.insert(key, pod_amount(obj, kind, resource));
                    }
                }
            }
        }
        ("", "services") => {
            let spec = obj.get("spec").unwrap_or(&Value::Null);
            let kind = spec
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let ports = spec
                .get("ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            d.insert("services".into(), Amount::count(1));
            d.insert(
                "services.loadbalancers".into(),
                Amount::count(usize::from(kind == "LoadBalancer")),
            );
            // Every port of a NodePort or LoadBalancer service gets a node port (unless the
            // load balancer opts out, which needs no quota).
            let allocates = kind == "NodePort"
                || (kind == "LoadBalancer"
                    && spec
                        .get("allocateLoadBalancerNodePorts")
                        .and_then(Value::as_bool)
                        != Some(false));
            d.insert(
                "services.nodeports".into(),
                Amount::count(if allocates { ports } else { 0 }),
            );
        }
        ("", "persistentvolumeclaims") => {
            let storage = obj
                .pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
                .and_then(Amount::parse)
                .unwrap_or_default();
            let mut put = |prefix: String| {
                d.insert(format!("{prefix}persistentvolumeclaims"), Amount::count(1));
                d.insert(format!("{prefix}requests.storage"), storage);
            };
            put(String::new());
            if let Some(class) = obj
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str)
            {
                put(format!("{class}.storageclass.storage.k8s.io/"));
            }
        }
        ("", "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas") => {
            d.insert(plural.to_string(), Amount::count(1));
        }
        _ => {}
    }
    d
}

/// Quota keys a pod's every container must name explicitly (a long-standing upstream rule:
/// a quota on cpu or memory makes them mandatory).
const MUST_SPECIFY: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// `must specify requests.cpu for: app; memory for: app,side` when a container leaves
/// out something the quota limits.
fn missing_constraints(pod: &Value, keys: &[&String]) -> Option<String> {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for key in keys.iter().filter(|k| MUST_SPECIFY.contains(&k.as_str())) {
        let (kind, resource) = key.split_once('.').unwrap_or(("requests", key));
        for c in containers(spec, "containers").chain(containers(spec, "initContainers")) {
            if container_amount(c, kind, resource).is_none() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                missing.entry(key.as_str()).or_default().push(name);
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(key, names)| {
            let mut names = names.clone();
            names.sort_unstable();
            names.dedup();
            format!("{key} for: {}", names.join(","))
        })
        .collect();
    Some(format!("must specify {}", parts.join("; ")))
}

fn quantities(quota: &Value, pointer: &str) -> BTreeMap<String, String> {
    quota
        .pointer(pointer)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((k.clone(), s))
        })
        .collect()
}

fn pretty(pairs: &BTreeMap<&String, String>) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a scoped quota tracks the pod; every scope must hold. Objects other than pods
/// are never tracked by a scoped quota.
fn in_scope(quota: &Value, plural: &str, obj: &Value) -> bool {
    let mut reqs: Vec<(String, String, Vec<String>)> = Vec::new();
    for s in quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        reqs.push((s.as_str().unwrap_or("").into(), "Exists".into(), Vec::new()));
    }
    let selected = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array);
    for e in selected.into_iter().flatten() {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        reqs.push((s("scopeName"), s("operator"), values));
    }
    if reqs.is_empty() {
        return true;
    }
    if plural != "pods" {
        return false;
    }
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let best_effort = containers(spec, "containers")
        .chain(containers(spec, "initContainers"))
        .all(|c| {
            ["requests", "limits"].iter().all(|k| {
                ["cpu", "memory"]
                    .iter()
                    .all(|r| c.pointer(&format!("/resources/{k}/{r}")).is_none())
            })
        });
    let deadline = spec.get("activeDeadlineSeconds").and_then(Value::as_i64);
    let class = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    reqs.iter().all(|(scope, op, values)| {
        let holds = match scope.as_str() {
            "Terminating" => deadline.is_some_and(|d| d >= 0),
            "NotTerminating" => deadline.is_none(),
            "BestEffort" => best_effort,
            "NotBestEffort" => !best_effort,
            "PriorityClass" => {
                return match op.as_str() {
                    "Exists" => class.is_some(),
                    "DoesNotExist" => class.is_none(),
                    "In" => class.is_some_and(|c| values.iter().any(|v| v == c)),
                    "NotIn" => class.is_none_or(|c| !values.iter().any(|v| v == c)),
                    _ => false,
                }
            }
            _ => false,
        };
        if op == "DoesNotExist" {
            !holds
        } else {
            holds
        }
    })
}

/// What an update adds under each quota key: the increases only (upstream charges what
/// grows — a claim's storage, a service becoming a NodePort or LoadBalancer — and lets the
/// controller give back what shrinks). Object counts do not change on update.
pub fn update_delta(
    group: &str,
    plural: &str,
    new: &Value,
    old: &Value,
) -> BTreeMap<String, Amount> {
    let before = delta(group, plural, old);
    delta(group, plural, new)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("count/") && k != "pods")
        .filter_map(|(k, now)| {
            let was = before.get(&k).map(|a| a.milli).unwrap_or(0);
            (now.milli > was).then(|| {
                (
                    k,
                    Amount {
                        milli: now.milli - was,
                        binary: now.binary,
                    },
                )
            })
        })
        .collect()
}

/// One quota's verdict on a create: `Ok(None)` when it does not constrain the object,
/// `Ok(Some(used))` with its new `status.used`, `Err` with upstream's reason.
#[cfg(test)]
pub fn admit(
    quota: &Value,
    group: &str,
    plural: &str,
    obj: &Value,
) -> Result<Option<BTreeMap<String, String>>, String> {
    admit_delta(quota, group, plural, obj, &delta(group, plural, obj))
}

/// [`admit`] for a given usage `delta` (a create's whole usage, or an update's increase).
pub fn admit_delta(
    quota: &Value,
    group: &str,
    plural: &str,
    obj: &Value,
    delta: &BTreeMap<String, Amount>,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let name = quota
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Like upstream, the quota binds through `status.hard`, written by the controller.
    let hard = quantities(quota, "/status/hard");
    let used = quantities(quota, "/status/used");
    let keys: Vec<&String> = hard.keys().filter(|k| delta.contains_key(*k)).collect();
    if keys.is_empty() || !in_scope(quota, plural, obj) {
        return Ok(None);
    }
    if plural == "pods" && group.is_empty() {
        if let Some(why) = missing_constraints(obj, &keys) {
            return Err(format!("failed quota: {name}: {why}"));
        }
    }
    let unknown: Vec<&str> = keys
        .iter()
        .filter(|k| !used.contains_key(**k))
        .map(|k| k.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "status unknown for quota: {name}, resources: {}",
            unknown.join(",")
        ));
    }
    let mut new_used = used.clone();
    let mut exceeded = Vec::new();
    for key in &keys {
        let parse = |m: &BTreeMap<String, String>| m.get(*key).and_then(|s| Amount::parse(s));
        let (Some(was), Some(limit)) = (parse(&used), parse(&hard)) else {
            continue;
        };
        let add = delta.get(*key).copied().unwrap_or_default();
        let now = was.add(add);
        if now.milli > limit.milli {
            exceeded.push(*key);
        }
        new_used.insert((*key).clone(), now.canonical());
    }
    if !exceeded.is_empty() {
        let pick = |f: &dyn Fn(&String) -> String| -> BTreeMap<&String, String> {
            exceeded.iter().map(|k| (*k, f(k))).collect()
        };
        let requested = pick(&|k| delta.get(k).copied().unwrap_or_default().canonical());
        let was = pick(&|k| used.get(k).cloned().unwrap_or_default());
        let limited = pick(&|k| hard.get(k).cloned().unwrap_or_default());
        return Err(format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            pretty(&requested),
            pretty(&was),
            pretty(&limited)
        ));
    }
    Ok(Some(new_used))
}

#[cfg(test)]
mod tests;
