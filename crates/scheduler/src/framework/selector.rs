//! Label selectors parsed once (`metav1.LabelSelector` and node selector terms share the
//! operators In/NotIn/Exists/DoesNotExist), so matching per pod or node does no parsing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.key);
        match self.op {
            Op::In => v.is_some_and(|v| self.values.contains(v)),
            Op::NotIn => !v.is_some_and(|v| self.values.contains(v)),
            Op::Exists => v.is_some(),
            Op::DoesNotExist => v.is_none(),
        }
    }
}

/// A parsed selector. `Nothing` is what a missing (nil) selector means in affinity terms
/// and spread constraints; an empty one matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Nothing,
    Match(Vec<Requirement>),
}

impl Selector {
    pub fn everything() -> Selector {
        Selector::Match(Vec::new())
    }

    /// Upstream's `LabelSelectorAsSelector`: nil → nothing; an unknown operator → nothing
    /// (upstream rejects it; validation keeps such selectors out anyway).
    pub fn from_label_selector(s: Option<&LabelSelector>) -> Selector {
        let Some(s) = s else {
            return Selector::Nothing;
        };
        let mut reqs = Vec::new();
        for (k, v) in s.match_labels.iter().flatten() {
            reqs.push(Requirement {
                key: k.clone(),
                op: Op::In,
                values: vec![v.clone()],
            });
        }
        for e in s.match_expressions.iter().flatten() {
            let op = match e.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                _ => return Selector::Nothing,
            };
            reqs.push(Requirement {
                key: e.key.clone(),
                op,
                values: e.values.clone().unwrap_or_default(),
            });
        }
        Selector::Match(reqs)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Match(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Adds a requirement (used for matchLabelKeys / mismatchLabelKeys); no-op on Nothing.
    pub fn add(&mut self, r: Requirement) {
        if let Selector::Match(reqs) = self {
            reqs.push(r);
        }
    }

    pub fn is_nothing(&self) -> bool {
        matches!(self, Selector::Nothing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".into(), "fe".into()),
        ]
        .into();
        let cases = [
            (json!(null), false),
            (json!({}), true),
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
                json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Bogus"}]}),
                false,
            ),
        ];
        for (sel, want) in cases {
            let s: Option<LabelSelector> = serde_json::from_value(sel.clone()).expect("selector");
            assert_eq!(
                Selector::from_label_selector(s.as_ref()).matches(&labels),
                want,
                "{sel}"
            );
        }
    }
}
