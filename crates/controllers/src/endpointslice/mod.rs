//! The EndpointSlice controller (upstream `pkg/controller/endpointslice`): the selected
//! pods of every Service with a selector, in slices of at most 100 endpoints named
//! `<service>-<random>`, owned by the Service so the garbage collector removes them with it.

mod desired;
mod pack;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::service_pods::{self, PodServices};
use crate::Error;

/// Upstream's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const HEADLESS: &str = "service.kubernetes.io/headless";
const ZONE: &str = "topology.kubernetes.io/zone";

struct Ctx {
    client: Client,
    max_per_slice: usize,
}

pub async fn run(client: Client, informers: &crate::informers::Informers, max_per_slice: usize) {
    let services: Api<Service> = Api::all(client.clone());
    let controller = Controller::new(services, watcher::Config::default());
    let store = controller.store();
    let index = PodServices::default();
    let slices = watcher::Config::default().labels(&format!("{MANAGED_BY}={CONTROLLER_NAME}"));
    controller
        .reconcile_on(
            informers
                .pods
                .triggers(move |pod, seen| index.services_for(&store, pod, seen)),
        )
        .watches(Api::<EndpointSlice>::all(client.clone()), slices, |s| {
            let svc = s.labels().get(SERVICE_NAME)?;
            s.namespace()
                .map(|ns| ObjectRef::<Service>::new(svc).within(&ns))
        })
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client,
                max_per_slice,
            }),
        )
        .for_each(|_| async {})
        .await;
}

fn error_policy(svc: Arc<Service>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), error = %err, "endpointslice sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

/// The labels every slice of `svc` carries: the service's own (less the reserved ones),
/// the headless marker, and the service name and manager.
fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .labels()
        .iter()
        .filter(|(k, _)| k.as_str() != SERVICE_NAME && k.as_str() != MANAGED_BY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if service_pods::is_headless(svc) {
        labels.insert(HEADLESS.into(), String::new());
    } else {
        labels.remove(HEADLESS);
    }
    labels.insert(SERVICE_NAME.into(), svc.name_any());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

fn owner(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.name_any(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A service name cut so that `<prefix><5 random>` stays a valid name.
fn name_prefix(svc: &str) -> String {
    let mut prefix = format!("{svc}-");
    if prefix.len() > 58 {
        prefix.truncate(57);
        prefix.push('-');
    }
    prefix
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let Some(selector) = service_pods::selector(&svc) else {
        return Ok(Action::await_change());
    };
    if svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default().labels(&crate::endpoints::label_query(selector)))
        .await?
        .items;
    let zones: BTreeMap<String, String> = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| {
            let zone = n.labels().get(ZONE)?.clone();
            Some((n.name_any(), zone))
        })
        .collect();
    let want = desired::desired(&svc, &pods, &zones);

    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let owned = api
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER_NAME}"
        )))
        .await?
        .items;
    let family = service_pods::address_type(&svc);
    let labels = slice_labels(&svc);
    let mut stale = Vec::new();
    let mut existing = Vec::new();
    for s in &owned {
        if s.address_type != family {
            stale.push(s.name_any());
        } else {
            existing.push(pack::Existing::from_slice(s, s.labels() == &labels));
        }
    }
    let mut plan = pack::plan(&existing, &want, ctx.max_per_slice);
    plan.delete.extend(stale);
    if plan.create.is_empty() && plan.update.is_empty() && plan.delete.is_empty() {
        return Ok(Action::await_change());
    }

    let selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| service_pods::selects(&svc, p))
        .collect();
    let trigger = service_pods::trigger_time(&svc, &selected).map(service_pods::format_time);
    let annotate = |meta: &mut ObjectMeta| {
        let a = meta.annotations.get_or_insert_with(BTreeMap::new);
        match &trigger {
            Some(t) => a.insert(TRIGGER_TIME.into(), t.clone()),
            None => a.remove(TRIGGER_TIME),
        };
    };
    let post = PostParams::default();
    let mut retry = false;
    for (slice_name, group) in plan.update {
        let Some(mut slice) = owned.iter().find(|s| s.name_any() == slice_name).cloned() else {
            continue;
        };
        slice.metadata.labels = Some(labels.clone());
        annotate(&mut slice.metadata);
        slice.ports = Some(group.ports).filter(|p| !p.is_empty());
        slice.endpoints = Some(group.endpoints);
        retry |= settle(api.replace(&slice_name, &post, &slice).await)?;
    }
    for group in plan.create {
        let mut meta = ObjectMeta {
            generate_name: Some(name_prefix(&name)),
            namespace: Some(ns.clone()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner(&svc)]),
            ..Default::default()
        };
        annotate(&mut meta);
        let slice = EndpointSlice {
            metadata: meta,
            address_type: family.into(),
            ports: Some(group.ports).filter(|p| !p.is_empty()),
            endpoints: Some(group.endpoints),
        };
        retry |= settle(api.create(&post, &slice).await)?;
    }
    for slice_name in plan.delete {
        retry |= settle(api.delete(&slice_name, &DeleteParams::default()).await)?;
    }
    Ok(if retry {
        Action::requeue(Duration::from_millis(500))
    } else {
        Action::await_change()
    })
}

/// Conflicts and vanished objects mean another sync saw newer state: retry soon.
fn settle<T>(result: Result<T, kube::Error>) -> Result<bool, Error> {
    match result {
        Ok(_) => Ok(false),
        Err(kube::Error::Api(e)) if matches!(e.code, 403 | 404 | 409) => Ok(true),
        Err(e) => Err(e.into()),
    }
}
