//! Which surplus pods go first when scaling down (upstream `ActivePodsWithRanks`): the
//! pods whose loss hurts least — not yet scheduled, not yet running, not ready, cheaper to
//! delete, doubled up on a node, ready more recently, restarting more, created more recently.

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::podinfo;

/// The first `count` of `pods` in deletion order. `related` are the pods that share an
/// owner with them (for a lone ReplicaSet, its own pods); a pod sharing its node with more
/// of them is a better candidate.
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    count: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| podinfo::is_active(p)) {
        *on_node.entry(podinfo::node_name(p)).or_default() += 1;
    }
    let mut ranked: Vec<(&'a Pod, usize)> = pods
        .iter()
        .map(|p| {
            let rank = on_node.get(podinfo::node_name(p)).copied().unwrap_or(0);
            (*p, rank)
        })
        .collect();
    ranked.sort_by(|a, b| order(a, b, now));
    ranked.into_iter().take(count).map(|(p, _)| p).collect()
}

fn order(a: &(&Pod, usize), b: &(&Pod, usize), now: Timestamp) -> Ordering {
    if deletes_first(a, b, now) {
        Ordering::Less
    } else if deletes_first(b, a, now) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match podinfo::phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

/// `a` comes before `b` when either is earlier, a zero (unknown) time before a set one.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a > b,
        (a, _) => a.is_none(),
    }
}

/// The log2 bucket of the age of `t` in nanoseconds; pods in the same bucket are treated
/// as equally old (upstream's logarithmic scale-down), so scale-down spreads over ages.
fn age_bucket(t: Timestamp, now: Timestamp) -> i64 {
    let nanos = now.duration_since(t).as_nanos();
    if nanos <= 0 {
        -1
    } else {
        // floor(log2(n)) for n > 0.
        127 - i64::from(nanos.leading_zeros())
    }
}

fn uid(p: &Pod) -> &str {
    p.metadata.uid.as_deref().unwrap_or("")
}

/// Compares two different times by age bucket; same bucket falls back to the uid, which
/// is what upstream does rather than going on to the next criterion.
fn by_bucket(a: &Pod, ta: Timestamp, b: &Pod, tb: Timestamp, now: Timestamp) -> bool {
    let (ra, rb) = (age_bucket(ta, now), age_bucket(tb, now));
    if ra == rb {
        uid(a) < uid(b)
    } else {
        ra < rb
    }
}

