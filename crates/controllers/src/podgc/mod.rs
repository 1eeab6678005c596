//! The pod garbage collector (upstream `pkg/controller/podgc`): every 20 seconds it
//! removes pods nobody else will: too many terminated ones, those of vanished nodes and
//! unscheduled ones being deleted.

mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};

use crate::Error;

/// Upstream's `--terminated-pod-gc-threshold` default.
pub const TERMINATED_POD_GC_THRESHOLD: usize = 12500;

/// How the collector runs; upstream's defaults from `Default`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub threshold: usize,
    pub period: Duration,
    /// How long a node must stay missing before its pods are orphans (upstream 40 s).
    pub quarantine: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: TERMINATED_POD_GC_THRESHOLD,
            period: Duration::from_secs(20),
            quarantine: Duration::from_secs(40),
        }
    }
}

pub async fn run(client: Client, informers: &crate::informers::Informers, threshold: usize) {
    run_with(
        client,
        informers.pods.store(),
        Settings {
            threshold,
            ..Settings::default()
        },
    )
    .await
}

pub async fn run_with(client: Client, pods: Store<Pod>, settings: Settings) {
    let mut missing_since: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut tick = tokio::time::interval(settings.period);
    loop {
        tick.tick().await;
        if let Err(e) = collect(&client, &pods, &settings, &mut missing_since).await {
            tracing::warn!(error = %e, "pod garbage collection failed; retrying");
        }
    }
}

async fn collect(
    client: &Client,
    pods: &Store<Pod>,
    settings: &Settings,
    missing_since: &mut BTreeMap<String, Timestamp>,
) -> Result<(), Error> {
    // The shared informer's cache; it may lag, which every decision below tolerates
    // (orphans are confirmed with the apiserver before they go).
    let pods = pods.state();
    let nodes: Api<Node> = Api::all(client.clone());
    let names: BTreeSet<String> = nodes
        .list_metadata(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    let now = Timestamp::now();
    plan::track_missing(missing_since, &pods, &names, now);
    let quarantine = SignedDuration::try_from(settings.quarantine).unwrap_or(SignedDuration::MAX);
    let plan = plan::plan(&pods, missing_since, quarantine, settings.threshold, now);

    for (ns, name) in plan.terminated {
        force_delete(client, &ns, &name).await?;
    }
    let mut confirmed: BTreeMap<String, bool> = BTreeMap::new();
    for ((ns, name), node) in plan.orphaned {
        // The informer may lag: ask once more before deleting a node's pods.
        let gone = match confirmed.get(&node) {
            Some(g) => *g,
            None => {
                let g = nodes.get_opt(&node).await?.is_none();
                confirmed.insert(node.clone(), g);
                g
            }
        };
        if gone {
            tracing::info!(pod = %name, namespace = %ns, node = %node, "deleting pod of a vanished node");
            mark_and_delete(client, &ns, &name).await?;
        }
    }
    for (ns, name) in plan.unscheduled_terminating {
        force_delete(client, &ns, &name).await?;
    }
    Ok(())
}

async fn force_delete(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    match api
        .delete(name, &DeleteParams::default().grace_period(0))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Upstream marks an orphan Failed with a DisruptionTarget condition before deleting it,
/// so whoever watches it learns why it went.
async fn mark_and_delete(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Some(mut pod) = api.get_opt(name).await? else {
        return Ok(());
    };
    let terminal = crate::podinfo::is_terminal(&pod);
    let status = pod.status.get_or_insert_with(Default::default);
    if !terminal {
        status.phase = Some("Failed".into());
    }
    let cond = PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some("DeletionByPodGC".into()),
        message: Some("PodGC: node no longer exists".into()),
        last_transition_time: Some(Time(Timestamp::now())),
        ..Default::default()
    };
    let conds = status.conditions.get_or_insert_with(Vec::new);
    match conds.iter_mut().find(|c| c.type_ == "DisruptionTarget") {
        Some(c) => *c = cond,
        None => conds.push(cond),
    }
    match api.replace_status(name, &PostParams::default(), &pod).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    force_delete(client, ns, name).await
}
