//! `spec.podFailurePolicy`: the first rule that a failed pod matches decides what its
//! failure means.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

/// What a failed pod's failure does to the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matched, or a `Count` rule: counts toward the backoff limit.
    Count,
    /// Not counted at all.
    Ignore,
    /// Fails the whole Job, with this condition message.
    FailJob(String),
    /// Fails the pod's index (with `backoffLimitPerIndex`).
    FailIndex,
}

pub fn judge(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else {
        return Verdict::Count;
    };
    for (i, rule) in policy.rules.iter().enumerate() {
        if let Some(what) = matches(rule, pod) {
            let msg = format!("{what} matching {} rule at index {i}", rule.action);
            return match rule.action.as_str() {
                "FailJob" => Verdict::FailJob(msg),
                "Ignore" => Verdict::Ignore,
                "FailIndex" => Verdict::FailIndex,
                _ => Verdict::Count,
            };
        }
    }
    Verdict::Count
}

/// The first half of the condition message when the rule matches the pod.
fn matches(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let pod_name = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
    if let Some(req) = &rule.on_exit_codes {
        let status = pod.status.as_ref()?;
        let statuses = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in statuses {
            if req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
                continue;
            }
            let Some(code) = cs
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
            else {
                continue;
            };
            // Success exits never match, whatever the operator.
            if code == 0 {
                continue;
            }
            let listed = req.values.contains(&code);
            let hit = match req.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            if hit {
                return Some(format!(
                    "Container {} for pod {pod_name} failed with exit code {code}",
                    cs.name
                ));
            }
        }
        return None;
    }
    let patterns = rule.on_pod_conditions.as_ref()?;
    let conds = pod.status.as_ref()?.conditions.as_ref()?;
    for p in patterns {
        let want = p.status.as_deref().unwrap_or("True");
        if conds.iter().any(|c| c.type_ == p.type_ && c.status == want) {
            return Some(format!("Pod {pod_name} has condition {}", p.type_));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(exit_codes: &[(&str, i32)], conditions: &[(&str, &str)]) -> Pod {
        let statuses: Vec<_> = exit_codes
            .iter()
            .map(|(n, c)| {
                json!({"name": n, "image": "x", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": c}}})
            })
            .collect();
        let conds: Vec<_> = conditions
            .iter()
            .map(|(t, s)| json!({"type": t, "status": s}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "containerStatuses": statuses, "conditions": conds},
        }))
        .unwrap()
    }

    fn policy(rules: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    #[test]
    fn verdicts() {
        let p = policy(json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "In", "values": [3]}},
            {"action": "FailIndex", "onExitCodes": {"operator": "NotIn", "values": [1, 2, 3]}},
        ]));
        let cases: Vec<(Pod, Verdict)> = vec![
            (
                pod(&[("main", 1)], &[("DisruptionTarget", "True")]),
                Verdict::Ignore,
            ),
            (
                pod(&[("main", 1)], &[("DisruptionTarget", "False")]),
                Verdict::Count,
            ),
            (
                pod(&[("side", 0), ("main", 42)], &[]),
                Verdict::FailJob(
                    "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
                        .into(),
                ),
            ),
            // The container name filters: 42 in another container falls to the NotIn rule.
            (pod(&[("side", 42)], &[]), Verdict::FailIndex),
            (pod(&[("main", 3)], &[]), Verdict::Count),
            // Exit code 0 never matches NotIn.
            (pod(&[("main", 0)], &[]), Verdict::Count),
        ];
        for (i, (pod, want)) in cases.into_iter().enumerate() {
            assert_eq!(judge(Some(&p), &pod), want, "case {i}");
        }
        assert_eq!(judge(None, &pod(&[("main", 42)], &[])), Verdict::Count);
    }

    #[test]
    fn condition_message() {
        let p = policy(json!([
            {"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue", "status": "True"}]},
        ]));
        assert_eq!(
            judge(Some(&p), &pod(&[], &[("ConfigIssue", "True")])),
            Verdict::FailJob(
                "Pod ns/p has condition ConfigIssue matching FailJob rule at index 0".into()
            )
        );
    }
}