fn deletes_first(a: &(&Pod, usize), b: &(&Pod, usize), now: Timestamp) -> bool {
    let (pa, ra) = (a.0, a.1);
    let (pb, rb) = (b.0, b.1);
    let (na, nb) = (podinfo::node_name(pa), podinfo::node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    let (pha, phb) = (phase_ordinal(pa), phase_ordinal(pb));
    if pha != phb {
        return pha < phb;
    }
    let (reada, readyb) = (podinfo::is_ready(pa), podinfo::is_ready(pb));
    if reada != readyb {
        return !reada;
    }
    let (ca, cb) = (podinfo::deletion_cost(pa), podinfo::deletion_cost(pb));
    if ca != cb {
        return ca < cb;
    }
    if ra != rb {
        return ra > rb;
    }
    if reada && readyb {
        let ta = podinfo::ready_since(pa).flatten();
        let tb = podinfo::ready_since(pb).flatten();
        if ta != tb {
            return match (ta, tb) {
                (Some(ta), Some(tb)) => by_bucket(pa, ta, pb, tb, now),
                _ => after_or_zero(ta, tb),
            };
        }
    }
    let (xa, xb) = (podinfo::max_restarts(pa), podinfo::max_restarts(pb));
    if xa != xb {
        return xa > xb;
    }
    let (ta, tb) = (podinfo::created(pa), podinfo::created(pb));
    if ta != tb {
        return match (ta, tb) {
            (Some(ta), Some(tb)) => by_bucket(pa, ta, pb, tb, now),
            _ => after_or_zero(ta, tb),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(name: &str, json: serde_json::Value) -> Pod {
        let mut v = serde_json::json!({"metadata": {"name": name, "uid": name}});
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), json.as_object()) {
            for (k, val) in extra {
                if k == "metadata" {
                    if let (Some(m), Some(extra_m)) = (
                        obj.get_mut("metadata").and_then(|m| m.as_object_mut()),
                        val.as_object(),
                    ) {
                        m.extend(extra_m.clone());
                    }
                } else {
                    obj.insert(k.clone(), val.clone());
                }
            }
        }
        serde_json::from_value(v).unwrap()
    }

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn ready(at: &str) -> serde_json::Value {
        serde_json::json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": at}]})
    }

    #[test]
    fn deletion_order_table() {
        use serde_json::json;
        // (pods, how many to delete, expected names)
        let cases: Vec<(Vec<Pod>, usize, Vec<&str>)> = vec![
            (
                vec![
                    pod(
                        "scheduled",
                        json!({"spec": {"nodeName": "n1", "containers": []}}),
                    ),
                    pod("unscheduled", json!({})),
                ],
                1,
                vec!["unscheduled"],
            ),
            (
                vec![
                    pod("running", json!({"status": {"phase": "Running"}})),
                    pod("unknown", json!({"status": {"phase": "Unknown"}})),
                    pod("pending", json!({"status": {"phase": "Pending"}})),
                ],
                2,
                vec!["pending", "unknown"],
            ),
            (
                vec![
                    pod("ready", json!({"status": ready("2026-01-01T11:00:00Z")})),
                    pod("notready", json!({"status": {"phase": "Running"}})),
                ],
                1,
                vec!["notready"],
            ),
            (
                vec![
                    pod(
                        "costly",
                        json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": "10"}}}),
                    ),
                    pod(
                        "cheap",
                        json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": "-5"}}}),
                    ),
                ],
                1,
                vec!["cheap"],
            ),
            (
                vec![
                    pod(
                        "alone",
                        json!({"spec": {"nodeName": "n1", "containers": []}}),
                    ),
                    pod(
                        "crowd1",
                        json!({"spec": {"nodeName": "n2", "containers": []}}),
                    ),
                    pod(
                        "crowd2",
                        json!({"spec": {"nodeName": "n2", "containers": []}, "metadata": {"creationTimestamp": "2026-01-01T11:59:00Z"}}),
                    ),
                ],
                1,
                vec!["crowd1"],
            ),
            (
                vec![
                    pod(
                        "old-ready",
                        json!({"status": ready("2025-01-01T00:00:00Z")}),
                    ),
                    pod(
                        "new-ready",
                        json!({"status": ready("2026-01-01T11:59:59Z")}),
                    ),
                ],
                1,
                vec!["new-ready"],
            ),
            (
                vec![
                    pod(
                        "calm",
                        json!({"status": {"phase": "Running", "containerStatuses": [
                        {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 1}]}}),
                    ),
                    pod(
                        "flappy",
                        json!({"status": {"phase": "Running", "containerStatuses": [
                        {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 7}]}}),
                    ),
                ],
                1,
                vec!["flappy"],
            ),
            (
                vec![
                    pod(
                        "old",
                        json!({"metadata": {"creationTimestamp": "2025-06-01T00:00:00Z"}}),
                    ),
                    pod(
                        "new",
                        json!({"metadata": {"creationTimestamp": "2026-01-01T11:59:00Z"}}),
                    ),
                    pod("nodate", json!({})),
                ],
                2,
                vec!["nodate", "new"],
            ),
            (
                vec![pod("a", json!({})), pod("b", json!({}))],
                5,
                vec!["a", "b"],
            ),
        ];
        for (i, (pods, count, want)) in cases.iter().enumerate() {
            let refs: Vec<&Pod> = pods.iter().collect();
            let got: Vec<&str> = pods_to_delete(&refs, &refs, *count, now())
                .into_iter()
                .map(|p| p.metadata.name.as_deref().unwrap())
                .collect();
            assert_eq!(&got, want, "case {i}");
        }
    }
}
