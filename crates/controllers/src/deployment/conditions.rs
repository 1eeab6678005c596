//! The Available and Progressing conditions (upstream `deployment/util` condition helpers
//! and `progress.go`): their reasons and messages, when they change, and when a stuck
//! rollout must be looked at again to notice its deadline.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::rsinfo::desired;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";

pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
pub const RESUMED: &str = "DeploymentResumed";

/// Condition times are whole seconds on the wire; computing them that way keeps a
/// status read back equal to the one written.
pub fn now_seconds() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

pub fn new(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

pub fn reason(c: &DeploymentCondition) -> &str {
    c.reason.as_deref().unwrap_or("")
}

/// Replaces the condition of its type, unless one with the same status and reason is
/// there already; an unchanged status keeps its transition time (upstream
/// `SetDeploymentCondition`).
pub fn set(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get(status, cond.type_.as_deref().unwrap_or("")) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove(status, cond.type_.as_deref().unwrap_or(""));
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

fn deadline(d: &Deployment) -> SignedDuration {
    SignedDuration::from_secs(i64::from(d.spec.progress_deadline_seconds.unwrap_or(600)))
}

pub fn counts(s: &DeploymentStatus) -> (i32, i32, i32, i32) {
    (
        s.replicas.unwrap_or(0),
        s.updated_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

/// Every replica updated and available and the latest spec observed (upstream
/// `DeploymentComplete`).
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let (replicas, updated, _, available) = counts(s);
    let want = desired(d);
    updated == want
        && replicas == want
        && available == want
        && s.observed_generation >= d.metadata.generation
}

/// The new status shows movement since the old: more updated, fewer old, more ready or
/// more available (upstream `DeploymentProgressing`).
pub fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let (o_replicas, o_updated, o_ready, o_available) = counts(old);
    let (n_replicas, n_updated, n_ready, n_available) = counts(new);
    n_updated > o_updated
        || (n_replicas - n_updated) < (o_replicas - o_updated)
        || n_ready > o_ready
        || n_available > o_available
}

pub fn timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(cond) = get(s, PROGRESSING) else {
        return false;
    };
    match reason(cond) {
        NEW_RS_AVAILABLE => false,
        TIMED_OUT => true,
        _ => cond
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0 + deadline(d) < now),
    }
}

/// Sets Progressing for a rollout step (upstream `syncRolloutStatus`): complete, moving,
/// or past its deadline. `old` is the Deployment's status before this sync.
pub fn update_progressing(
    d: &Deployment,
    old: &DeploymentStatus,
    new: &mut DeploymentStatus,
    new_rs: Option<&str>,
    now: Timestamp,
) {
    if !has_progress_deadline(d) {
        remove(new, PROGRESSING);
        return;
    }
    let current = get(new, PROGRESSING).cloned();
    let (replicas, updated, _, _) = counts(new);
    let already_complete = replicas == updated
        && current
            .as_ref()
            .is_some_and(|c| reason(c) == NEW_RS_AVAILABLE);
    if already_complete {
        return;
    }
    if complete(d, new) {
        let msg = match new_rs {
            Some(name) => format!("ReplicaSet \"{name}\" has successfully progressed."),
            None => "Deployment has successfully progressed.".to_string(),
        };
        set(
            new,
            self::new(PROGRESSING, "True", NEW_RS_AVAILABLE, msg, now),
        );
    } else if progressing(old, new) {
        let msg = match new_rs {
            Some(name) => format!("ReplicaSet \"{name}\" is progressing."),
            None => format!(
                "Deployment \"{}\" is progressing.",
                d.metadata.name.as_deref().unwrap_or("")
            ),
        };
        let mut cond = self::new(PROGRESSING, "True", RS_UPDATED, msg, now);
        // Movement refreshes lastUpdateTime (the deadline counts from it) but is no
        // transition while the status stays True.
        if let Some(cur) = &current {
            if cur.status.as_deref() == Some("True") {
                cond.last_transition_time = cur.last_transition_time.clone();
            }
            remove(new, PROGRESSING);
        }
        set(new, cond);
    } else if timed_out(d, new, now) {
        let msg = match new_rs {
            Some(name) => format!("ReplicaSet \"{name}\" has timed out progressing."),
            None => format!(
                "Deployment \"{}\" has timed out progressing.",
                d.metadata.name.as_deref().unwrap_or("")
            ),
        };
        set(new, self::new(PROGRESSING, "False", TIMED_OUT, msg, now));
    }
}

/// When to look again so a stuck rollout is marked timed out on time; `None` when no
/// deadline is running (upstream `requeueStuckDeployment`).
pub fn requeue_after(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let cond = get(s, PROGRESSING)?;
    if !has_progress_deadline(d) || complete(d, s) || reason(cond) == TIMED_OUT {
        return None;
    }
    let since = cond.last_update_time.as_ref()?.0;
    let left = (since + deadline(d)).duration_since(now);
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    Some(left.max(Duration::from_secs(1)))
}

/// Progressing Unknown while paused, and once on resume (upstream
/// `checkPausedConditions`); returns whether the status changed.
pub fn paused_conditions(d: &Deployment, s: &mut DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let was_paused = get(s, PROGRESSING).is_some_and(|c| reason(c) == PAUSED);
    let paused = d.spec.paused == Some(true);
    let cond = if paused && !was_paused {
        new(
            PROGRESSING,
            "Unknown",
            PAUSED,
            "Deployment is paused".into(),
            now,
        )
    } else if !paused && was_paused {
        new(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed".into(),
            now,
        )
    } else {
        return false;
    };
    set(s, cond);
    true
}

/// A ReplicaSet's ReplicaFailure (pods it cannot create) surfaced on the Deployment, the
/// new ReplicaSet's before any old one's (upstream `getReplicaFailures`).
pub fn replica_failure(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Option<DeploymentCondition> {
    new.into_iter()
        .chain(all.iter().copied())
        .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
        .find(|c| c.type_.as_deref() == Some(REPLICA_FAILURE))
        .map(|c| DeploymentCondition {
            type_: Some(REPLICA_FAILURE.into()),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_update_time: c.last_transition_time.clone(),
            last_transition_time: c.last_transition_time.clone(),
        })
}

/// Sets or clears ReplicaFailure after a rollout step.
pub fn update_replica_failure(
    s: &mut DeploymentStatus,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
) {
    match replica_failure(all, new) {
        Some(c) => set(s, c),
        None => remove(s, REPLICA_FAILURE),
    }
}
