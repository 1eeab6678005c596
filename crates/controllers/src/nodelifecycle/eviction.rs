//! Taint-based eviction (upstream's NoExecute taint manager): a pod on a node with NoExecute
//! taints is deleted at once if it does not tolerate them all, or when the shortest of its
//! matching tolerations' `tolerationSeconds` runs out, counted from when the taint was added.

use k8s_openapi::api::core::v1::{Taint, Toleration};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every NoExecute taint is tolerated without a time limit.
    Stay,
    /// Delete the pod at this time (now or earlier means at once).
    EvictAt(Timestamp),
}

pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    let exists = t.operator.as_deref() == Some("Exists");
    if key.is_empty() {
        // An empty key with Exists tolerates everything; with Equal it is invalid.
        return exists;
    }
    if key != taint.key {
        return false;
    }
    exists || t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
}

/// The verdict for a pod with `tolerations` on a node with `taints`.
pub fn verdict(tolerations: &[Toleration], taints: &[Taint], now: Timestamp) -> Verdict {
    let mut at: Option<Timestamp> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Verdict::EvictAt(now);
        }
        // Any matching toleration without a limit tolerates the taint forever.
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue;
        }
        let seconds = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .min()
            .unwrap_or(0)
            .max(0);
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let when = added + SignedDuration::from_secs(seconds);
        at = Some(at.map_or(when, |a| a.min(when)));
    }
    at.map_or(Verdict::Stay, Verdict::EvictAt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verdicts() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().expect("time");
        let at = |s: &str| Verdict::EvictAt(s.parse().expect("time"));
        let unreachable = json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-01-01T00:09:00Z"});
        let cases = [
            (
                json!([]),
                json!([{"key": "x", "effect": "NoSchedule"}]),
                Verdict::Stay,
            ),
            (json!([]), json!([unreachable]), at("2026-01-01T00:10:00Z")),
            // The default toleration from admission: 300 s after the taint.
            (
                json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
                json!([unreachable]),
                at("2026-01-01T00:14:00Z"),
            ),
            // The shortest matching limit wins.
            (
                json!([{"operator": "Exists", "tolerationSeconds": 600}, {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 5}]),
                json!([unreachable]),
                at("2026-01-01T00:09:05Z"),
            ),
            // Tolerated forever.
            (
                json!([{"operator": "Exists"}]),
                json!([unreachable]),
                Verdict::Stay,
            ),
            // Equal needs the value.
            (
                json!([{"key": "k", "value": "a", "effect": "NoExecute"}]),
                json!([{"key": "k", "value": "b", "effect": "NoExecute"}]),
                at("2026-01-01T00:10:00Z"),
            ),
            (
                json!([{"key": "k", "value": "b", "effect": "NoExecute"}]),
                json!([{"key": "k", "value": "b", "effect": "NoExecute"}]),
                Verdict::Stay,
            ),
        ];
        for (tols, taints, want) in cases {
            let tols: Vec<Toleration> = serde_json::from_value(tols.clone()).expect("tolerations");
            let taints: Vec<Taint> = serde_json::from_value(taints.clone()).expect("taints");
            assert_eq!(verdict(&tols, &taints, now), want, "{tols:?} {taints:?}");
        }
    }
}
