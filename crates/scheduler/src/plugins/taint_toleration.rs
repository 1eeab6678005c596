//! Taints repel pods that do not tolerate them: NoSchedule/NoExecute filter, PreferNoSchedule
//! lowers the score.

use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use crate::framework::{NodeInfo, Plugin, Unfit};

pub struct TaintToleration;

/// Upstream's `ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

fn taints(node: &NodeInfo) -> &[Taint] {
    node.node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Result<(), Unfit> {
        let tols = tolerations(pod);
        let untolerated = taints(node)
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .find(|t| !tols.iter().any(|tol| tolerates(tol, t)));
        match untolerated {
            None => Ok(()),
            Some(t) => Err(Unfit::one(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            ))),
        }
    }
    fn score(&self, pod: &Pod, node: &NodeInfo) -> Option<i64> {
        let tols = tolerations(pod);
        let n = taints(node)
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tols.iter().any(|tol| tolerates(tol, t)))
            .count();
        Some(n as i64)
    }
    fn normalize(&self, scores: &mut [i64]) {
        super::normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn toleration_matching() {
        let taint: Taint =
            serde_json::from_value(json!({"key": "gpu", "value": "true", "effect": "NoSchedule"}))
                .expect("taint");
        let cases = [
            (
                json!({"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}),
                true,
            ),
            (json!({"key": "gpu", "value": "true"}), true),
            (json!({"key": "gpu", "value": "false"}), false),
            (json!({"key": "gpu", "operator": "Exists"}), true),
            (json!({"operator": "Exists"}), true),
            (
                json!({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}),
                false,
            ),
            (json!({"key": "other", "operator": "Exists"}), false),
        ];
        for (tol, want) in cases {
            let t: Toleration = serde_json::from_value(tol.clone()).expect("toleration");
            assert_eq!(tolerates(&t, &taint), want, "{tol}");
        }
    }
}
