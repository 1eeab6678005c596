//! One Job sync, decided without IO: from the Job and its pods, the status to write, the
//! pods to create and delete, and the tracking finalizers to take off.
//!
//! Finished pods are counted in two steps, as upstream does: their uids go into
//! `status.uncountedTerminatedPods` (written before anything else), then their finalizers
//! come off, and a later sync, seeing a pod without finalizer (or gone), moves its uid into
//! `succeeded`/`failed`. A pod is so counted exactly once even if a sync dies half-way.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::failure_policy::{self, Verdict};
use super::{backoff, indexed, status};
use crate::podinfo;

pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
const MAX_CREATES_PER_SYNC: usize = 500;

/// A pod to create: its completion index (Indexed mode) and how often that index failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPod {
    pub index: Option<i32>,
    pub index_failures: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub status: JobStatus,
    /// Pod names to delete (after the status write).
    pub delete: Vec<String>,
    /// Pod names whose tracking finalizer comes off (after the status write).
    pub release: Vec<String>,
    pub create: Vec<NewPod>,
    pub events: Vec<Event>,
    pub requeue: Option<Duration>,
}

impl Plan {
    fn event(&mut self, warning: bool, reason: &str, message: &str) {
        self.events.push(Event {
            warning,
            reason: reason.into(),
            message: message.into(),
        });
    }
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Decides one sync of `job`, given the pods it controls.
pub fn plan(job: &Job, pods: &[Pod], now: Timestamp) -> Plan {
    let spec = job.spec.clone().unwrap_or_default();
    let old = job.status.clone().unwrap_or_default();
    let mut plan = Plan {
        status: old.clone(),
        ..Plan::default()
    };
    let mut conds = old.conditions.clone().unwrap_or_default();

    if status::is_finished(&conds) || job.metadata.deletion_timestamp.is_some() {
        // Nothing left to count: let every pod go.
        plan.release = pods
            .iter()
            .filter(|p| has_finalizer(p))
            .map(|p| p.name_any())
            .collect();
        return plan;
    }

    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let ix_limit = completions.unwrap_or(0);
    let per_index = indexed.then_some(spec.backoff_limit_per_index).flatten();
    let suspended = spec.suspend == Some(true);
    let by_uid: BTreeMap<String, &Pod> = pods.iter().map(|p| (uid(p), p)).collect();

    // Uncounted pods that have lost their finalizer (or are gone) are now counted.
    let unc = old.uncounted_terminated_pods.clone().unwrap_or_default();
    let still = |u: &String| by_uid.get(u).is_some_and(|p| has_finalizer(p));
    let (mut unc_ok, done_ok): (Vec<String>, Vec<String>) = unc
        .succeeded
        .unwrap_or_default()
        .into_iter()
        .partition(still);
    let (mut unc_failed, done_failed): (Vec<String>, Vec<String>) =
        unc.failed.unwrap_or_default().into_iter().partition(still);
    let mut succeeded = old.succeeded.unwrap_or(0) + count(&done_ok);
    let failed = old.failed.unwrap_or(0) + count(&done_failed);

    let mut completed = indexed::parse(old.completed_indexes.as_deref().unwrap_or(""), ix_limit);
    let mut failed_ix = indexed::parse(old.failed_indexes.as_deref().unwrap_or(""), ix_limit);
    let mut target: Option<(String, (String, String))> = ["FailureTarget", "SuccessCriteriaMet"]
        .into_iter()
        .find_map(|t| {
            status::find(&conds, t).map(|c| {
                let reason = c.reason.clone().unwrap_or_default();
                let msg = c.message.clone().unwrap_or_default();
                (t.to_string(), (reason, msg))
            })
        });
    let succeeding = target
        .as_ref()
        .is_some_and(|(t, _)| t == "SuccessCriteriaMet");

    let mut active: Vec<&Pod> = Vec::new();
    let mut terminating = 0;
    let mut with_finalizer = 0;
    // Failures per index so far (pod annotation + its own failure), for per-index limits.
    let mut index_failures: BTreeMap<i32, i32> = BTreeMap::new();
    let mut finished_for_backoff: Vec<(Timestamp, bool)> = Vec::new();
    for pod in pods {
        let terminal = podinfo::is_terminal(pod);
        let deleting = pod.metadata.deletion_timestamp.is_some();
        if !terminal && !deleting {
            active.push(pod);
            continue;
        }
        if !terminal {
            terminating += 1;
        }
        let verdict = (podinfo::phase(pod) == "Failed")
            .then(|| failure_policy::judge(spec.pod_failure_policy.as_ref(), pod));
        if terminal && verdict != Some(Verdict::Ignore) {
            if let Some(t) = backoff::finish_time(pod) {
                finished_for_backoff.push((t, !matches!(podinfo::phase(pod), "Failed")));
            }
        }
        if let (Some(ix), true) = (indexed::pod_index(pod), verdict.is_some()) {
            let n = indexed::pod_failure_count(pod) + 1;
            let e = index_failures.entry(ix).or_insert(0);
            *e = (*e).max(n);
        }
        if !has_finalizer(pod) {
            continue;
        }
        with_finalizer += 1;
        let u = uid(pod);
        if unc_ok.contains(&u) || unc_failed.contains(&u) {
            // Counted already; the finalizer removal did not happen yet.
            plan.release.push(pod.name_any());
            continue;
        }
        plan.release.push(pod.name_any());
        match (podinfo::phase(pod), verdict) {
            ("Succeeded", _) => match indexed::pod_index(pod).filter(|_| indexed) {
                Some(ix) if ix < ix_limit => {
                    completed.insert(ix);
                }
                Some(_) => {}
                None if indexed => {}
                None => unc_ok.push(u),
            },
            (_, Some(Verdict::Ignore)) => {}
            (_, Some(Verdict::FailJob(msg))) => {
                unc_failed.push(u);
                if target.is_none() {
                    target = Some((
                        "FailureTarget".into(),
                        (status::POD_FAILURE_POLICY.into(), msg),
                    ));
                }
            }
            (_, Some(Verdict::FailIndex)) => {
                unc_failed.push(u);
                if let (Some(ix), Some(_)) = (indexed::pod_index(pod), per_index) {
                    failed_ix.insert(ix);
                }
            }
            (_, verdict) => {
                // A Failed pod, or one deleted before it finished: a failure, unless the
                // Job is suspended or already succeeded and deleting its leftovers.
                if verdict.is_none() && (suspended || succeeding) {
                    continue;
                }
                unc_failed.push(u);
                if let (Some(ix), Some(limit)) = (indexed::pod_index(pod), per_index) {
                    if index_failures.get(&ix).copied().unwrap_or(0) > limit {
                        failed_ix.insert(ix);
                    }
                }
            }
        }
    }
    failed_ix.retain(|ix| !completed.contains(ix));
    if indexed {
        succeeded = count_set(&completed);
    }
    let succeeded_total = succeeded + if indexed { 0 } else { count(&unc_ok) };
    let failed_total = failed + count(&unc_failed);

    // Start, suspend and resume.
    if suspended {
        if status::set(
            &mut conds,
            "Suspended",
            "True",
            ("JobSuspended", "Job suspended"),
            now,
        ) {
            plan.event(false, "Suspended", "Job suspended");
        }
    } else {
        if status::set(
            &mut conds,
            "Suspended",
            "False",
            ("JobResumed", "Job resumed"),
            now,
        ) {
            plan.event(false, "Resumed", "Job resumed");
            // A resumed Job's active deadline counts from now.
            plan.status.start_time = Some(Time(now));
        }
        if plan.status.start_time.is_none() {
            plan.status.start_time = Some(Time(now));
        }
    }

    if target.is_none() {
        target = failure(&spec, &plan.status, &active, failed_total, now, suspended)
            .or_else(|| index_failure(&spec, &completed, &failed_ix, per_index))
            .map(|(r, m)| ("FailureTarget".into(), (r.to_string(), m.to_string())))
            .or_else(|| {
                success(
                    &spec,
                    &completed,
                    succeeded_total,
                    active.is_empty(),
                    indexed,
                )
                .map(|rm| ("SuccessCriteriaMet".into(), rm))
            });
    }
    if let Some((t, (r, m))) = &target {
        status::set(&mut conds, t, "True", (r, m), now);
    }

    let mut create = Vec::new();
    let mut to_delete: Vec<&Pod> = Vec::new();
    match &target {
        Some((t, _)) => {
            // Finishing: no pod keeps running. A failing Job counts them as failed.
            for pod in &active {
                to_delete.push(pod);
                if has_finalizer(pod) {
                    plan.release.push(pod.name_any());
                    if t == "FailureTarget" {
                        unc_failed.push(uid(pod));
                    }
                }
            }
        }
        None if suspended => {
            for pod in &active {
                to_delete.push(pod);
                if has_finalizer(pod) {
                    plan.release.push(pod.name_any());
                }
            }
        }
        None => {
            let busy_terminating = if spec.pod_replacement_policy.as_deref() == Some("Failed") {
                terminating
            } else {
                0
            };
            let parallelism = spec.parallelism.unwrap_or(1).max(0);
            if indexed {
                let (victims, news) = manage_indexed(
                    &active,
                    pods,
                    parallelism,
                    ix_limit,
                    &completed,
                    &failed_ix,
                    &index_failures,
                    busy_terminating > 0,
                );
                to_delete.extend(victims);
                create = news;
            } else {
                let want = match completions {
                    Some(c) => parallelism.min(c - succeeded_total).max(0),
                    None if succeeded_total > 0 => count_len(active.len()),
                    None => parallelism,
                };
                let have = count_len(active.len());
                if have > want {
                    to_delete.extend(excess(&active, have - want));
                } else {
                    let n = want - have - busy_terminating.min(want - have);
                    create = (0..n)
                        .map(|_| NewPod {
                            index: None,
                            index_failures: 0,
                        })
                        .collect();
                }
            }
            if !create.is_empty() {
                let wait = backoff::remaining(&backoff::record(finished_for_backoff), now);
                if !wait.is_zero() {
                    create.clear();
                    plan.requeue = Some(wait);
                }
            }
            if let (Some(ads), Some(start)) =
                (spec.active_deadline_seconds, &plan.status.start_time)
            {
                if !suspended {
                    let end = start.0 + SignedDuration::from_secs(ads);
                    let left = Duration::try_from(end.duration_since(now)).unwrap_or_default();
                    plan.requeue = Some(plan.requeue.map_or(left, |r| r.min(left)));
                }
            }
        }
    }
    for pod in &to_delete {
        plan.event(
            false,
            "SuccessfulDelete",
            &format!("Deleted pod: {}", pod.name_any()),
        );
    }
    let deleted_active = to_delete.len();
    terminating += count_len(deleted_active);
    plan.delete = to_delete.iter().map(|p| p.name_any()).collect();
    // Upstream's MaxPodCreateDeletePerSync: a huge parallelism ramps up over several syncs.
    create.truncate(MAX_CREATES_PER_SYNC);
    if create.len() == MAX_CREATES_PER_SYNC && plan.requeue.is_none() {
        plan.requeue = Some(Duration::from_millis(100));
    }
    plan.create = create;

    // The terminal condition waits until every pod is counted and gone.
    if let Some((t, (reason, msg))) = &target {
        let settled = unc_ok.is_empty()
            && unc_failed.is_empty()
            && with_finalizer == 0
            && terminating == 0
            && active.is_empty();
        if settled {
            let final_type = if t == "FailureTarget" {
                "Failed"
            } else {
                "Complete"
            };
            status::set(&mut conds, final_type, "True", (reason, msg), now);
            if final_type == "Complete" {
                plan.status.completion_time = Some(Time(now));
                plan.event(false, "Completed", "Job completed");
            } else {
                plan.event(true, reason, msg);
            }
        }
    }

    let remaining_active: Vec<&&Pod> = active
        .iter()
        .filter(|p| !to_delete.iter().any(|d| d.metadata.uid == p.metadata.uid))
        .collect();
    let st = &mut plan.status;
    st.active = Some(count_len(remaining_active.len()));
    st.ready = Some(count_len(
        remaining_active
            .iter()
            .filter(|p| podinfo::is_ready(p))
            .count(),
    ));
    st.terminating = Some(terminating);
    st.succeeded = Some(succeeded);
    st.failed = Some(failed);
    st.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: (!unc_ok.is_empty()).then_some(unc_ok),
        failed: (!unc_failed.is_empty()).then_some(unc_failed),
    });
    if indexed {
        let s = indexed::format(&completed);
        st.completed_indexes = (!s.is_empty()).then_some(s);
        if per_index.is_some() {
            st.failed_indexes = Some(indexed::format(&failed_ix));
        }
    }
    st.conditions = (!conds.is_empty()).then_some(conds);
    plan
}

