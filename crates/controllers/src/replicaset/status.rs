//! What a ReplicaSet's status should say (upstream `calculateStatus`), and whether that
//! differs from what it says now.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{podinfo, selector};

pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// `active` are the pods the ReplicaSet owns that count toward its replicas;
/// `terminating` how many of its pods are being deleted; `manage_error` the message of the
/// last failed create or delete in this sync.
pub fn compute(
    rs: &ReplicaSet,
    active: &[&Pod],
    terminating: usize,
    manage_error: Option<&str>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let spec = Some(&rs.spec);
    let wanted = spec.and_then(|s| s.replicas).unwrap_or(1);
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let template_selector = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
        match_labels: Some(template_labels),
        ..Default::default()
    };
    let (mut fully_labeled, mut ready, mut available) = (0, 0, 0);
    for pod in active {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        if selector::matches(&template_selector, &labels) {
            fully_labeled += 1;
        }
        if podinfo::is_ready(pod) {
            ready += 1;
            if podinfo::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let has_failure = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_.as_deref() == Some(REPLICA_FAILURE));
    match manage_error {
        Some(msg) if !has_failure => {
            let diff = count(active.len()) - wanted;
            let reason = match diff {
                d if d < 0 => Some("FailedCreate"),
                d if d > 0 => Some("FailedDelete"),
                _ => None,
            };
            status
                .conditions
                .get_or_insert_with(Vec::new)
                .push(ReplicaSetCondition {
                    type_: Some(REPLICA_FAILURE.into()),
                    status: Some("True".into()),
                    reason: reason.map(str::to_string),
                    message: Some(msg.to_string()),
                    last_transition_time: Some(Time(now)),
                });
        }
        None if has_failure => {
            if let Some(c) = status.conditions.as_mut() {
                c.retain(|c| c.type_.as_deref() != Some(REPLICA_FAILURE));
            }
            if status.conditions.as_ref().is_some_and(|c| c.is_empty()) {
                status.conditions = None;
            }
        }
        _ => {}
    }
    status.replicas = count(active.len());
    status.fully_labeled_replicas = Some(fully_labeled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.terminating_replicas = Some(count(terminating));
    status
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whether `new` must be written: a count or a condition changed, or the status does not
/// yet speak for the current generation.
pub fn needs_write(rs: &ReplicaSet, new: &ReplicaSetStatus) -> bool {
    let old = rs.status.clone().unwrap_or_default();
    let zero = |v: Option<i32>| v.unwrap_or(0);
    old.replicas != new.replicas
        || zero(old.fully_labeled_replicas) != zero(new.fully_labeled_replicas)
        || zero(old.ready_replicas) != zero(new.ready_replicas)
        || zero(old.available_replicas) != zero(new.available_replicas)
        || old.terminating_replicas != new.terminating_replicas
        || old.conditions.unwrap_or_default() != new.conditions.clone().unwrap_or_default()
        || old.observed_generation != rs.metadata.generation
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(extra_status: serde_json::Value) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 3, "minReadySeconds": 10,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}},
            "status": extra_status,
        }))
        .unwrap()
    }

    fn pod(labels: serde_json::Value, ready_at: Option<&str>) -> Pod {
        let status = match ready_at {
            Some(t) => json!({"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": t}]}),
            None => json!({"phase": "Pending"}),
        };
        serde_json::from_value(json!({"metadata": {"labels": labels}, "status": status})).unwrap()
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table of cases, one tuple per row
    fn status_table() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let full = json!({"app": "web", "tier": "fe"});
        let partial = json!({"app": "web"});
        // (pods, terminating, error, (replicas, fullyLabeled, ready, available), failure reason)
        let cases: Vec<(
            Vec<Pod>,
            usize,
            Option<&str>,
            (i32, i32, i32, i32),
            Option<&str>,
        )> = vec![
            (vec![], 0, None, (0, 0, 0, 0), None),
            (
                vec![
                    pod(full.clone(), Some("2026-01-01T11:00:00Z")),
                    pod(full.clone(), Some("2026-01-01T11:59:55Z")),
                    pod(partial.clone(), None),
                ],
                1,
                None,
                (3, 2, 2, 1),
                None,
            ),
            (
                vec![pod(full.clone(), None)],
                0,
                Some("pods \"web-\" is forbidden: quota"),
                (1, 1, 0, 0),
                Some("FailedCreate"),
            ),
            (
                vec![pod(full.clone(), None); 4],
                0,
                Some("boom"),
                (4, 4, 0, 0),
                Some("FailedDelete"),
            ),
        ];
        for (i, (pods, term, err, counts, reason)) in cases.into_iter().enumerate() {
            let refs: Vec<&Pod> = pods.iter().collect();
            let s = compute(&rs(json!({"replicas": 0})), &refs, term, err, now);
            let got = (
                s.replicas,
                s.fully_labeled_replicas.unwrap(),
                s.ready_replicas.unwrap(),
                s.available_replicas.unwrap(),
            );
            assert_eq!(got, counts, "case {i}");
            assert_eq!(s.terminating_replicas, Some(term as i32), "case {i}");
            let cond = s.conditions.unwrap_or_default();
            assert_eq!(
                cond.first().and_then(|c| c.reason.as_deref()),
                reason,
                "case {i}"
            );
            if let (Some(c), Some(e)) = (cond.first(), err) {
                assert_eq!(c.message.as_deref(), Some(e));
            }
        }
    }

    #[test]
    fn failure_condition_cleared_after_success() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let with_failure = rs(json!({"replicas": 0, "conditions": [
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "x"}]}));
        let s = compute(&with_failure, &[], 0, None, now);
        assert_eq!(s.conditions, None);
        // A failure already recorded is kept as it was, not restamped.
        let s = compute(&with_failure, &[], 0, Some("y"), now);
        assert_eq!(s.conditions.unwrap()[0].message.as_deref(), Some("x"));
    }

    #[test]
    fn write_only_when_changed() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let current = rs(
            json!({"replicas": 0, "fullyLabeledReplicas": 0, "readyReplicas": 0,
            "availableReplicas": 0, "terminatingReplicas": 0, "observedGeneration": 2}),
        );
        let s = compute(&current, &[], 0, None, now);
        assert!(!needs_write(&current, &s));
        let stale = rs(json!({"replicas": 0, "observedGeneration": 1}));
        let s = compute(&stale, &[], 0, None, now);
        assert!(needs_write(&stale, &s));
        let p = pod(json!({"app": "web"}), None);
        let s = compute(&current, &[&p], 0, None, now);
        assert!(needs_write(&current, &s));
    }
}
