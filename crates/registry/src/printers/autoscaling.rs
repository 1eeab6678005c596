//! HorizontalPodAutoscalers, autoscaling/v2 shaped, with autoscaling/v1's single CPU target
//! read as the one Resource metric it converts to.

use serde_json::Value;

use super::{
    arr_at, creation_age, docs, get, int, int_at, name_cell, opt_int, quantity, s, str_at, Column,
    Printer, AGE, NAME,
};

pub static HORIZONTAL_POD_AUTOSCALERS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Reference", "string", docs::HPA_SPEC_SCALE_TARGET_REF),
        Column::new("Targets", "string", docs::HPA_SPEC_METRICS),
        Column::new("MinPods", "string", docs::HPA_SPEC_MIN_REPLICAS),
        Column::new("MaxPods", "string", docs::HPA_SPEC_MAX_REPLICAS),
        Column::new("Replicas", "string", docs::HPA_STATUS_CURRENT_REPLICAS),
        AGE,
    ],
    row: |obj, now| {
        let reference = format!(
            "{}/{}",
            str_at(obj, &["spec", "scaleTargetRef", "kind"]),
            str_at(obj, &["spec", "scaleTargetRef", "name"])
        );
        let min_pods = opt_int(obj, &["spec", "minReplicas"])
            .map(|n| n.to_string())
            .unwrap_or_else(|| "<unset>".to_string());
        vec![
            name_cell(obj),
            s(reference),
            s(hpa_targets(obj)),
            s(min_pods),
            int(int_at(obj, &["spec", "maxReplicas"])),
            int(int_at(obj, &["status", "currentReplicas"])),
            creation_age(obj, now),
        ]
    },
};

/// Go's `(*Quantity).String()` on a possibly nil pointer.
fn q(v: Option<&Value>) -> String {
    quantity(v, "<nil>")
}

fn percent(v: Option<i64>, missing: &str) -> String {
    v.map(|p| format!("{p}%"))
        .unwrap_or_else(|| missing.to_string())
}

/// Up to two metrics as `current/target`, then "+ N more...".
fn hpa_targets(obj: &Value) -> String {
    if get(obj, &["spec", "metrics"]).is_none() {
        // autoscaling/v1: at most one CPU utilization target.
        if let Some(target) = opt_int(obj, &["spec", "targetCPUUtilizationPercentage"]) {
            let current = opt_int(obj, &["status", "currentCPUUtilizationPercentage"]);
            return format!("cpu: {}/{target}%", percent(current, "<unknown>"));
        }
    }
    let specs = arr_at(obj, &["spec", "metrics"]);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = arr_at(obj, &["status", "currentMetrics"]);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = |source: &str| statuses.get(i).and_then(|st| get(st, &[source]));
            metric_text(spec, status(metric_field(str_at(spec, &["type"]))))
        })
        .collect();
    const MAX: usize = 2;
    if list.len() > MAX {
        format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX)
    } else {
        list.join(", ")
    }
}

/// The field of a MetricSpec / MetricStatus that holds a metric of `type_`.
fn metric_field(type_: &str) -> &'static str {
    match type_ {
        "External" => "external",
        "Pods" => "pods",
        "Object" => "object",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        _ => "",
    }
}

fn metric_text(spec: &Value, status: Option<&Value>) -> String {
    let type_ = str_at(spec, &["type"]);
    let field = metric_field(type_);
    let Some(source) = get(spec, &[field]) else {
        return if field.is_empty() {
            "<unknown type>".to_string()
        } else {
            "<nil>".to_string()
        };
    };
    let target = |key: &str| get(source, &["target", key]);
    let current = |key: &str| status.and_then(|st| get(st, &["current", key]));
    match type_ {
        "External" | "Object" => {
            if target("averageValue").is_some() {
                let cur = current("averageValue").map(|v| q(Some(v)));
                format!(
                    "{}/{} (avg)",
                    cur.unwrap_or_else(|| "<unknown>".to_string()),
                    q(target("averageValue"))
                )
            } else {
                let cur = status.map(|_| q(current("value")));
                format!(
                    "{}/{}",
                    cur.unwrap_or_else(|| "<unknown>".to_string()),
                    q(target("value"))
                )
            }
        }
        "Pods" => {
            let cur = status.map(|_| q(current("averageValue")));
            format!(
                "{}/{}",
                cur.unwrap_or_else(|| "<unknown>".to_string()),
                q(target("averageValue"))
            )
        }
        _ => {
            // Resource and ContainerResource.
            let name = str_at(source, &["name"]);
            if target("averageValue").is_some() {
                let cur = status.map(|_| q(current("averageValue")));
                format!(
                    "{name}: {}/{}",
                    cur.unwrap_or_else(|| "<unknown>".to_string()),
                    q(target("averageValue"))
                )
            } else {
                let cur = percent(
                    current("averageUtilization").and_then(Value::as_i64),
                    "<unknown>",
                );
                let tgt = percent(
                    target("averageUtilization").and_then(Value::as_i64),
                    "<auto>",
                );
                format!("{name}: {cur}/{tgt}")
            }
        }
    }
}
