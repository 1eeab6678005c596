//! Lease-based leader election (upstream client-go `leaderelection` with a `Lease` lock):
//! of all skiff servers of a cluster, one runs the controllers and one the scheduler.
//! The leader renews `kube-system/<name>` every `retry_period`; if it cannot renew within
//! `renew_deadline` it stops its work and becomes a candidate again. A candidate takes the
//! lease once the holder has not renewed it for `lease_duration`, judged by when this
//! process last saw the lease change (not by clocks on other machines).

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;

/// Upstream's kube-controller-manager and kube-scheduler defaults.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// How long after the judged expiry a candidate tries (the check is strictly "older than").
const EXPIRY_MARGIN: Duration = Duration::from_millis(10);

/// Runs `work` whenever this process holds the lease `kube-system/<name>`, forever.
pub async fn run<F, Fut>(client: Client, name: &str, identity: &str, timing: Timing, work: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let api: Api<Lease> = Api::namespaced(client, "kube-system");
    let mut observed: Option<(String, Instant)> = None;
    loop {
        match try_acquire(&api, name, identity, timing, &mut observed).await {
            Ok(true) => {
                tracing::info!(lease = name, identity, "became leader");
                let task = tokio::spawn(work());
                hold(&api, name, identity, timing).await;
                task.abort();
                tracing::warn!(lease = name, identity, "lost leadership; stopping");
                observed = None;
            }
            // Expiry is judged from when a renewal was first seen, so a candidate looks more
            // often than it would try: a renewal seen late would push the takeover back by
            // up to a whole retry period.
            Ok(false) => {
                let poll = timing.retry_period / 10;
                let until_expiry = observed.as_ref().map_or(poll, |(_, seen)| {
                    timing.lease_duration.saturating_sub(seen.elapsed()) + EXPIRY_MARGIN
                });
                tokio::time::sleep(poll.min(until_expiry)).await;
                continue;
            }
            Err(e) => tracing::debug!(lease = name, error = %e, "leader election"),
        }
        tokio::time::sleep(timing.retry_period).await;
    }
}

/// Renews until a renewal has failed for longer than the renew deadline.
async fn hold(api: &Api<Lease>, name: &str, identity: &str, timing: Timing) {
    let mut last_renewed = Instant::now();
    loop {
        tokio::time::sleep(timing.retry_period).await;
        match renew(api, name, identity).await {
            Ok(true) => last_renewed = Instant::now(),
            Ok(false) => return,
            Err(e) => {
                tracing::debug!(lease = name, error = %e, "renewing leadership");
                if last_renewed.elapsed() > timing.renew_deadline {
                    return;
                }
            }
        }
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn lease_body(name: &str, identity: &str, timing: Timing, transitions: i32) -> Lease {
    let mut lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": timing.lease_duration.as_secs(),
            "leaseTransitions": transitions,
        },
    }))
    .unwrap_or_default();
    if let Some(spec) = lease.spec.as_mut() {
        spec.acquire_time = Some(now());
        spec.renew_time = Some(now());
    }
    lease
}

async fn try_acquire(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    timing: Timing,
    observed: &mut Option<(String, Instant)>,
) -> Result<bool, kube::Error> {
    let Some(current) = api.get_opt(name).await? else {
        let body = lease_body(name, identity, timing, 0);
        return match api.create(&PostParams::default(), &body).await {
            Ok(_) => Ok(true),
            // Another candidate created it first; it is a holder like any other.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = current.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let version = current
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    if observed.as_ref().is_none_or(|(v, _)| *v != version) {
        *observed = Some((version, Instant::now()));
    }
    let duration = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
        .unwrap_or(timing.lease_duration);
    let expired = observed
        .as_ref()
        .is_some_and(|(_, seen)| seen.elapsed() > duration);
    if holder != identity && !holder.is_empty() && !expired {
        return Ok(false);
    }
    let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(holder != identity);
    let mut next = lease_body(name, identity, timing, transitions);
    next.metadata.resource_version = current.metadata.resource_version.clone();
    if holder == identity {
        if let (Some(s), Some(old)) = (next.spec.as_mut(), spec.acquire_time) {
            s.acquire_time = Some(old);
        }
    }
    match api.replace(name, &PostParams::default(), &next).await {
        Ok(_) => Ok(true),
        // Someone else moved first.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// `Ok(false)` when the lease now names another holder.
async fn renew(api: &Api<Lease>, name: &str, identity: &str) -> Result<bool, kube::Error> {
    let mut lease = api.get(name).await?;
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(false);
    };
    if spec.holder_identity.as_deref() != Some(identity) {
        return Ok(false);
    }
    spec.renew_time = Some(now());
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
