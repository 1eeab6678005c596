//! `autoscaling/v2` ↔ `autoscaling/v1` HorizontalPodAutoscaler, as upstream's
//! `pkg/apis/autoscaling/v1/conversion.go` behaves (v2 plays the part of the internal type).
//!
//! v1 has only `spec.targetCPUUtilizationPercentage` and `status.currentCPUUtilizationPercentage`.
//! Everything else rides in annotations, so a v1 client that reads and writes back loses
//! nothing:
//!
//! - `autoscaling.alpha.kubernetes.io/metrics`: the spec metrics other than a CPU utilization
//!   target, as a JSON list of autoscaling/v1 `MetricSpec` (the v2beta1-style shape:
//!   `targetAverageUtilization`, `metricName`, `targetValue`, ...);
//! - `autoscaling.alpha.kubernetes.io/current-metrics`: all of `status.currentMetrics`, as v1
//!   `MetricStatus` (the CPU one too: it keeps the raw value);
//! - `autoscaling.alpha.kubernetes.io/behavior`: `spec.behavior` as Go marshals its *internal*
//!   type, which has no json tags: keys are Go field names (`ScaleUp`, `Policies`, ...) and
//!   nil pointers are `null`; read back case-insensitively, as Go does;
//! - `autoscaling.alpha.kubernetes.io/conditions`: `status.conditions`.
//!
//! Quirks kept from upstream: reading v1 puts the CPU target *after* the annotated metrics; a
//! v1 HPA with no metrics at all gets the implicit CPU 80% target; v1's non-pointer quantities
//! (`targetValue`, `currentAverageValue`, ...) come back as `"0"` when v2 had none; malformed
//! annotations are ignored, and all round-trip annotations are dropped on the way to v2 and
//! replaced on the way to v1.

use serde_json::{json, Map, Value};

use super::{copy, get, get_go, go_marshal};

pub(super) const V1: &str = "autoscaling/v1";
pub(super) const V2: &str = "autoscaling/v2";

const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// Every annotation upstream treats as conversion state (the tolerance ones belong to
/// v2beta2, but upstream drops them with the rest).
const ROUND_TRIP: [&str; 6] = [
    METRICS,
    CURRENT_METRICS,
    BEHAVIOR,
    CONDITIONS,
    "autoscaling.alpha.kubernetes.io/scale-down-tolerance",
    "autoscaling.alpha.kubernetes.io/scale-up-tolerance",
];

/// The target v1 readers got implicitly before metrics existed.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

pub(super) fn v2_to_v1(obj: Value) -> Value {
    let empty = json!({});
    let spec = get(&obj, "spec").unwrap_or(&empty);
    let metrics = array(spec, "metrics");

    let mut v1_spec = Map::new();
    v1_spec.insert("scaleTargetRef".into(), scale_target_ref(spec));
    copy(&mut v1_spec, "minReplicas", spec, "minReplicas");
    v1_spec.insert("maxReplicas".into(), int_or_zero(spec, "maxReplicas"));
    // The first CPU resource metric decides, even when it has no utilization target.
    if let Some(cpu) = metrics.iter().find(|m| is_resource(m, "cpu")) {
        if let Some(u) = cpu
            .pointer("/resource/target/averageUtilization")
            .filter(|u| !u.is_null())
        {
            v1_spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
        }
    }

    let mut annotations: Vec<(&str, String)> = Vec::new();
    let other: Vec<Value> = metrics
        .iter()
        .filter(|m| !is_cpu_utilization_target(m))
        .map(metric_spec_to_v1)
        .collect();
    if !other.is_empty() {
        annotations.push((METRICS, go_marshal(&Value::Array(other))));
    }
    if let Some(behavior) = get(spec, "behavior") {
        annotations.push((BEHAVIOR, go_marshal(&behavior_to_go(behavior))));
    }

    let mut out = Map::new();
    out.insert("apiVersion".into(), V1.into());
    out.insert("kind".into(), "HorizontalPodAutoscaler".into());
    let status = get(&obj, "status").map(|status| {
        let current = array(status, "currentMetrics");
        let conditions = array(status, "conditions");
        if !current.is_empty() {
            let v1: Vec<Value> = current.iter().map(metric_status_to_v1).collect();
            annotations.push((CURRENT_METRICS, go_marshal(&Value::Array(v1))));
        }
        if !conditions.is_empty() {
            let v1: Vec<Value> = conditions.iter().map(condition_to_v1).collect();
            annotations.push((CONDITIONS, go_marshal(&Value::Array(v1))));
        }
        let mut v1_status = Map::new();
        copy(
            &mut v1_status,
            "observedGeneration",
            status,
            "observedGeneration",
        );
        copy(&mut v1_status, "lastScaleTime", status, "lastScaleTime");
        v1_status.insert(
            "currentReplicas".into(),
            int_or_zero(status, "currentReplicas"),
        );
        v1_status.insert(
            "desiredReplicas".into(),
            int_or_zero(status, "desiredReplicas"),
        );
        // No early exit upstream: the last CPU status with a utilization wins.
        for m in current.iter().filter(|m| is_resource(m, "cpu")) {
            if let Some(u) = m
                .pointer("/resource/current/averageUtilization")
                .filter(|u| !u.is_null())
            {
                v1_status.insert("currentCPUUtilizationPercentage".into(), u.clone());
            }
        }
        Value::Object(v1_status)
    });
    out.insert("metadata".into(), metadata(&obj, &annotations));
    out.insert("spec".into(), Value::Object(v1_spec));
    if let Some(status) = status {
        out.insert("status".into(), status);
    }
    Value::Object(out)
}

