//! Upstream's `LimitRanger` admission plugin: a namespace's LimitRanges fill in the
//! requests and limits a new pod's containers leave out (`default`, `defaultRequest` of
//! type Container, noted in the `kubernetes.io/limit-ranger` annotation), and refuse pods
//! and claims outside `min`/`max`/`maxLimitRequestRatio` of types Container, Pod and
//! PersistentVolumeClaim.
//!
//! Admission runs before the pod's own defaulting here, so the one default that matters
//! (a limit without a request is also the request) is applied first, as upstream has by then.
//!
//! Pure: the caller passes the namespace's LimitRanges.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::quantity::Amount;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// One entry of a LimitRange's `spec.limits`, with upstream's LimitRange defaulting
/// applied (a default limit from `max`, a default request from `default` then `min`).
struct Item {
    kind: String,
    min: Map<String, Value>,
    max: Map<String, Value>,
    ratio: Map<String, Value>,
    default: Map<String, Value>,
    default_request: Map<String, Value>,
}

fn map(v: &Value, key: &str) -> Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn items(ranges: &[Value]) -> Vec<Item> {
    let mut out = Vec::new();
    for range in ranges {
        let limits = range.pointer("/spec/limits").and_then(Value::as_array);
        for l in limits.into_iter().flatten() {
            let mut item = Item {
                kind: l
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                min: map(l, "min"),
                max: map(l, "max"),
                ratio: map(l, "maxLimitRequestRatio"),
                default: map(l, "default"),
                default_request: map(l, "defaultRequest"),
            };
            if item.kind == "Container" {
                for (k, v) in &item.max {
                    item.default.entry(k.clone()).or_insert_with(|| v.clone());
                }
                for (k, v) in item.default.iter().chain(item.min.iter()) {
                    item.default_request
                        .entry(k.clone())
                        .or_insert_with(|| v.clone());
                }
            }
            out.push(item);
        }
    }
    out
}

fn insert(resources: &mut Value, list: &str, k: &str, v: &Value) {
    if !resources.get(list).is_some_and(Value::is_object) {
        resources[list] = json!({});
    }
    resources[list][k] = v.clone();
}

/// Fills one container's missing requests and limits; returns what it set.
fn default_container(c: &mut Value, item: &Item) -> (Vec<String>, Vec<String>) {
    let mut set_requests = Vec::new();
    let mut set_limits = Vec::new();
    let Some(c) = c.as_object_mut() else {
        return (set_requests, set_limits);
    };
    let resources = c.entry("resources").or_insert_with(|| json!({}));
    if !resources.is_object() {
        *resources = json!({});
    }
    let has = |r: &Value, list: &str, k: &str| r.pointer(&format!("/{list}/{k}")).is_some();
    for (k, v) in &item.default {
        if !has(resources, "limits", k) {
            insert(resources, "limits", k, v);
            set_limits.push(k.clone());
        }
    }
    for (k, v) in &item.default_request {
        if !has(resources, "requests", k) {
            insert(resources, "requests", k, v);
            set_requests.push(k.clone());
        }
    }
    (set_requests, set_limits)
}

/// Upstream's pod defaulting, which runs before admission there and after it here: a
/// limit without a request is also the request. Done first, so ranges see what upstream's
/// see (and the range's default request does not replace it).
fn requests_from_limits(c: &mut Value) {
    let Some(limits) = c
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    for (k, v) in limits {
        if c.pointer(&format!("/resources/requests/{k}")).is_none() {
            if let Some(resources) = c.get_mut("resources") {
                insert(resources, "requests", &k, &v);
            }
        }
    }
}

