//! The Endpoints controller (upstream `pkg/controller/endpoint`): every Service with a
//! selector has an Endpoints object of its name listing the selected pods' addresses.
//! Services without a selector (such as `default/kubernetes`, kept by the apiserver) are
//! left alone.

mod subsets;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};

use crate::service_pods::{self, PodServices};
use crate::Error;

const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const HEADLESS: &str = "service.kubernetes.io/headless";
const LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

struct Ctx {
    client: Client,
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let services: Api<Service> = Api::all(client.clone());
    let controller = Controller::new(services, watcher::Config::default());
    let store = controller.store();
    let index = PodServices::default();
    let reconcile_loop = controller
        .reconcile_on(
            informers
                .pods
                .triggers(move |pod, seen| index.services_for(&store, pod, seen)),
        )
        .watches(
            Api::<Endpoints>::all(client.clone()),
            watcher::Config::default(),
            |ep| {
                ep.namespace()
                    .map(|ns| ObjectRef::<Service>::new(&ep.name_any()).within(&ns))
            },
        )
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client: client.clone(),
            }),
        )
        .for_each(|_| async {});
    tokio::join!(reconcile_loop, delete_with_services(client));
}

fn error_policy(svc: Arc<Service>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), error = %err, "endpoints sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

/// A deleted service's Endpoints go with it. After each (re)list, Endpoints whose
/// service is gone (deleted while nobody watched) go too, as upstream's
/// `checkLeftoverEndpoints`, except leader-election records.
async fn delete_with_services(client: Client) {
    let services: Api<Service> = Api::all(client.clone());
    let mut events = watcher(services, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut listed: HashSet<(String, String)> = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Delete(svc)) => {
                if let Some(ns) = svc.namespace() {
                    delete_endpoints(&client, &ns, &svc.name_any()).await;
                }
            }
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(svc)) => {
                listed.insert((svc.namespace().unwrap_or_default(), svc.name_any()));
            }
            Ok(watcher::Event::InitDone) => {
                let all: Api<Endpoints> = Api::all(client.clone());
                let Ok(list) = all.list_metadata(&ListParams::default()).await else {
                    continue;
                };
                for ep in list.items {
                    let key = (ep.namespace().unwrap_or_default(), ep.name_any());
                    if !listed.contains(&key) && !ep.annotations().contains_key(LEADER) {
                        delete_endpoints(&client, &key.0, &key.1).await;
                    }
                }
            }
            _ => {}
        }
    }
}

async fn delete_endpoints(client: &Client, ns: &str, name: &str) {
    let api: Api<Endpoints> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(e) => tracing::warn!(endpoints = %name, error = %e, "endpoints not deleted"),
    }
}

/// `k=v,...` for listing only the pods a service selects.
pub(crate) fn label_query(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let Some(selector) = service_pods::selector(&svc) else {
        return Ok(Action::await_change());
    };
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default().labels(&label_query(selector)))
        .await?
        .items;
    let mut want = subsets::subsets(&svc, &pods);
    let truncated = subsets::truncate(&mut want);

    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let current = api.get_opt(&name).await?;
    let mut labels = svc.labels().clone();
    if service_pods::is_headless(&svc) {
        labels.insert(HEADLESS.into(), String::new());
    }
    if let Some(cur) = &current {
        let same_subsets = cur.subsets.clone().unwrap_or_default() == want;
        let same_labels = cur.labels() == &labels;
        let same_capacity = cur.annotations().contains_key(subsets::OVER_CAPACITY) == truncated;
        if same_subsets && same_labels && same_capacity {
            return Ok(Action::await_change());
        }
    }
    let mut ep = current.clone().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    });
    ep.subsets = Some(want).filter(|s| !s.is_empty());
    ep.metadata.labels = Some(labels);
    let annotations = ep.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| service_pods::selects(&svc, p))
        .collect();
    match service_pods::trigger_time(&svc, &selected) {
        Some(t) => annotations.insert(TRIGGER_TIME.into(), service_pods::format_time(t)),
        None => annotations.remove(TRIGGER_TIME),
    };
    if truncated {
        annotations.insert(subsets::OVER_CAPACITY.into(), subsets::TRUNCATED.into());
    } else {
        annotations.remove(subsets::OVER_CAPACITY);
    }
    let result = match current {
        None => api.create(&PostParams::default(), &ep).await.map(|_| ()),
        Some(_) => api
            .replace(&name, &PostParams::default(), &ep)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        // Someone wrote first, or the namespace is going away: look again shortly.
        Err(kube::Error::Api(e)) if matches!(e.code, 403 | 404 | 409) => {
            Ok(Action::requeue(Duration::from_millis(500)))
        }
        Err(e) => Err(e.into()),
    }
}