pub(super) fn v1_to_v2(obj: Value) -> Value {
    let empty = json!({});
    let spec = get(&obj, "spec").unwrap_or(&empty);

    let mut metrics: Vec<Value> = annotation_list(&obj, METRICS)
        .map(|list| list.iter().map(metric_spec_to_v2).collect())
        .unwrap_or_default();
    if let Some(pct) = get(spec, "targetCPUUtilizationPercentage") {
        metrics.push(json!({
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": pct}},
        }));
    }
    if metrics.is_empty() {
        metrics.push(json!({
            "type": "Resource",
            "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}},
        }));
    }
    let mut v2_spec = Map::new();
    v2_spec.insert("scaleTargetRef".into(), scale_target_ref(spec));
    copy(&mut v2_spec, "minReplicas", spec, "minReplicas");
    v2_spec.insert("maxReplicas".into(), int_or_zero(spec, "maxReplicas"));
    v2_spec.insert("metrics".into(), Value::Array(metrics));
    if let Some(behavior) = annotation(&obj, BEHAVIOR).and_then(|b| behavior_from_go(&b)) {
        v2_spec.insert("behavior".into(), behavior);
    }

    let current_metrics = annotation_list(&obj, CURRENT_METRICS);
    let conditions = annotation_list(&obj, CONDITIONS);
    let status = get(&obj, "status");
    let v2_status =
        (status.is_some() || current_metrics.is_some() || conditions.is_some()).then(|| {
            let status = status.unwrap_or(&empty);
            let mut out = Map::new();
            copy(&mut out, "observedGeneration", status, "observedGeneration");
            copy(&mut out, "lastScaleTime", status, "lastScaleTime");
            // `omitempty` in v2, not in v1.
            if let Some(n) = get(status, "currentReplicas").filter(|n| n.as_i64() != Some(0)) {
                out.insert("currentReplicas".into(), n.clone());
            }
            out.insert(
                "desiredReplicas".into(),
                int_or_zero(status, "desiredReplicas"),
            );
            // The annotation has more than the CPU percentage: it wins when present.
            let current: Vec<Value> = match &current_metrics {
                Some(list) => list.iter().map(metric_status_to_v2).collect(),
                None => get(status, "currentCPUUtilizationPercentage")
                    .map(|pct| {
                        vec![json!({
                            "type": "Resource",
                            "resource": {"name": "cpu", "current": {"averageUtilization": pct}},
                        })]
                    })
                    .unwrap_or_default(),
            };
            if !current.is_empty() {
                out.insert("currentMetrics".into(), Value::Array(current));
            }
            let conditions: Vec<Value> = conditions.iter().flatten().map(condition_to_v2).collect();
            if !conditions.is_empty() {
                out.insert("conditions".into(), Value::Array(conditions));
            }
            Value::Object(out)
        });

    let mut out = Map::new();
    out.insert("apiVersion".into(), V2.into());
    out.insert("kind".into(), "HorizontalPodAutoscaler".into());
    out.insert("metadata".into(), metadata(&obj, &[]));
    out.insert("spec".into(), Value::Object(v2_spec));
    if let Some(status) = v2_status {
        out.insert("status".into(), status);
    }
    Value::Object(out)
}

