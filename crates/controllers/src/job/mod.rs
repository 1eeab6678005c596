//! The Job controller (upstream `pkg/controller/job`): runs pods from the template until
//! enough succeed, counts finished pods through the tracking finalizer, and decides the
//! terminal condition (backoff limit, deadline, pod failure policy, success policy).
//!
//! Every sync re-reads the Job and lists its pods from the API (consistent lists, as in
//! the ReplicaSet controller); the decisions are pure, in `plan.rs`.

mod backoff;
mod failure_policy;
pub(crate) mod indexed;
mod plan;
mod pods;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::events::Recorder;
use crate::{podinfo, selector, Error};
pub use plan::TRACKING_FINALIZER;

const MANAGED_BY_US: &str = "kubernetes.io/job-controller";

struct Ctx {
    client: Client,
    events: Recorder,
}

/// Runs the Job controller and the sweeper of tracking finalizers left on pods whose Job
/// is gone.
pub async fn run(client: Client, informers: &crate::informers::Informers) {
    tokio::join!(
        run_jobs(client.clone(), informers),
        run_orphans(client, informers)
    );
}

async fn run_jobs(client: Client, informers: &crate::informers::Informers) {
    let jobs: Api<Job> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        events: Recorder {
            client: client.clone(),
            component: "job-controller",
        },
        client,
    });
    Controller::new(jobs, watcher::Config::default())
        .watches_shared_stream(
            informers
                .pods
                .subscribe_where(|pod| !crate::informers::owners::<Job>(&pod.metadata).is_empty()),
            |pod| crate::informers::owners::<Job>(&pod.metadata),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(job: Arc<Job>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(job = %job.name_any(), error = %err, "job sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(cached: Arc<Job>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(job) = jobs.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let spec = job.spec.clone().unwrap_or_default();
    if spec
        .managed_by
        .as_deref()
        .is_some_and(|m| m != MANAGED_BY_US)
    {
        return Ok(Action::await_change());
    }
    let uid = job.uid().unwrap_or_default();
    let selector = spec.selector.clone().unwrap_or_default();
    let owned: Vec<Pod> = pods
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| podinfo::controller_uid(p) == Some(uid.as_str()))
        .filter(|p| {
            selector::matches(
                &selector,
                p.metadata.labels.as_ref().unwrap_or(&Default::default()),
            )
        })
        .collect();

    let plan = plan::plan(&job, &owned, Timestamp::now());

    // Uncounted uids reach the status before any finalizer comes off.
    if job.status.as_ref() != Some(&plan.status) {
        let mut updated = job.clone();
        updated.status = Some(plan.status.clone());
        jobs.replace_status(&job.name_any(), &PostParams::default(), &updated)
            .await?;
    }
    let pods_ref = &pods;
    let deletes = join_all(plan.delete.iter().map(|name| async move {
        match pods_ref.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }))
    .await;
    let releases = join_all(plan.release.iter().map(|name| release(&pods, name))).await;
    for e in &plan.events {
        if e.warning {
            ctx.events.warning(&job, &e.reason, &e.message).await;
        } else {
            ctx.events.normal(&job, &e.reason, &e.message).await;
        }
    }
    deletes.into_iter().collect::<Result<Vec<_>, _>>()?;
    releases.into_iter().collect::<Result<Vec<_>, _>>()?;

    let per_index = spec.backoff_limit_per_index.is_some();
    let params = PostParams::default();
    let templates: Vec<Pod> = plan
        .create
        .iter()
        .map(|new| pods::from_template(&job, new, per_index))
        .collect();
    let created = join_all(templates.iter().map(|t| pods.create(&params, t))).await;
    for result in created {
        match result {
            Ok(pod) => {
                let msg = format!("Created pod: {}", pod.name_any());
                ctx.events.normal(&job, "SuccessfulCreate", &msg).await;
            }
            Err(e) => {
                // A namespace being deleted refuses new pods; that is expected.
                if let kube::Error::Api(ae) = &e {
                    if ae.code == 403 && ae.message.contains("being terminated") {
                        return Ok(Action::await_change());
                    }
                }
                let msg = format!("Error creating: {e}");
                ctx.events.warning(&job, "FailedCreate", &msg).await;
                return Err(e.into());
            }
        }
    }
    Ok(plan.requeue.map_or_else(Action::await_change, |d| {
        Action::requeue(d + Duration::from_millis(50))
    }))
}

/// Takes the tracking finalizer off a pod; gone already is fine.
async fn release(pods: &Api<Pod>, name: &str) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
    match pods
        .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Pods still holding the tracking finalizer whose Job is gone (or is another object now),
/// for instance after the garbage collector deleted them with their Job: nobody will count
/// them any more, so the finalizer comes off (upstream's orphan pod handling).
async fn run_orphans(client: Client, informers: &crate::informers::Informers) {
    let tracked = informers
        .pods
        .subscribe_where(|pod| pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER));
    Controller::for_shared_stream(tracked, informers.pods.store())
        .run(
            sweep_orphan,
            |_, _: &Error, _| Action::requeue(Duration::from_secs(5)),
            Arc::new(client),
        )
        .for_each(|_| async {})
        .await;
}

async fn sweep_orphan(pod: Arc<Pod>, client: Arc<Client>) -> Result<Action, Error> {
    if !pod.finalizers().iter().any(|f| f == TRACKING_FINALIZER) {
        return Ok(Action::await_change());
    }
    let ns = pod.namespace().unwrap_or_default();
    let owner = pod
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true) && r.kind == "Job");
    let alive = match owner {
        None => false,
        Some(r) => {
            let jobs: Api<Job> = Api::namespaced((*client).clone(), &ns);
            jobs.get_opt(&r.name)
                .await?
                .is_some_and(|j| j.uid().as_deref() == Some(r.uid.as_str()))
        }
    };
    if !alive {
        let pods: Api<Pod> = Api::namespaced((*client).clone(), &ns);
        release(&pods, &pod.name_any()).await?;
    }
    Ok(Action::await_change())
}
