//! The resource quota controller's status half (upstream `pkg/controller/resourcequota`):
//! every ResourceQuota's `status.hard` mirrors its spec and `status.used` says what the
//! namespace uses of each named resource. Enforcement on admission is elsewhere.

mod quantity;
mod scopes;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ResourceQuota, ResourceQuotaStatus, Secret, Service,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, PredicateConfig, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};

use crate::informers::Seen;
use crate::Error;

/// Upstream's full resync period, for counts this controller does not watch.
const RESYNC: Duration = Duration::from_secs(30);

struct Ctx {
    client: Client,
}

fn quotas_in<K: Resource>(store: &Store<ResourceQuota>, obj: &K) -> Vec<ObjectRef<ResourceQuota>> {
    let ns = obj.meta().namespace.clone();
    store
        .state()
        .iter()
        .filter(|q| q.namespace() == ns)
        .map(|q| ObjectRef::from_obj(q.as_ref()))
        .collect()
}

/// What a quota's recount depends on: its spec, and whether its status mirrors it yet.
fn limits_changed(q: &ResourceQuota) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&q.spec)
        .unwrap_or_default()
        .hash(&mut h);
    let hard = q.spec.as_ref().and_then(|s| s.hard.as_ref());
    (q.status.as_ref().and_then(|s| s.hard.as_ref()) == hard).hash(&mut h);
    Some(h.finish())
}

/// Deletions of one kind, which give quota back (upstream's replenishment); creates are
/// charged by admission, and other changes wait for the periodic resync.
fn deletions<K>(api: Api<K>) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Delete(o)) => Some(Ok(o)),
                // The backoff retries the watch; a failed attempt triggers nothing.
                _ => None,
            }
        })
}

/// Whether a pod change can lower usage: the pod finished, is being deleted, or is gone
/// (upstream's replenishment). A new pod is charged by admission before it is stored; a
/// recount on its creation could run in between, not see it, and give its charge away, so
/// creates wait for the periodic resync as upstream's do.
fn gives_back(pod: &Pod, seen: Seen) -> bool {
    seen == Seen::Deleted
        || pod.metadata.deletion_timestamp.is_some()
        || crate::podinfo::is_terminal(pod)
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let (reader, writer) = kube::runtime::reflector::store();
    // A quota's own changes count only when its limits do (upstream: spec.hard differs
    // from status.hard): admission charges `status.used` with every create, and a recount
    // started by that charge could run before the charged object is stored.
    let quotas = watcher(
        Api::<ResourceQuota>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(limits_changed, PredicateConfig::default());
    let controller = Controller::for_stream(quotas, reader);
    let store = controller.store();
    let (s1, s2, s3, s4, s5) = (
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store,
    );
    controller
        .reconcile_on(informers.pods.triggers(move |pod, seen| {
            if gives_back(pod, seen) {
                quotas_in(&s1, pod)
            } else {
                Vec::new()
            }
        }))
        .watches_stream(deletions(Api::<ConfigMap>::all(client.clone())), move |o| {
            quotas_in(&s2, &o)
        })
        .watches_stream(deletions(Api::<Secret>::all(client.clone())), move |o| {
            quotas_in(&s3, &o)
        })
        .watches_stream(deletions(Api::<Service>::all(client.clone())), move |o| {
            quotas_in(&s4, &o)
        })
        .watches_stream(
            deletions(Api::<PersistentVolumeClaim>::all(client.clone())),
            move |o| quotas_in(&s5, &o),
        )
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| async {})
        .await;
}

fn error_policy(q: Arc<ResourceQuota>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(quota = %q.name_any(), error = %err, "resource quota sync failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The preferred version of the groups `count/<resource>.<group>` names most often;
/// other groups are looked up through discovery.
fn known_version(group: &str) -> Option<&'static str> {
    Some(match group {
        ""
        | "apps"
        | "batch"
        | "policy"
        | "networking.k8s.io"
        | "rbac.authorization.k8s.io"
        | "storage.k8s.io"
        | "discovery.k8s.io"
        | "coordination.k8s.io"
        | "events.k8s.io"
        | "scheduling.k8s.io"
        | "node.k8s.io"
        | "certificates.k8s.io" => "v1",
        "autoscaling" => "v2",
        _ => return None,
    })
}

async fn count_objects(client: &Client, ns: &str, resource: &str) -> Result<usize, Error> {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let version = match known_version(group) {
        Some(v) => v.to_string(),
        None => match kube::discovery::group(client, group).await {
            Ok(g) => g.preferred_version_or_latest().to_string(),
            // A group nobody serves holds nothing.
            Err(_) => return Ok(0),
        },
    };
    let gvk = GroupVersionKind::gvk(group, &version, "");
    let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => Ok(list.items.len()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(0),
        Err(e) => Err(e.into()),
    }
}

async fn reconcile(cached: Arc<ResourceQuota>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<ResourceQuota> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(quota) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let hard = quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let keys: Vec<&str> = hard.keys().map(String::as_str).collect();
    let wants = |pred: &dyn Fn(&str) -> bool| keys.iter().any(|k| pred(k));
    let lp = ListParams::default();
    let mut inv = usage::Inventory::default();
    if wants(&|k| {
        k == "pods"
            || k == "count/pods"
            || k == "cpu"
            || k == "memory"
            || k == "ephemeral-storage"
            || k.starts_with("requests.") && k != "requests.storage"
            || k.starts_with("limits.")
    }) {
        let spec = quota.spec.clone().unwrap_or_default();
        let reqs = scopes::requirements(&spec);
        inv.pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
            .list(&lp)
            .await?
            .items
            .into_iter()
            .filter(|p| scopes::tracks(p, &reqs))
            .collect();
    }
    if wants(&|k| k.starts_with("services") || k == "count/services") {
        inv.services = Api::<Service>::namespaced(ctx.client.clone(), &ns)
            .list(&lp)
            .await?
            .items;
    }
    if wants(&|k| k.contains("persistentvolumeclaims") || k.ends_with("requests.storage")) {
        inv.claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns)
            .list(&lp)
            .await?
            .items;
    }
    for key in &keys {
        let Some(resource) = usage::counted_resource(key) else {
            continue;
        };
        if matches!(resource, "pods" | "services" | "persistentvolumeclaims") {
            continue;
        }
        if !inv.counts.contains_key(resource) {
            let n = count_objects(&ctx.client, &ns, resource).await?;
            inv.counts.insert(resource.to_string(), n);
        }
    }
    let status = ResourceQuotaStatus {
        used: Some(usage::used(&hard, &inv, Timestamp::now())),
        hard: Some(hard),
    };
    if quota.status.as_ref() != Some(&status) {
        let mut updated = quota.clone();
        updated.status = Some(status);
        match api
            .replace_status(&quota.name_any(), &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {
                return Ok(Action::requeue(Duration::from_millis(200)))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(RESYNC))
}