/// Why the Job fails now, if it does: too many failures or past its deadline.
fn failure(
    spec: &JobSpec,
    st: &JobStatus,
    active: &[&Pod],
    failed: i32,
    now: Timestamp,
    suspended: bool,
) -> Option<(&'static str, &'static str)> {
    let limit = spec.backoff_limit.unwrap_or(6);
    if failed > limit || past_limit_on_failure(spec, active, limit) {
        return Some(status::BACKOFF_LIMIT);
    }
    let (ads, start) = (spec.active_deadline_seconds?, st.start_time.as_ref()?);
    (!suspended && start.0 + SignedDuration::from_secs(ads) <= now).then_some(status::DEADLINE)
}

/// With `restartPolicy: OnFailure` failures are container restarts of running pods.
fn past_limit_on_failure(spec: &JobSpec, active: &[&Pod], limit: i32) -> bool {
    let policy = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    if policy != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = active
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

fn index_failure(
    spec: &JobSpec,
    completed: &BTreeSet<i32>,
    failed_ix: &BTreeSet<i32>,
    per_index: Option<i32>,
) -> Option<(&'static str, &'static str)> {
    per_index?;
    if let Some(max) = spec.max_failed_indexes {
        if count_set(failed_ix) > max {
            return Some(status::MAX_FAILED_INDEXES);
        }
    }
    let all = spec.completions.unwrap_or(0);
    (!failed_ix.is_empty() && count_set(completed) + count_set(failed_ix) >= all)
        .then_some(status::FAILED_INDEXES)
}

fn success(
    spec: &JobSpec,
    completed: &BTreeSet<i32>,
    succeeded: i32,
    none_active: bool,
    indexed: bool,
) -> Option<(String, String)> {
    let ix_limit = spec.completions.unwrap_or(0);
    if indexed {
        if let Some(i) = status::success_rule(spec.success_policy.as_ref(), completed, ix_limit) {
            return Some((
                status::SUCCESS_POLICY.into(),
                format!("Matched rules at index {i}"),
            ));
        }
    }
    let done = match spec.completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && none_active,
    };
    let (r, m) = status::COMPLETIONS_REACHED;
    done.then(|| (r.into(), m.into()))
}

