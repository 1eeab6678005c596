//! Validation pieces many kinds share: numbers that may not be negative, int-or-percent
//! values, immutable fields, label selectors.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{is_qualified_name, is_valid_percent, validate_labels};
use serde_json::{Map, Value};

use super::json::{array_at, get, i64_at, object_at, str_at};

pub(crate) const NONNEGATIVE: &str = "must be greater than or equal to 0";

/// Upstream's `ValidateNonnegativeField` on the integer at `key` of `obj`, if set.
pub(crate) fn nonnegative(obj: &Value, key: &str, path: &Path) -> FieldErrors {
    match i64_at(obj, &[key]) {
        Some(n) if n < 0 => vec![FieldError::invalid(path.child(key), n, NONNEGATIVE)],
        _ => Vec::new(),
    }
}

/// Upstream's `ValidatePositiveIntOrPercent`.
pub(crate) fn int_or_percent(v: Option<&Value>, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    match v {
        Some(Value::String(s)) => {
            for msg in is_valid_percent(s) {
                errs.push(FieldError::invalid(path, s.as_str(), msg));
            }
        }
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n < 0) => {
            errs.push(FieldError::invalid(path, n.clone(), NONNEGATIVE));
        }
        _ => {}
    }
    errs
}

/// Upstream's `IsNotMoreThan100Percent`.
pub(crate) fn not_more_than_100_percent(v: Option<&Value>, path: &Path) -> FieldErrors {
    match v.and_then(Value::as_str) {
        Some(s)
            if s.strip_suffix('%')
                .and_then(|d| d.parse::<i64>().ok())
                .is_some_and(|p| p > 100) =>
        {
            vec![FieldError::invalid(
                path,
                s,
                "must not be greater than 100%",
            )]
        }
        _ => Vec::new(),
    }
}

/// Whether an int-or-percent is 0 or 0%.
pub(crate) fn int_or_percent_is_zero(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => {
            s.strip_suffix('%').and_then(|d| d.parse::<i64>().ok()) == Some(0)
        }
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        _ => false,
    }
}

/// `field is immutable` when the value at `key` changed.
pub(crate) fn immutable(new: &Value, old: &Value, key: &[&str], path: &Path) -> FieldErrors {
    let (n, o) = (get(new, key), get(old, key));
    if n == o {
        Vec::new()
    } else {
        vec![FieldError::immutable(
            path,
            n.cloned().unwrap_or(Value::Null),
        )]
    }
}

const SELECTOR_OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// Upstream's `ValidateLabelSelector` (metav1.LabelSelector).
pub(crate) fn validate_label_selector(sel: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, req) in array_at(sel, &["matchExpressions"]).iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let op = str_at(req, &["operator"]);
        let values = array_at(req, &["values"]);
        match op {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                p.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::not_supported(
                p.child("operator"),
                other,
                SELECTOR_OPERATORS,
            )),
        }
        let key = str_at(req, &["key"]);
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(p.child("key"), key, msg));
        }
    }
    errs.extend(validate_labels(
        get(sel, &["matchLabels"]),
        path.child("matchLabels").as_str(),
    ));
    errs
}

/// Whether a selector selects nothing in particular (matches everything).
pub(crate) fn selector_is_empty(sel: &Value) -> bool {
    object_at(sel, &["matchLabels"]).is_none_or(Map::is_empty)
        && array_at(sel, &["matchExpressions"]).is_empty()
}

/// Whether `labels` satisfy a metav1.LabelSelector.
pub(crate) fn selector_matches(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = object_at(sel, &["matchLabels"])
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k).is_some() && label(k) == v.as_str());
    let match_expressions = array_at(sel, &["matchExpressions"]).iter().all(|req| {
        let key = str_at(req, &["key"]);
        let values = array_at(req, &["values"]);
        let has = |v: &str| values.iter().any(|x| x.as_str() == Some(v));
        match (str_at(req, &["operator"]), label(key)) {
            ("In", Some(v)) => has(v),
            ("NotIn", Some(v)) => !has(v),
            ("NotIn", None) | ("Exists", Some(_)) | ("DoesNotExist", None) => true,
            _ => false,
        }
    });
    match_labels && match_expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn selector_matching() {
        let labels = json!({"app": "web", "tier": "fe"});
        let labels = labels.as_object();
        let cases = [
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]}),
                false,
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(selector_matches(&sel, labels), want, "{sel}");
        }
    }

    #[test]
    fn selector_validation() {
        let sel = json!({"matchLabels": {"a": "-"}, "matchExpressions": [
            {"key": "k", "operator": "In"},
            {"key": "k", "operator": "Exists", "values": ["x"]},
            {"key": "k", "operator": "Gt", "values": ["1"]}]});
        expect![[r#"
            spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'
            spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'
            spec.selector.matchExpressions[2].operator: Unsupported value: "Gt": supported values: "In", "NotIn", "Exists", "DoesNotExist"
            spec.selector.matchLabels: Invalid value: "-": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#]]
        .assert_eq(&messages(&validate_label_selector(&sel, &Path::new("spec").child("selector"))));
    }
}
