//! RollingUpdate arithmetic (upstream `rolling.go` and the deployment util helpers):
//! maxSurge/maxUnavailable resolved against the replica count, how far the new ReplicaSet
//! may grow, and how far the old ones may shrink without dropping below availability.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::rsinfo::{self, available, by_creation, desired, replicas, sum};

/// One ReplicaSet to set to a size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleTo {
    pub name: String,
    pub replicas: i32,
}

fn scale_to(rs: &ReplicaSet, replicas: i32) -> ScaleTo {
    ScaleTo {
        name: rsinfo::name(rs).to_string(),
        replicas,
    }
}

/// An int, or a percentage of `total` rounded up or down (upstream
/// `GetScaledValueFromIntOrPercent`); anything else (validation rejects it) is 0.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let Some(pct) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let product = pct * i64::from(total);
            let value = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(value).unwrap_or(i32::MAX)
        }
    }
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

pub fn is_recreate(d: &Deployment) -> bool {
    d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate")
}

/// (maxSurge, maxUnavailable) as pod counts: surge rounds up, unavailable down, and when
/// both come out 0 one pod may be unavailable so the rollout can move (upstream
/// `ResolveFenceposts`).
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    let quarter = IntOrString::String("25%".into());
    let total = desired(d);
    let surge = scaled_value(ru.max_surge.as_ref().unwrap_or(&quarter), total, true);
    let unavailable = scaled_value(
        ru.max_unavailable.as_ref().unwrap_or(&quarter),
        total,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

pub fn max_surge(d: &Deployment) -> i32 {
    if is_rolling(d) {
        fenceposts(d).0
    } else {
        0
    }
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    let total = desired(d);
    if !is_rolling(d) || total == 0 {
        return 0;
    }
    fenceposts(d).1.min(total)
}

/// How many replicas the new ReplicaSet should have now (upstream `NewRSNewReplicas`).
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    if !is_rolling(d) {
        return desired(d);
    }
    let current = sum(all, replicas);
    let max_total = desired(d) + max_surge(d);
    if current >= max_total {
        return replicas(new);
    }
    let room = max_total - current;
    replicas(new) + room.min(desired(d) - replicas(new))
}

/// The new ReplicaSet's step: shrink to the desired count, or grow within the surge.
pub fn reconcile_new(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> Option<ScaleTo> {
    let want = desired(d);
    let have = replicas(new);
    if have == want {
        return None;
    }
    if have > want {
        return Some(scale_to(new, want));
    }
    let next = new_rs_new_replicas(d, all, new);
    (next != have).then(|| scale_to(new, next))
}

/// The old ReplicaSets' step: first drop their unavailable pods, then scale down by what
/// availability above the minimum allows (upstream `reconcileOldReplicaSets`).
pub fn reconcile_old(
    d: &Deployment,
    old: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Vec<ScaleTo> {
    let old_pods = sum(old, replicas);
    if old_pods == 0 {
        return Vec::new();
    }
    let mut all: Vec<&ReplicaSet> = old.to_vec();
    all.extend(new);
    let all_pods = sum(&all, replicas);
    let min_available = desired(d) - max_unavailable(d);
    let new_unavailable = new.map_or(0, |n| replicas(n) - available(n));
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }

    let mut sorted: Vec<&ReplicaSet> = old.to_vec();
    by_creation(&mut sorted);
    // Sizes as this step leaves them, so the second pass sees the first one's cuts.
    let mut sizes: Vec<i32> = sorted.iter().map(|rs| replicas(rs)).collect();
    let mut ops = Vec::new();

    let mut cleaned = 0;
    for (i, rs) in sorted.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = sizes[i] - available(rs);
        if sizes[i] == 0 || unhealthy <= 0 {
            continue;
        }
        let cut = unhealthy.min(max_scaled_down - cleaned);
        sizes[i] -= cut;
        cleaned += cut;
        ops.push(scale_to(rs, sizes[i]));
    }

    // Only available pods above the minimum may go.
    let available_pods: i32 = sum(&all, available);
    let budget = available_pods - min_available;
    if budget > 0 {
        let mut done = 0;
        for (i, rs) in sorted.iter().enumerate() {
            if done >= budget {
                break;
            }
            if sizes[i] == 0 {
                continue;
            }
            let cut = sizes[i].min(budget - done);
            sizes[i] -= cut;
            done += cut;
            ops.retain(|o: &ScaleTo| o.name != rsinfo::name(rs));
            ops.push(scale_to(rs, sizes[i]));
        }
    }
    ops
}

/// One RollingUpdate step: grow the new ReplicaSet if it may, else shrink old ones.
pub fn step(d: &Deployment, new: &ReplicaSet, old: &[&ReplicaSet]) -> Vec<ScaleTo> {
    let mut all: Vec<&ReplicaSet> = old.to_vec();
    all.push(new);
    if let Some(op) = reconcile_new(d, &all, new) {
        return vec![op];
    }
    reconcile_old(d, old, Some(new))
}