/// Active pods to delete first when there are too many: not yet scheduled, then not
/// ready, then the newest.
fn excess<'a>(active: &[&'a Pod], n: i32) -> Vec<&'a Pod> {
    let mut ranked: Vec<&Pod> = active.to_vec();
    ranked.sort_by_key(|p| {
        (
            !podinfo::node_name(p).is_empty(),
            podinfo::is_ready(p),
            std::cmp::Reverse(podinfo::created(p)),
        )
    });
    ranked.truncate(usize::try_from(n).unwrap_or(0));
    ranked
}

/// Indexed mode: delete duplicates, strays and extras; create pods for the lowest indexes
/// that are neither done, failed nor running.
#[allow(clippy::too_many_arguments)]
fn manage_indexed<'a>(
    active: &[&'a Pod],
    all: &[Pod],
    parallelism: i32,
    completions: i32,
    completed: &BTreeSet<i32>,
    failed_ix: &BTreeSet<i32>,
    index_failures: &BTreeMap<i32, i32>,
    terminating_blocks: bool,
) -> (Vec<&'a Pod>, Vec<NewPod>) {
    let mut victims = Vec::new();
    let mut running: BTreeMap<i32, &Pod> = BTreeMap::new();
    let mut sorted: Vec<&Pod> = active.to_vec();
    sorted.sort_by_key(|p| (!podinfo::is_ready(p), podinfo::created(p)));
    for pod in sorted {
        match indexed::pod_index(pod) {
            Some(ix)
                if ix < completions
                    && !completed.contains(&ix)
                    && !failed_ix.contains(&ix)
                    && !running.contains_key(&ix) =>
            {
                running.insert(ix, pod);
            }
            _ => victims.push(pod),
        }
    }
    let want = parallelism.min(completions - count_set(completed)).max(0);
    let want = usize::try_from(want).unwrap_or(0);
    while running.len() > want {
        if let Some((_, pod)) = running.pop_last() {
            victims.push(pod);
        }
    }
    // With podReplacementPolicy Failed an index whose pod is still terminating waits.
    let held: BTreeSet<i32> = all
        .iter()
        .filter(|p| terminating_blocks && podinfo::is_terminating(p))
        .filter_map(indexed::pod_index)
        .collect();
    let free = want.saturating_sub(running.len());
    let news = (0..completions)
        .filter(|ix| {
            !completed.contains(ix)
                && !failed_ix.contains(ix)
                && !running.contains_key(ix)
                && !held.contains(ix)
        })
        .take(free)
        .map(|ix| NewPod {
            index: Some(ix),
            index_failures: index_failures.get(&ix).copied().unwrap_or(0),
        })
        .collect();
    (victims, news)
}

fn count(v: &[String]) -> i32 {
    count_len(v.len())
}

fn count_set(s: &BTreeSet<i32>) -> i32 {
    count_len(s.len())
}

fn count_len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Conditions of a plan's status by type, for tests and logs.
#[cfg(test)]
fn condition_types(st: &JobStatus) -> Vec<String> {
    st.conditions
        .iter()
        .flatten()
        .map(|c: &k8s_openapi::api::batch::v1::JobCondition| {
            format!(
                "{}={} {}",
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
