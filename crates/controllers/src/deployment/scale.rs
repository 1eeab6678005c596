//! Scaling without a rollout (upstream `scale` in `sync.go`): a Deployment resized while
//! paused or mid-rollout. With one active ReplicaSet it takes the new size; during a
//! RollingUpdate the change is spread over the active ReplicaSets in proportion to their
//! size, so a half-done rollout stays half done.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::rolling::{is_rolling, max_surge, ScaleTo};
use super::rsinfo::{self, by_creation, desired, replicas};

/// Whether any active ReplicaSet was sized for another replica count than the
/// Deployment's (upstream `isScalingEvent`).
pub fn is_scaling_event(d: &Deployment, rss: &[&ReplicaSet]) -> bool {
    rss.iter()
        .filter(|rs| replicas(rs) > 0)
        .filter_map(|rs| rsinfo::int_annotation(rs, rsinfo::DESIRED_REPLICAS))
        .any(|want| want != desired(d))
}

/// The only active ReplicaSet, or with none active the new (else the newest old) one;
/// `None` when several are active (upstream `FindActiveOrLatest`).
pub fn active_or_latest<'a>(
    new: Option<&'a ReplicaSet>,
    old: &[&'a ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut sorted = old.to_vec();
    by_creation(&mut sorted);
    let mut all = sorted.clone();
    all.extend(new);
    let active: Vec<&ReplicaSet> = all.into_iter().filter(|rs| replicas(rs) > 0).collect();
    match active.len() {
        0 => new.or(sorted.last().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// The new ReplicaSet holds the whole Deployment and all of it is available.
pub fn is_saturated(d: &Deployment, new: Option<&ReplicaSet>) -> bool {
    let Some(new) = new else { return false };
    replicas(new) == desired(d)
        && rsinfo::int_annotation(new, rsinfo::DESIRED_REPLICAS) == Some(desired(d))
        && rsinfo::available(new) == desired(d)
}

/// How much of the change `rs` should take: its size scaled from the replica count it was
/// last sized for (the max-replicas annotation) to the new one (upstream
/// `getReplicaSetFraction`).
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if desired(d) == 0 {
        return -replicas(rs);
    }
    let allowed = desired(d) + max_surge(d);
    let annotated = rsinfo::int_annotation(rs, rsinfo::MAX_REPLICAS).unwrap_or_else(|| {
        d.status
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or_default()
    });
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(replicas(rs)) * f64::from(allowed) / f64::from(annotated);
    // Sizes are far below 2^31, so the round trip through f64 is exact.
    size.round() as i32 - replicas(rs)
}

/// What to scale. A proportional plan lists every active ReplicaSet, even those whose
/// size stays, because their replica annotations still move to the new count.
pub fn plan(d: &Deployment, new: Option<&ReplicaSet>, old: &[&ReplicaSet]) -> Vec<ScaleTo> {
    let op = |rs: &ReplicaSet, n: i32| ScaleTo {
        name: rsinfo::name(rs).to_string(),
        replicas: n,
    };
    if let Some(rs) = active_or_latest(new, old) {
        if replicas(rs) == desired(d) {
            return Vec::new();
        }
        return vec![op(rs, desired(d))];
    }
    if is_saturated(d, new) {
        return old
            .iter()
            .filter(|rs| replicas(rs) > 0)
            .map(|rs| op(rs, 0))
            .collect();
    }
    if !is_rolling(d) {
        return Vec::new();
    }
    let mut active: Vec<&ReplicaSet> = old.iter().copied().filter(|rs| replicas(rs) > 0).collect();
    active.extend(new.filter(|rs| replicas(rs) > 0));
    let total: i32 = active.iter().map(|rs| replicas(rs)).sum();
    let allowed = if desired(d) > 0 {
        desired(d) + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - total;
    // Largest first; among equals the newest takes growth and the oldest takes cuts.
    active.sort_by(|a, b| {
        let by_size = replicas(b).cmp(&replicas(a));
        let by_age = rsinfo::created(a).cmp(&rsinfo::created(b));
        by_size.then(if to_add > 0 { by_age.reverse() } else { by_age })
    });
    let mut sizes: Vec<i32> = active.iter().map(|rs| replicas(rs)).collect();
    if to_add != 0 {
        let mut added = 0;
        for (i, rs) in active.iter().enumerate() {
            let remaining = to_add - added;
            let share = if to_add > 0 {
                fraction(rs, d).min(remaining)
            } else {
                fraction(rs, d).max(remaining)
            };
            sizes[i] += share;
            added += share;
        }
        // The rounding leftover goes to the largest.
        if let Some(first) = sizes.first_mut() {
            *first = (*first + to_add - added).max(0);
        }
    }
    active.iter().zip(sizes).map(|(rs, n)| op(rs, n)).collect()
}
