//! The TTL-after-finished controller (upstream `pkg/controller/ttlafterfinished`): deletes
//! a finished Job `ttlSecondsAfterFinished` after it finished, its pods going with it
//! (background propagation).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

pub async fn run(client: Client) {
    let jobs: Api<Job> = Api::all(client.clone());
    Controller::new(jobs, watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|_| async {})
        .await;
}

fn error_policy(job: Arc<Job>, err: &Error, _: Arc<Client>) -> Action {
    tracing::warn!(job = %job.name_any(), error = %err, "ttl-after-finished sync failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// When the Job expires: the finished condition's transition time plus its TTL; `None`
/// while it runs, has no TTL or is being deleted.
pub fn expires_at(job: &Job) -> Option<Timestamp> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let finished = job
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .filter(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .find_map(|c| c.last_transition_time.as_ref())?;
    Some(finished.0 + SignedDuration::from_secs(i64::from(ttl)))
}

async fn reconcile(cached: Arc<Job>, client: Arc<Client>) -> Result<Action, Error> {
    if expires_at(&cached).is_none() {
        return Ok(Action::await_change());
    }
    let ns = cached.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced((*client).clone(), &ns);
    // The cache may be stale: the TTL may have changed; decide on a fresh copy.
    let Some(job) = jobs.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let Some(expiry) = expires_at(&job) else {
        return Ok(Action::await_change());
    };
    let now = Timestamp::now();
    if expiry > now {
        let wait = Duration::try_from(expiry.duration_since(now)).unwrap_or_default();
        return Ok(Action::requeue(wait + Duration::from_millis(50)));
    }
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: job.metadata.uid.clone(),
            resource_version: job.metadata.resource_version.clone(),
        }),
        ..Default::default()
    };
    match jobs.delete(&job.name_any(), &params).await {
        Ok(_) => {
            tracing::info!(job = %job.name_any(), "deleted finished job after its ttl");
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry() {
        let job = |ttl: Option<i32>, conds: serde_json::Value| -> Job {
            serde_json::from_value(json!({
                "metadata": {"name": "j"},
                "spec": {"ttlSecondsAfterFinished": ttl, "template": {}},
                "status": {"conditions": conds},
            }))
            .unwrap()
        };
        let done = json!([{"type": "Complete", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]);
        let failed = json!([{"type": "Failed", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]);
        let running = json!([{"type": "Suspended", "status": "False", "lastTransitionTime": "2024-01-01T00:00:00Z"}]);
        let cases = [
            (job(Some(100), done.clone()), Some("2024-01-01T00:01:40Z")),
            (job(Some(0), failed), Some("2024-01-01T00:00:00Z")),
            (job(None, done), None),
            (job(Some(5), running), None),
        ];
        for (i, (job, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                expires_at(&job).map(|t| t.to_string()).as_deref(),
                want,
                "case {i}"
            );
        }
    }
}