fn apply_defaults(pod: &mut Value, items: &[Item]) {
    let mut notes = Vec::new();
    for (key, what) in [
        ("initContainers", "init container"),
        ("containers", "container"),
    ] {
        let Some(list) = pod
            .pointer_mut(&format!("/spec/{key}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in list.iter_mut() {
            requests_from_limits(c);
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut requests = Vec::new();
            let mut limits = Vec::new();
            for item in items.iter().filter(|i| i.kind == "Container") {
                let (r, l) = default_container(c, item);
                requests.extend(r);
                limits.extend(l);
            }
            for (set, word) in [(requests, "request"), (limits, "limit")] {
                let mut set = set;
                set.sort();
                set.dedup();
                if !set.is_empty() {
                    notes.push(format!("{} {word} for {what} {name}", set.join(", ")));
                }
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(
            ANNOTATION.into(),
            json!(format!("LimitRanger plugin set: {}", notes.join("; "))),
        );
    }
}

/// What one container, or the whole pod, asks for and caps, by resource.
#[derive(Default)]
struct Usage {
    requests: BTreeMap<String, Amount>,
    limits: BTreeMap<String, Amount>,
}

fn usage_of(resources: &Value) -> Usage {
    let list = |k: &str| -> BTreeMap<String, Amount> {
        resources
            .get(k)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(r, v)| Some((r.clone(), Amount::of(v)?)))
            .collect()
    };
    Usage {
        requests: list("requests"),
        limits: list("limits"),
    }
}

/// A pod's total: app containers summed, at least each init container.
fn pod_usage(pod: &Value) -> Usage {
    let mut total = Usage::default();
    let containers = |k: &str| -> Vec<Usage> {
        pod.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| usage_of(c.get("resources").unwrap_or(&Value::Null)))
            .collect()
    };
    for c in containers("containers") {
        for (r, a) in c.requests {
            let e = total.requests.entry(r).or_default();
            *e = e.add(a);
        }
        for (r, a) in c.limits {
            let e = total.limits.entry(r).or_default();
            *e = e.add(a);
        }
    }
    for c in containers("initContainers") {
        for (r, a) in c.requests {
            let e = total.requests.entry(r).or_default();
            *e = e.max(a);
        }
        for (r, a) in c.limits {
            let e = total.limits.entry(r).or_default();
            *e = e.max(a);
        }
    }
    total
}

fn canonical(v: &Value) -> String {
    Amount::of(v).map(Amount::canonical).unwrap_or_default()
}

/// Upstream's min, max and ratio rules for one usage against one item, in its words.
fn check(kind: &str, item: &Item, usage: &Usage, errs: &mut Vec<String>) {
    for (r, v) in &item.min {
        let Some(min) = Amount::of(v) else { continue };
        let (req, lim) = (usage.requests.get(r), usage.limits.get(r));
        let shown = canonical(v);
        match (req, lim) {
            (None, _) => errs.push(format!(
                "minimum {r} usage per {kind} is {shown}.  No request is specified"
            )),
            (Some(q), _) if q.milli < min.milli => errs.push(format!(
                "minimum {r} usage per {kind} is {shown}, but request is {}",
                q.canonical()
            )),
            (_, Some(l)) if l.milli < min.milli => errs.push(format!(
                "minimum {r} usage per {kind} is {shown}, but limit is {}",
                l.canonical()
            )),
            _ => {}
        }
    }
    for (r, v) in &item.max {
        let Some(max) = Amount::of(v) else { continue };
        let (req, lim) = (usage.requests.get(r), usage.limits.get(r));
        let shown = canonical(v);
        // A claim has no limits: its request is what a maximum bounds.
        if kind == "PersistentVolumeClaim" {
            if let Some(q) = req.filter(|q| q.milli > max.milli) {
                errs.push(format!(
                    "maximum {r} usage per {kind} is {shown}, but request is {}",
                    q.canonical()
                ));
            }
            continue;
        }
        match (req, lim) {
            (_, None) => errs.push(format!(
                "maximum {r} usage per {kind} is {shown}.  No limit is specified"
            )),
            (_, Some(l)) if l.milli > max.milli => errs.push(format!(
                "maximum {r} usage per {kind} is {shown}, but limit is {}",
                l.canonical()
            )),
            (Some(q), _) if q.milli > max.milli => errs.push(format!(
                "maximum {r} usage per {kind} is {shown}, but request is {}",
                q.canonical()
            )),
            _ => {}
        }
    }
    for (r, v) in &item.ratio {
        let Some(max_ratio) = Amount::of(v) else {
            continue;
        };
        let shown = canonical(v);
        let (Some(req), Some(lim)) = (usage.requests.get(r), usage.limits.get(r)) else {
            errs.push(format!(
                "{r} max limit to request ratio per {kind} is {shown}, but no request or limit is specified"
            ));
            continue;
        };
        if req.milli <= 0 {
            errs.push(format!(
                "{r} max limit to request ratio per {kind} is {shown}, but request is zero"
            ));
            continue;
        }
        let ratio = lim.milli as f64 / req.milli as f64;
        if ratio * 1000.0 > max_ratio.milli as f64 {
            errs.push(format!(
                "{r} max limit to request ratio per {kind} is {shown}, but provided ratio is {ratio:.6}"
            ));
        }
    }
}

/// Upstream's aggregate error text: one error alone, several in brackets.
fn aggregate(errs: &[String]) -> Result<(), String> {
    match errs {
        [] => Ok(()),
        [one] => Err(one.clone()),
        many => Err(format!("[{}]", many.join(", "))),
    }
}

/// A pod being created: defaults filled in, then checked. `Err` holds the reason for
/// upstream's 403.
pub fn admit_pod_create(pod: &mut Value, ranges: &[Value]) -> Result<(), String> {
    let items = items(ranges);
    if items.is_empty() {
        return Ok(());
    }
    apply_defaults(pod, &items);
    let mut errs = Vec::new();
    for item in &items {
        match item.kind.as_str() {
            "Container" => {
                for key in ["initContainers", "containers"] {
                    let list = pod
                        .pointer(&format!("/spec/{key}"))
                        .and_then(Value::as_array);
                    for c in list.into_iter().flatten() {
                        let usage = usage_of(c.get("resources").unwrap_or(&Value::Null));
                        check("Container", item, &usage, &mut errs);
                    }
                }
            }
            "Pod" => check("Pod", item, &pod_usage(pod), &mut errs),
            _ => {}
        }
    }
    aggregate(&errs)
}

/// A claim being created: its storage request against type PersistentVolumeClaim.
pub fn admit_claim_create(claim: &Value, ranges: &[Value]) -> Result<(), String> {
    let usage = usage_of(claim.pointer("/spec/resources").unwrap_or(&Value::Null));
    let mut errs = Vec::new();
    for item in items(ranges)
        .iter()
        .filter(|i| i.kind == "PersistentVolumeClaim")
    {
        check("PersistentVolumeClaim", item, &usage, &mut errs);
    }
    aggregate(&errs)
}

#[cfg(test)]
mod tests;
