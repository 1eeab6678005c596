//! `nodeSelector` and required node affinity filter; preferred node affinity scores.

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, Pod};

use crate::framework::{NodeInfo, Plugin, Unfit};

pub struct NodeAffinity;

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A term matches when all its expressions and fields do; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name" && requirement_matches(r, node.metadata.name.as_deref())
        })
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(spec) = pod.spec.as_ref() else {
            return Ok(());
        };
        let labels = node.node.metadata.labels.as_ref();
        let selector_ok = spec
            .node_selector
            .iter()
            .flatten()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let affinity_ok = required.is_none_or(|r| {
            r.node_selector_terms
                .iter()
                .any(|t| term_matches(t, &node.node))
        });
        if selector_ok && affinity_ok {
            Ok(())
        } else {
            Err(Unfit::one(
                "node(s) didn't match Pod's node affinity/selector",
            ))
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Option<i64> {
        let preferred = pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let total = preferred
            .into_iter()
            .flatten()
            .filter(|p| term_matches(&p.preference, &node.node))
            .map(|p| i64::from(p.weight))
            .sum();
        Some(total)
    }

    fn normalize(&self, scores: &mut [i64]) {
        super::normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: serde_json::Value) -> NodeInfo {
        NodeInfo::new(
            serde_json::from_value(json!({"metadata": {"name": "n1", "labels": labels}}))
                .expect("node"),
        )
    }

    fn pod(spec: serde_json::Value) -> Pod {
        let mut s = spec;
        s["containers"] = json!([{"name": "c"}]);
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": s})).expect("pod")
    }

    #[test]
    fn selectors_and_required_terms() {
        let n = node(json!({"zone": "a", "gpu": "true", "cores": "16"}));
        let term = |exprs: serde_json::Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}}}});
        let cases = [
            (json!({"nodeSelector": {"zone": "a"}}), true),
            (json!({"nodeSelector": {"zone": "b"}}), false),
            (
                term(json!([{"key": "zone", "operator": "In", "values": ["a", "b"]}])),
                true,
            ),
            (
                term(json!([{"key": "zone", "operator": "NotIn", "values": ["a"]}])),
                false,
            ),
            (
                term(
                    json!([{"key": "gpu", "operator": "Exists"}, {"key": "cores", "operator": "Gt", "values": ["8"]}]),
                ),
                true,
            ),
            (
                term(json!([{"key": "cores", "operator": "Lt", "values": ["8"]}])),
                false,
            ),
            (
                term(json!([{"key": "ssd", "operator": "DoesNotExist"}])),
                true,
            ),
        ];
        for (spec, fits) in cases {
            assert_eq!(
                NodeAffinity.filter(&pod(spec.clone()), &n).is_ok(),
                fits,
                "{spec}"
            );
        }
    }
}