/// `obj.metadata` without the round-trip annotations, plus `set`. An annotation map left
/// empty is removed, as Go's `omitempty` does.
fn metadata(obj: &Value, set: &[(&str, String)]) -> Value {
    let mut meta = match get(obj, "metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let mut annotations = match meta.get("annotations") {
        Some(Value::Object(a)) => a.clone(),
        _ => Map::new(),
    };
    for key in ROUND_TRIP {
        annotations.shift_remove(key);
    }
    for (key, value) in set {
        annotations.insert((*key).to_string(), Value::String(value.clone()));
    }
    if annotations.is_empty() {
        meta.shift_remove("annotations");
    } else {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    Value::Object(meta)
}

fn annotation(obj: &Value, key: &str) -> Option<String> {
    obj.pointer("/metadata/annotations")?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

/// A round-trip annotation holding a JSON list; `None` when absent or malformed.
fn annotation_list(obj: &Value, key: &str) -> Option<Vec<Value>> {
    match serde_json::from_str(&annotation(obj, key)?) {
        Ok(Value::Array(list)) => Some(list),
        _ => None,
    }
}

fn array(obj: &Value, key: &str) -> Vec<Value> {
    match get(obj, key) {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

fn str_or_empty(obj: &Value, key: &str) -> Value {
    get(obj, key).cloned().unwrap_or_else(|| json!(""))
}

fn int_or_zero(obj: &Value, key: &str) -> Value {
    get(obj, key).cloned().unwrap_or_else(|| json!(0))
}

/// A v1 quantity field that Go declares without a pointer: the zero quantity reads `"0"`.
fn quantity_or_zero(obj: &Value, key: &str) -> Value {
    get(obj, key).cloned().unwrap_or_else(|| json!("0"))
}

fn is_resource(metric: &Value, name: &str) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some(name)
}

/// The one metric v1 expresses natively.
fn is_cpu_utilization_target(metric: &Value) -> bool {
    is_resource(metric, "cpu")
        && metric
            .pointer("/resource/target/averageUtilization")
            .is_some_and(|u| !u.is_null())
}

/// `CrossVersionObjectReference` is the same shape in both versions.
fn scale_target_ref(spec: &Value) -> Value {
    get(spec, "scaleTargetRef").map_or_else(|| object_ref(&json!({})), object_ref)
}

fn object_ref(r: &Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), str_or_empty(r, "kind"));
    out.insert("name".into(), str_or_empty(r, "name"));
    if let Some(v) = get(r, "apiVersion").filter(|v| v.as_str() != Some("")) {
        out.insert("apiVersion".into(), v.clone());
    }
    Value::Object(out)
}

fn object_ref_from_go(r: Option<&Value>) -> Value {
    let r = r.cloned().unwrap_or_else(|| json!({}));
    let mut out = Map::new();
    out.insert("kind".into(), go_str(&r, "kind"));
    out.insert("name".into(), go_str(&r, "name"));
    if let Some(v) = get_go(&r, "apiVersion").filter(|v| v.as_str() != Some("")) {
        out.insert("apiVersion".into(), v.clone());
    }
    Value::Object(out)
}

fn go_str(obj: &Value, key: &str) -> Value {
    get_go(obj, key).cloned().unwrap_or_else(|| json!(""))
}

fn go_copy(out: &mut Map<String, Value>, to: &str, src: &Value, from: &str) {
    if let Some(v) = get_go(src, from) {
        out.insert(to.to_string(), v.clone());
    }
}

/// v2 `metric.name` → v1 `metricName` (v1 puts the selector later, see [`selector_to_v1`]).
fn identifier_to_v1(out: &mut Map<String, Value>, src: &Value) {
    let empty = json!({});
    let metric = get(src, "metric").unwrap_or(&empty);
    out.insert("metricName".into(), str_or_empty(metric, "name"));
}

fn selector_to_v1(out: &mut Map<String, Value>, src: &Value, selector_key: &str) {
    if let Some(s) = src.pointer("/metric/selector").filter(|s| !s.is_null()) {
        out.insert(selector_key.to_string(), s.clone());
    }
}

fn identifier_to_v2(src: &Value, selector_key: &str) -> Value {
    let mut id = Map::new();
    id.insert("name".into(), go_str(src, "metricName"));
    go_copy(&mut id, "selector", src, selector_key);
    Value::Object(id)
}

fn metric_spec_to_v1(m: &Value) -> Value {
    let empty = json!({});
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(m, "type"));
    if let Some(o) = get(m, "object") {
        let target = get(o, "target").unwrap_or(&empty);
        let mut v = Map::new();
        v.insert(
            "target".into(),
            object_ref(get(o, "describedObject").unwrap_or(&empty)),
        );
        identifier_to_v1(&mut v, o);
        v.insert("targetValue".into(), quantity_or_zero(target, "value"));
        selector_to_v1(&mut v, o, "selector");
        copy(&mut v, "averageValue", target, "averageValue");
        out.insert("object".into(), Value::Object(v));
    }
    if let Some(p) = get(m, "pods") {
        let target = get(p, "target").unwrap_or(&empty);
        let mut v = Map::new();
        identifier_to_v1(&mut v, p);
        v.insert(
            "targetAverageValue".into(),
            quantity_or_zero(target, "averageValue"),
        );
        selector_to_v1(&mut v, p, "selector");
        out.insert("pods".into(), Value::Object(v));
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = get(m, key) {
            let target = get(r, "target").unwrap_or(&empty);
            let mut v = Map::new();
            v.insert("name".into(), str_or_empty(r, "name"));
            copy(
                &mut v,
                "targetAverageUtilization",
                target,
                "averageUtilization",
            );
            copy(&mut v, "targetAverageValue", target, "averageValue");
            if container {
                v.insert("container".into(), str_or_empty(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = get(m, "external") {
        let target = get(e, "target").unwrap_or(&empty);
        let mut v = Map::new();
        identifier_to_v1(&mut v, e);
        selector_to_v1(&mut v, e, "metricSelector");
        copy(&mut v, "targetValue", target, "value");
        copy(&mut v, "targetAverageValue", target, "averageValue");
        out.insert("external".into(), Value::Object(v));
    }
    Value::Object(out)
}

fn metric_spec_to_v2(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), go_str(m, "type"));
    if let Some(o) = get_go(m, "object") {
        let mut target = Map::new();
        let kind = if get_go(o, "averageValue").is_none() {
            "Value"
        } else {
            "AverageValue"
        };
        target.insert("type".into(), kind.into());
        // Upstream points at v1's non-pointer `targetValue`, so a value is always there.
        target.insert("value".into(), go_quantity_or_zero(o, "targetValue"));
        go_copy(&mut target, "averageValue", o, "averageValue");
        out.insert(
            "object".into(),
            json!({
                "describedObject": object_ref_from_go(get_go(o, "target")),
                "target": target,
                "metric": identifier_to_v2(o, "selector"),
            }),
        );
    }
    if let Some(p) = get_go(m, "pods") {
        out.insert(
            "pods".into(),
            json!({
                "metric": identifier_to_v2(p, "selector"),
                "target": {
                    "type": "AverageValue",
                    "averageValue": go_quantity_or_zero(p, "targetAverageValue"),
                },
            }),
        );
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = get_go(m, key) {
            let mut target = Map::new();
            let kind = if get_go(r, "targetAverageUtilization").is_none() {
                "AverageValue"
            } else {
                "Utilization"
            };
            target.insert("type".into(), kind.into());
            go_copy(&mut target, "averageValue", r, "targetAverageValue");
            go_copy(
                &mut target,
                "averageUtilization",
                r,
                "targetAverageUtilization",
            );
            let mut v = Map::new();
            v.insert("name".into(), go_str(r, "name"));
            v.insert("target".into(), Value::Object(target));
            if container {
                v.insert("container".into(), go_str(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = get_go(m, "external") {
        let mut target = Map::new();
        let kind = if get_go(e, "targetValue").is_none() {
            "AverageValue"
        } else {
            "Value"
        };
        target.insert("type".into(), kind.into());
        go_copy(&mut target, "value", e, "targetValue");
        go_copy(&mut target, "averageValue", e, "targetAverageValue");
        out.insert(
            "external".into(),
            json!({
                "metric": identifier_to_v2(e, "metricSelector"),
                "target": target,
            }),
        );
    }
    Value::Object(out)
}

fn metric_status_to_v1(m: &Value) -> Value {
    let empty = json!({});
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(m, "type"));
    if let Some(o) = get(m, "object") {
        let current = get(o, "current").unwrap_or(&empty);
        let mut v = Map::new();
        v.insert(
            "target".into(),
            object_ref(get(o, "describedObject").unwrap_or(&empty)),
        );
        identifier_to_v1(&mut v, o);
        v.insert("currentValue".into(), quantity_or_zero(current, "value"));
        selector_to_v1(&mut v, o, "selector");
        copy(&mut v, "averageValue", current, "averageValue");
        out.insert("object".into(), Value::Object(v));
    }
    if let Some(p) = get(m, "pods") {
        let current = get(p, "current").unwrap_or(&empty);
        let mut v = Map::new();
        identifier_to_v1(&mut v, p);
        v.insert(
            "currentAverageValue".into(),
            quantity_or_zero(current, "averageValue"),
        );
        selector_to_v1(&mut v, p, "selector");
        out.insert("pods".into(), Value::Object(v));
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = get(m, key) {
            let current = get(r, "current").unwrap_or(&empty);
            let mut v = Map::new();
            v.insert("name".into(), str_or_empty(r, "name"));
            copy(
                &mut v,
                "currentAverageUtilization",
                current,
                "averageUtilization",
            );
            v.insert(
                "currentAverageValue".into(),
                quantity_or_zero(current, "averageValue"),
            );
            if container {
                v.insert("container".into(), str_or_empty(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = get(m, "external") {
        let current = get(e, "current").unwrap_or(&empty);
        let mut v = Map::new();
        identifier_to_v1(&mut v, e);
        selector_to_v1(&mut v, e, "metricSelector");
        v.insert("currentValue".into(), quantity_or_zero(current, "value"));
        copy(&mut v, "currentAverageValue", current, "averageValue");
        out.insert("external".into(), Value::Object(v));
    }
    Value::Object(out)
}

fn metric_status_to_v2(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), go_str(m, "type"));
    if let Some(o) = get_go(m, "object") {
        let mut current = Map::new();
        current.insert("value".into(), go_quantity_or_zero(o, "currentValue"));
        go_copy(&mut current, "averageValue", o, "averageValue");
        out.insert(
            "object".into(),
            json!({
                "metric": identifier_to_v2(o, "selector"),
                "current": current,
                "describedObject": object_ref_from_go(get_go(o, "target")),
            }),
        );
    }
    if let Some(p) = get_go(m, "pods") {
        out.insert(
            "pods".into(),
            json!({
                "metric": identifier_to_v2(p, "selector"),
                "current": {"averageValue": go_quantity_or_zero(p, "currentAverageValue")},
            }),
        );
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = get_go(m, key) {
            let mut current = Map::new();
            current.insert(
                "averageValue".into(),
                go_quantity_or_zero(r, "currentAverageValue"),
            );
            go_copy(
                &mut current,
                "averageUtilization",
                r,
                "currentAverageUtilization",
            );
            let mut v = Map::new();
            v.insert("name".into(), go_str(r, "name"));
            v.insert("current".into(), Value::Object(current));
            if container {
                v.insert("container".into(), go_str(r, "container"));
            }
            out.insert(key.into(), Value::Object(v));
        }
    }
    if let Some(e) = get_go(m, "external") {
        let mut current = Map::new();
        current.insert("value".into(), go_quantity_or_zero(e, "currentValue"));
        go_copy(&mut current, "averageValue", e, "currentAverageValue");
        out.insert(
            "external".into(),
            json!({
                "metric": identifier_to_v2(e, "metricSelector"),
                "current": current,
            }),
        );
    }
    Value::Object(out)
}

fn go_quantity_or_zero(obj: &Value, key: &str) -> Value {
    get_go(obj, key).cloned().unwrap_or_else(|| json!("0"))
}

/// v1's condition type: `lastTransitionTime` is a struct in Go, so it is written even when
/// zero (as `null`); `reason` and `message` are `omitempty`.
fn condition_to_v1(c: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), str_or_empty(c, "type"));
    out.insert("status".into(), str_or_empty(c, "status"));
    out.insert(
        "lastTransitionTime".into(),
        get(c, "lastTransitionTime").cloned().unwrap_or(Value::Null),
    );
    for key in ["reason", "message"] {
        if let Some(v) = get(c, key).filter(|v| v.as_str() != Some("")) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

fn condition_to_v2(c: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), go_str(c, "type"));
    out.insert("status".into(), go_str(c, "status"));
    for key in ["lastTransitionTime", "reason", "message"] {
        go_copy(&mut out, key, c, key);
    }
    Value::Object(out)
}

/// `spec.behavior` as `json.Marshal` writes the internal Go type.
fn behavior_to_go(b: &Value) -> Value {
    let rules = |r: Option<&Value>| {
        let Some(r) = r else { return Value::Null };
        let policies = match get(r, "policies") {
            Some(Value::Array(list)) => Value::Array(
                list.iter()
                    .map(|p| {
                        json!({
                            "Type": str_or_empty(p, "type"),
                            "Value": int_or_zero(p, "value"),
                            "PeriodSeconds": int_or_zero(p, "periodSeconds"),
                        })
                    })
                    .collect(),
            ),
            _ => Value::Null,
        };
        json!({
            "StabilizationWindowSeconds": get(r, "stabilizationWindowSeconds"),
            "SelectPolicy": get(r, "selectPolicy"),
            "Policies": policies,
            "Tolerance": get(r, "tolerance"),
        })
    };
    json!({
        "ScaleUp": rules(get(b, "scaleUp")),
        "ScaleDown": rules(get(b, "scaleDown")),
    })
}

/// The inverse of [`behavior_to_go`]; `None` when malformed or when it holds no rules (upstream
/// only sets a behavior that differs from the zero value).
fn behavior_from_go(text: &str) -> Option<Value> {
    let b: Value = serde_json::from_str(text).ok()?;
    let rules = |r: &Value| {
        let mut out = Map::new();
        go_copy(
            &mut out,
            "stabilizationWindowSeconds",
            r,
            "StabilizationWindowSeconds",
        );
        go_copy(&mut out, "selectPolicy", r, "SelectPolicy");
        if let Some(Value::Array(list)) = get_go(r, "Policies") {
            if !list.is_empty() {
                let policies = list
                    .iter()
                    .map(|p| {
                        json!({
                            "type": go_str(p, "Type"),
                            "value": get_go(p, "Value").cloned().unwrap_or_else(|| json!(0)),
                            "periodSeconds":
                                get_go(p, "PeriodSeconds").cloned().unwrap_or_else(|| json!(0)),
                        })
                    })
                    .collect();
                out.insert("policies".into(), Value::Array(policies));
            }
        }
        go_copy(&mut out, "tolerance", r, "Tolerance");
        Value::Object(out)
    };
    let mut out = Map::new();
    for (go, v2) in [("ScaleUp", "scaleUp"), ("ScaleDown", "scaleDown")] {
        if let Some(r) = get_go(&b, go).filter(|r| r.is_object()) {
            out.insert(v2.into(), rules(r));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}
