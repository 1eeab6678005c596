//! What a namespace uses of each resource a quota names (pure), counted as upstream's
//! quota evaluators count it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::quantity::Sum;

/// What the controller listed in the namespace. `counts` holds object counts keyed by
/// upstream's resource name (`configmaps`, `deployments.apps`).
#[derive(Default)]
pub struct Inventory {
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub claims: Vec<PersistentVolumeClaim>,
    pub counts: BTreeMap<String, usize>,
}

/// The object count a key asks for (`secrets`, `count/secrets`, `count/jobs.batch`), as
/// the `<plural>[.<group>]` name listed in `Inventory::counts`.
pub fn counted_resource(key: &str) -> Option<&str> {
    if let Some(r) = key.strip_prefix("count/") {
        return Some(r);
    }
    matches!(
        key,
        "secrets" | "configmaps" | "replicationcontrollers" | "resourcequotas"
    )
    .then_some(key)
}

/// Upstream's `QuotaV1Pod`: a pod uses quota until it is terminal or past its deletion
/// grace period.
pub fn pod_counts(pod: &Pod, now: Timestamp) -> bool {
    if crate::podinfo::is_terminal(pod) {
        return false;
    }
    match (
        pod.metadata.deletion_timestamp.as_ref(),
        pod.metadata.deletion_grace_period_seconds,
    ) {
        (Some(t), Some(grace)) => now <= t.0 + SignedDuration::from_secs(grace),
        _ => true,
    }
}

fn container_sum(c: &Container, kind: &str, resource: &str) -> Sum {
    let mut s = Sum::default();
    let list = c.resources.as_ref().and_then(|r| match kind {
        "requests" => r.requests.as_ref(),
        _ => r.limits.as_ref(),
    });
    // An unset request defaults to the limit (upstream's defaulting does this on create).
    let q = list.and_then(|l| l.get(resource)).or_else(|| {
        (kind == "requests")
            .then(|| c.resources.as_ref()?.limits.as_ref()?.get(resource))
            .flatten()
    });
    if let Some(q) = q {
        s.add_str(&q.0);
    }
    s
}

/// A pod's request or limit of one resource as upstream's `PodRequests`/`PodLimits`:
/// the app containers plus restartable init containers, at least each plain init
/// container's, plus overhead.
pub fn pod_amount(pod: &Pod, kind: &str, resource: &str) -> Sum {
    let Some(spec) = pod.spec.as_ref() else {
        return Sum::default();
    };
    let mut total = Sum::default();
    for c in &spec.containers {
        total.add(container_sum(c, kind, resource));
    }
    let mut sidecars = Sum::default();
    let mut init_max = Sum::default();
    for c in spec.init_containers.iter().flatten() {
        let own = container_sum(c, kind, resource);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(own);
            total.add(own);
        } else {
            let mut with_sidecars = own;
            with_sidecars.add(sidecars);
            init_max = init_max.max(with_sidecars);
        }
    }
    let mut amount = total.max(init_max);
    if let Some(q) = spec.overhead.as_ref().and_then(|o| o.get(resource)) {
        amount.add_str(&q.0);
    }
    amount
}

fn pod_usage(key: &str, pods: &[&Pod]) -> Option<Sum> {
    let (kind, resource) = match key {
        "pods" | "count/pods" => return Some(Sum::count(pods.len())),
        "cpu" | "memory" | "ephemeral-storage" => ("requests", key),
        _ => {
            let (kind, resource) = key.split_once('.')?;
            if kind != "requests" && kind != "limits" {
                return None;
            }
            if !matches!(resource, "cpu" | "memory" | "ephemeral-storage")
                && !resource.starts_with("hugepages-")
            {
                return None;
            }
            (kind, resource)
        }
    };
    let mut sum = Sum::default();
    for pod in pods {
        sum.add(pod_amount(pod, kind, resource));
    }
    Some(sum)
}

fn service_usage(key: &str, services: &[Service]) -> Option<Sum> {
    fn of_type<'a>(services: &'a [Service], t: &'static str) -> impl Iterator<Item = &'a Service> {
        services
            .iter()
            .filter(move |s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some(t))
    }
    match key {
        "services" | "count/services" => Some(Sum::count(services.len())),
        "services.loadbalancers" => Some(Sum::count(of_type(services, "LoadBalancer").count())),
        "services.nodeports" => {
            let ports = of_type(services, "NodePort")
                .chain(of_type(services, "LoadBalancer"))
                .flat_map(|s| {
                    s.spec
                        .as_ref()
                        .and_then(|s| s.ports.clone())
                        .unwrap_or_default()
                })
                .filter(|p| p.node_port.is_some_and(|n| n != 0))
                .count();
            Some(Sum::count(ports))
        }
        _ => None,
    }
}

fn claim_usage(key: &str, claims: &[PersistentVolumeClaim]) -> Option<Sum> {
    let (class, resource) = match key.split_once(".storageclass.storage.k8s.io/") {
        Some((class, resource)) => (Some(class), resource),
        None => (None, key),
    };
    let in_class: Vec<&PersistentVolumeClaim> = claims
        .iter()
        .filter(|c| {
            class.is_none_or(|want| {
                c.spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.as_deref())
                    == Some(want)
            })
        })
        .collect();
    match resource {
        "persistentvolumeclaims" | "count/persistentvolumeclaims" => {
            Some(Sum::count(in_class.len()))
        }
        "requests.storage" => {
            let mut sum = Sum::default();
            for c in in_class {
                let q = c
                    .spec
                    .as_ref()
                    .and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage"));
                if let Some(q) = q {
                    sum.add_str(&q.0);
                }
            }
            Some(sum)
        }
        _ => None,
    }
}

/// `status.used` for the keys of `hard`; keys this controller cannot count are left out.
pub fn used(
    hard: &BTreeMap<String, Quantity>,
    inv: &Inventory,
    now: Timestamp,
) -> BTreeMap<String, Quantity> {
    let live: Vec<&Pod> = inv.pods.iter().filter(|p| pod_counts(p, now)).collect();
    hard.keys()
        .filter_map(|key| {
            let sum = pod_usage(key, &live)
                .or_else(|| service_usage(key, &inv.services))
                .or_else(|| claim_usage(key, &inv.claims))
                .or_else(|| {
                    let r = counted_resource(key)?;
                    Some(Sum::count(inv.counts.get(r).copied().unwrap_or(0)))
                })?;
            Some((key.clone(), Quantity(sum.canonical())))
        })
        .collect()
}

#[cfg(test)]
mod tests;
