//! PodDisruptionBudget arithmetic (pure), as upstream's disruption controller computes it:
//! how many pods are expected, how many must stay healthy, how many are, and therefore how
//! many may be disrupted now.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

/// How long an eviction's entry in `disruptedPods` waits for the pod's deletion to show
/// before the pod counts again (upstream's `DeletionTimeout`).
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);
pub const CONDITION: &str = "DisruptionAllowed";
pub const SUFFICIENT: &str = "SufficientPods";
pub const INSUFFICIENT: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

/// Upstream `GetScaledValueFromIntOrPercent`: an integer as is, a percentage of `total`
/// rounded up or down.
pub fn scaled(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let prod = pct * i64::from(total);
            let v = if round_up {
                (prod + 99).div_euclid(100)
            } else {
                prod.div_euclid(100)
            };
            Ok(i32::try_from(v).unwrap_or(i32::MAX))
        }
    }
}

/// Whether the budget's numbers need the pods' controllers' scale (a maxUnavailable, or a
/// percentage minAvailable) rather than the number of pods.
pub fn needs_scale(spec: &PodDisruptionBudgetSpec) -> bool {
    spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)))
}

/// `(expectedPods, desiredHealthy)`. `scale` is the summed replicas of the pods'
/// controllers, used when `needs_scale`.
pub fn expected_and_desired(
    spec: &PodDisruptionBudgetSpec,
    pods: i32,
    scale: i32,
) -> Result<(i32, i32), String> {
    if let Some(max) = &spec.max_unavailable {
        let unavailable = scaled(max, scale, true)?;
        return Ok((scale, (scale - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods, *n)),
        Some(pct) => Ok((scale, scaled(pct, scale, true)?)),
        None => Ok((pods, 0)),
    }
}

/// The `disruptedPods` entries still pending: evicted pods not yet being deleted whose
/// eviction is younger than `DELETION_TIMEOUT`; and when the next one expires.
pub fn pending_disruptions(
    recorded: Option<&BTreeMap<String, Time>>,
    pods: &[Pod],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    let Some(recorded) = recorded else {
        return (kept, None);
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(at) = recorded.get(&pod.name_any()) else {
            continue;
        };
        let expires = at.0 + DELETION_TIMEOUT;
        if expires <= now {
            continue;
        }
        kept.insert(pod.name_any(), at.clone());
        recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
    }
    (kept, recheck)
}

/// Ready pods that are neither being deleted nor just evicted.
pub fn current_healthy(pods: &[Pod], disrupted: &BTreeMap<String, Time>) -> i32 {
    let n = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !disrupted.contains_key(&p.name_any()))
        .filter(|p| crate::podinfo::is_ready(p))
        .count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The counts a sync computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    pub disrupted: BTreeMap<String, Time>,
}

pub fn disruptions_allowed(c: &Counts) -> i32 {
    let allowed = c.current_healthy - c.desired_healthy;
    if c.expected_pods <= 0 || allowed <= 0 {
        0
    } else {
        allowed
    }
}

/// The new status; `Err(message)` records a failed sync (nothing may be disrupted).
pub fn status(
    old: Option<&PodDisruptionBudgetStatus>,
    generation: Option<i64>,
    counts: Result<Counts, String>,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut s = old.cloned().unwrap_or_default();
    s.observed_generation = generation;
    let (allowed, reason, message) = match counts {
        Ok(c) => {
            let allowed = disruptions_allowed(&c);
            s.current_healthy = Some(c.current_healthy);
            s.desired_healthy = Some(c.desired_healthy);
            s.expected_pods = Some(c.expected_pods);
            s.disrupted_pods = Some(c.disrupted).filter(|d| !d.is_empty());
            let reason = if allowed > 0 {
                SUFFICIENT
            } else {
                INSUFFICIENT
            };
            (allowed, reason, String::new())
        }
        Err(message) => (0, SYNC_FAILED, message),
    };
    s.disruptions_allowed = Some(allowed);
    let status = if allowed > 0 { "True" } else { "False" };
    let conditions = s.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == CONDITION) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Time(now);
            }
            c.status = status.into();
            c.reason = reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: CONDITION.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time: Time(now),
            observed_generation: generation,
        }),
    }
    s
}

#[cfg(test)]
mod tests;
