//! The CronJob controller (upstream `pkg/controller/cronjob`, the v2 controller): creates a
//! Job at each scheduled time in `spec.timeZone` (UTC when unset), keeps `status.active`,
//! `lastScheduleTime` and `lastSuccessfulTime`, applies the concurrency policy and the
//! starting deadline, and prunes finished Jobs beyond the history limits.

mod plan;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::events::Recorder;
use crate::Error;
use plan::Missed;
use schedule::Schedule;

pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

struct Ctx {
    client: Client,
    events: Recorder,
}

pub async fn run(client: Client) {
    let cronjobs: Api<CronJob> = Api::all(client.clone());
    let jobs: Api<Job> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        events: Recorder {
            client: client.clone(),
            component: "cronjob-controller",
        },
        client,
    });
    Controller::new(cronjobs, watcher::Config::default())
        .owns(jobs, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(cj: Arc<CronJob>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(cronjob = %cj.name_any(), error = %err, "cronjob sync failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(cached: Arc<CronJob>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(cj) = cronjobs.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let uid = cj.uid().unwrap_or_default();
    let children: Vec<Job> = jobs
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|j| controller_uid(j) == Some(uid.as_str()))
        .collect();

    let old_status = cj.status.clone().unwrap_or_default();
    let mut status = old_status.clone();
    reconcile_active(&ctx, &cj, &children, &mut status).await;

    let action = if cj.metadata.deletion_timestamp.is_some() {
        Action::await_change()
    } else {
        let action = schedule_next(&ctx, &cj, &jobs, &mut status).await?;
        cleanup_history(&ctx, &cj, &jobs, &children).await;
        action
    };

    if status != old_status {
        let mut updated = cj.clone();
        updated.status = Some(status);
        cronjobs
            .replace_status(&cj.name_any(), &PostParams::default(), &updated)
            .await?;
    }
    Ok(action)
}

/// Drops finished or vanished Jobs from `status.active`, noting the last success.
async fn reconcile_active(ctx: &Ctx, cj: &CronJob, children: &[Job], status: &mut CronJobStatus) {
    let mut active = status.active.take().unwrap_or_default();
    for job in children {
        let in_active = active.iter().any(|r| r.uid == job.uid());
        match finished_condition(job) {
            Some(cond) if in_active => {
                let msg = format!("Saw completed job: {}, condition: {cond}", job.name_any());
                ctx.events.normal(cj, "SawCompletedJob", &msg).await;
                active.retain(|r| r.uid != job.uid());
                if cond == "Complete" {
                    let done = job.status.as_ref().and_then(|s| s.completion_time.clone());
                    if done.as_ref().map(|t| t.0)
                        > status.last_successful_time.as_ref().map(|t| t.0)
                    {
                        status.last_successful_time = done;
                    }
                }
            }
            Some(_) => {}
            None if !in_active => {
                let msg = format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    job.name_any()
                );
                ctx.events.warning(cj, "UnexpectedJob", &msg).await;
            }
            None => {}
        }
    }
    active.retain(|r| children.iter().any(|j| j.uid() == r.uid));
    status.active = (!active.is_empty()).then_some(active);
}

