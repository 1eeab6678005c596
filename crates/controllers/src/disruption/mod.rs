//! The disruption controller (upstream `pkg/controller/disruption`): keeps every
//! PodDisruptionBudget's status saying how many of its pods may be disrupted now. The
//! eviction API in the apiserver spends that allowance; this controller refills it.

mod budget;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::{selector, Error};

struct Ctx {
    client: Client,
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let budgets: Api<PodDisruptionBudget> = Api::all(client.clone());
    let controller = Controller::new(budgets, watcher::Config::default());
    let store = controller.store();
    controller
        .reconcile_on(informers.pods.triggers(move |pod, _| {
            // Every budget of the namespace: one whose selector no longer matches a
            // relabelled pod must count it out too.
            let ns = pod.namespace();
            store
                .state()
                .iter()
                .filter(|b| b.namespace() == ns)
                .map(|b| ObjectRef::from_obj(b.as_ref()))
                .collect::<Vec<_>>()
        }))
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| async {})
        .await;
}

fn error_policy(pdb: Arc<PodDisruptionBudget>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(pdb = %pdb.name_any(), error = %err, "disruption budget sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

fn selected(pdb: &PodDisruptionBudget, pods: Vec<Pod>) -> Vec<Pod> {
    // No selector selects nothing; an empty one (policy/v1) selects every pod.
    let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Vec::new();
    };
    pods.into_iter()
        .filter(|p| selector::matches(sel, p.labels()))
        .collect()
}

async fn reconcile(cached: Arc<PodDisruptionBudget>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(pdb) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let all = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items;
    let pods = selected(&pdb, all);
    let spec = pdb.spec.clone().unwrap_or_default();
    let now = Timestamp::now();
    let scale = if budget::needs_scale(&spec) {
        expected_scale(&ctx.client, &ns, &pods).await?
    } else {
        0
    };
    let (disrupted, recheck) = budget::pending_disruptions(
        pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()),
        &pods,
        now,
    );
    let pod_count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let counts =
        budget::expected_and_desired(&spec, pod_count, scale).map(|(expected, desired)| {
            budget::Counts {
                current_healthy: budget::current_healthy(&pods, &disrupted),
                desired_healthy: desired,
                expected_pods: expected,
                disrupted,
            }
        });
    let status = budget::status(pdb.status.as_ref(), pdb.metadata.generation, counts, now);
    if pdb.status.as_ref() != Some(&status) {
        let mut updated = pdb.clone();
        updated.status = Some(status);
        match api
            .replace_status(&pdb.name_any(), &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            // An eviction spent the budget meanwhile: count again.
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {
                return Ok(Action::requeue(Duration::from_millis(200)))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match recheck {
        Some(t) => {
            let wait = t.duration_since(now).unsigned_abs();
            Action::requeue(wait + Duration::from_millis(100))
        }
        None => Action::requeue(Duration::from_secs(60)),
    })
}

/// The summed desired replicas of the controllers of `pods` (upstream's
/// `getExpectedScale`): a ReplicaSet run by a Deployment counts as the Deployment. Pods
/// without a controller count for nothing.
async fn expected_scale(client: &Client, ns: &str, pods: &[Pod]) -> Result<i32, Error> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0;
    let mut cache: BTreeMap<String, Option<(String, i32)>> = BTreeMap::new();
    for pod in pods {
        let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true))
        else {
            continue;
        };
        let key = format!("{}/{}", owner.kind, owner.name);
        let found = match cache.get(&key) {
            Some(f) => f.clone(),
            None => {
                let f = controller_scale(client, ns, &owner.kind, &owner.name, &owner.uid).await?;
                cache.insert(key, f.clone());
                f
            }
        };
        if let Some((uid, replicas)) = found {
            if seen.insert(uid) {
                total += replicas;
            }
        }
    }
    Ok(total)
}

/// The uid and desired replicas of the workload that controls a pod.
async fn controller_scale(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    uid: &str,
) -> Result<Option<(String, i32)>, Error> {
    let replicas_of = |r: Option<i32>| r.unwrap_or(1);
    Ok(match kind {
        "ReplicaSet" => {
            let Some(rs) = Api::<ReplicaSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
                .filter(|rs| rs.metadata.uid.as_deref() == Some(uid))
            else {
                return Ok(None);
            };
            let deployment = rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true) && r.kind == "Deployment");
            if let Some(d) = deployment {
                let dep = Api::<Deployment>::namespaced(client.clone(), ns)
                    .get_opt(&d.name)
                    .await?
                    .filter(|x| x.metadata.uid.as_deref() == Some(d.uid.as_str()));
                if let Some(dep) = dep {
                    let replicas = replicas_of(dep.spec.replicas);
                    return Ok(Some((d.uid.clone(), replicas)));
                }
            }
            Some((uid.to_string(), replicas_of(rs.spec.replicas)))
        }
        "ReplicationController" => Api::<ReplicationController>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .filter(|x| x.metadata.uid.as_deref() == Some(uid))
            .map(|rc| {
                (
                    uid.to_string(),
                    replicas_of(rc.spec.as_ref().and_then(|s| s.replicas)),
                )
            }),
        "StatefulSet" => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .filter(|x| x.metadata.uid.as_deref() == Some(uid))
            .map(|ss| (uid.to_string(), replicas_of(ss.spec.replicas))),
        _ => None,
    })
}
