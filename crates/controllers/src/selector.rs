//! Label selector matching for `metav1.LabelSelector` as controllers use it (upstream's
//! `metav1.LabelSelectorAsSelector`): every `matchLabels` pair and every expression must hold.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector`. A selector with an unknown operator matches nothing,
/// as upstream's conversion fails and the controller skips the object.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs_hold = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    pairs_hold
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let have = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => have.is_some_and(|v| values.contains(v)),
                "NotIn" => have.is_none_or(|v| !values.contains(v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

/// Whether the selector selects nothing at all. Upstream treats an empty selector on a
/// ReplicaSet as matching no pods (validation also rejects it), so the controller never
/// claims the whole namespace.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|m| m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(s: &str) -> BTreeMap<String, String> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn selector_table() {
        let cases: Vec<(LabelSelector, &str, bool)> = vec![
            (
                LabelSelector {
                    match_labels: Some(labels("app=web")),
                    ..Default::default()
                },
                "app=web,tier=x",
                true,
            ),
            (
                LabelSelector {
                    match_labels: Some(labels("app=web")),
                    ..Default::default()
                },
                "app=db",
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "In", &["a", "b"])]),
                    ..Default::default()
                },
                "env=b",
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "NotIn", &["a"])]),
                    ..Default::default()
                },
                "",
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "Exists", &[])]),
                    ..Default::default()
                },
                "app=web",
                false,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                "app=web",
                true,
            ),
            (
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "Bogus", &[])]),
                    ..Default::default()
                },
                "env=a",
                false,
            ),
        ];
        for (i, (sel, l, want)) in cases.into_iter().enumerate() {
            assert_eq!(matches(&sel, &labels(l)), want, "case {i}");
        }
    }
}