/// Starts the Job for the most recent unmet schedule time, if it is due; returns when to
/// look again.
async fn schedule_next(
    ctx: &Ctx,
    cj: &CronJob,
    jobs: &Api<Job>,
    status: &mut CronJobStatus,
) -> Result<Action, Error> {
    let spec = &cj.spec;
    let tz = match spec.time_zone.as_deref() {
        None => TimeZone::UTC,
        Some(name) => match TimeZone::get(name) {
            Ok(tz) => tz,
            Err(e) => {
                let msg = format!("invalid timeZone: {name:?}: {e}");
                ctx.events.warning(cj, "UnknownTimeZone", &msg).await;
                return Ok(Action::await_change());
            }
        },
    };
    let sched = match Schedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("unparseable schedule: {:?} : {e}", spec.schedule);
            ctx.events.warning(cj, "UnparseableSchedule", &msg).await;
            return Ok(Action::await_change());
        }
    };
    if spec.suspend == Some(true) {
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let requeue = || plan::requeue_after(&sched, &tz, now);
    let earliest = status
        .last_schedule_time
        .as_ref()
        .or(cj.metadata.creation_timestamp.as_ref())
        .map_or(now, |t| t.0);
    let deadline = spec.starting_deadline_seconds;
    let Missed { latest, count } = plan::missed(&sched, &tz, earliest, now, deadline);
    if count > 100 {
        let msg = format!(
            "too many missed start times: {count}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
        );
        ctx.events.warning(cj, "TooManyMissedTimes", &msg).await;
    }
    let Some(scheduled) = latest else {
        return Ok(requeue());
    };
    if plan::too_late(scheduled, now, deadline) {
        let msg = format!(
            "Missed scheduled time to start a job: {}",
            scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")
        );
        ctx.events.warning(cj, "MissSchedule", &msg).await;
        return Ok(requeue());
    }
    let name = plan::job_name(&cj.name_any(), scheduled);
    let active = status.active.clone().unwrap_or_default();
    if active
        .iter()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
    {
        return Ok(requeue());
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            let msg = "Not starting job because prior execution is running and concurrency policy is Forbid";
            ctx.events.normal(cj, "JobAlreadyActive", msg).await;
            return Ok(requeue());
        }
        Some("Replace") => {
            for r in &active {
                let job_name = r.name.clone().unwrap_or_default();
                match jobs.delete(&job_name, &background()).await {
                    Ok(_) => {
                        let msg = format!("Deleted job {job_name}");
                        ctx.events.normal(cj, "SuccessfulDelete", &msg).await;
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            status.active = None;
        }
        _ => {}
    }

    let job = job_from_template(cj, &name, scheduled, &tz);
    let created = match jobs.create(&PostParams::default(), &job).await {
        Ok(j) => {
            let msg = format!("Created job {name}");
            ctx.events.normal(cj, "SuccessfulCreate", &msg).await;
            Some(j)
        }
        // Made by an earlier sync whose status write was lost.
        Err(kube::Error::Api(e)) if e.code == 409 => jobs.get_opt(&name).await?,
        Err(e) => {
            let msg = format!("Error creating job: {e}");
            ctx.events.warning(cj, "FailedCreate", &msg).await;
            return Err(e.into());
        }
    };
    if let Some(j) = created.filter(|j| finished_condition(j).is_none()) {
        let mut active = status.active.take().unwrap_or_default();
        if !active.iter().any(|r| r.uid == j.uid()) {
            active.push(job_ref(&j));
        }
        status.active = Some(active);
    }
    status.last_schedule_time = Some(Time(scheduled));
    Ok(requeue())
}

/// Deletes the oldest finished Jobs beyond the success and failure history limits.
async fn cleanup_history(ctx: &Ctx, cj: &CronJob, jobs: &Api<Job>, children: &[Job]) {
    let limits = [
        ("Complete", cj.spec.successful_jobs_history_limit),
        ("Failed", cj.spec.failed_jobs_history_limit),
    ];
    for (cond, limit) in limits {
        let Some(limit) = limit else { continue };
        let finished: Vec<&Job> = children
            .iter()
            .filter(|j| finished_condition(j) == Some(cond))
            .collect();
        for job in plan::oldest_beyond(finished, limit) {
            match jobs.delete(&job.name_any(), &background()).await {
                Ok(_) => {
                    let msg = format!("Deleted job {}", job.name_any());
                    ctx.events.normal(cj, "SuccessfulDelete", &msg).await;
                }
                Err(e) => {
                    tracing::debug!(job = %job.name_any(), error = %e, "history cleanup failed")
                }
            }
        }
    }
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    }
}

fn job_from_template(cj: &CronJob, name: &str, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj.spec.job_template.clone();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), plan::rfc3339_in(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cj.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cj.name_any(),
                uid: cj.uid().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

fn controller_uid(job: &Job) -> Option<&str> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.kind == "CronJob")
        .map(|r| r.uid.as_str())
}

/// `Complete` or `Failed` once the Job has finished.
pub(crate) fn finished_condition(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    ["Complete", "Failed"]
        .into_iter()
        .find(|t| conds.iter().any(|c| c.type_ == *t && c.status == "True"))
}
