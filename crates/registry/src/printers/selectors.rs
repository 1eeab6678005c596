//! Label and selector formatting as upstream's `labels.FormatLabels`,
//! `metav1.LabelSelectorAsSelector(...).String()` and `metav1.FormatLabelSelector`.

use serde_json::Value;

use super::{arr_at, map_at, str_at};

/// `k=v` pairs sorted by key, comma-joined; `<none>` for an absent or empty map.
pub fn format_labels(labels: Option<&Value>) -> String {
    let Some(map) = labels.and_then(Value::as_object) else {
        return "<none>".to_string();
    };
    let mut pairs: Vec<(&String, &str)> = map
        .iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    }
}

/// A `metav1.LabelSelector` in selector syntax (`app=web,tier in (a,b),!canary`), sorted by
/// key; "" for an absent or empty selector; `None` when the selector is invalid (an unknown
/// operator, or values that do not fit the operator).
pub fn label_selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|v| v.is_object()) else {
        return Some(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = map_at(selector, &["matchLabels"]) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for expr in arr_at(selector, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => return None,
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return None,
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key.to_string(), text));
    }
    // Upstream sorts requirements by key (values were sorted above).
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        reqs.into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when it selects by nothing,
/// `<error>` when invalid.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        None => "<error>".to_string(),
        Some(text) if text.is_empty() => "<none>".to_string(),
        Some(text) => text,
    }
}

/// The Go `String()` of a `*metav1.LabelSelector` struct (used by admission policy bindings
/// for a `paramRef.selector`).
pub(crate) fn label_selector_struct_string(selector: &Value) -> String {
    let mut labels: Vec<(&String, &str)> = map_at(selector, &["matchLabels"])
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let labels: String = labels.iter().map(|(k, v)| format!("{k}: {v},")).collect();
    let exprs: String = arr_at(selector, &["matchExpressions"])
        .iter()
        .map(|e| {
            let values: Vec<&str> = arr_at(e, &["values"])
                .iter()
                .map(|v| v.as_str().unwrap_or(""))
                .collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                str_at(e, &["key"]),
                str_at(e, &["operator"]),
                values.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
}
