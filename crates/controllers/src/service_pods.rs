//! What the Endpoints and EndpointSlice controllers read from a Service and its pods
//! (upstream's `endpointutil` helpers): which pods back a service, on which port, under
//! which address.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

/// The service's selector when it has one; services without one are managed by hand
/// (and `default/kubernetes` by the apiserver itself), so the controllers leave them alone.
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref()
}

/// Whether the service selects the pod: same namespace, every selector pair present.
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = selector(svc) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    svc.namespace() == pod.namespace()
        && sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Upstream `ShouldPodBeInEndpoints`: a pod with an address that will still run (its
/// restart policy does not let a terminal phase come back), optionally while terminating.
pub fn should_be_endpoint(pod: &Pod, include_terminating: bool) -> bool {
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let phase = crate::podinfo::phase(pod);
    let finished = match policy {
        "Never" => matches!(phase, "Failed" | "Succeeded"),
        "OnFailure" => phase == "Succeeded",
        _ => false,
    };
    if finished || pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

fn pod_ips(pod: &Pod) -> Vec<&str> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let mut ips: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        ips.extend(status.pod_ip.as_deref().filter(|ip| !ip.is_empty()));
    }
    ips
}

/// `IPv4` or `IPv6`: the family of the service's first IP family (IPv4 when unset).
pub fn address_type(svc: &Service) -> &'static str {
    let first = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first());
    match first.map(String::as_str) {
        Some("IPv6") => "IPv6",
        _ => "IPv4",
    }
}

/// The pod's address in the given family.
pub fn pod_ip(pod: &Pod, address_type: &str) -> Option<String> {
    pod_ips(pod)
        .into_iter()
        .find(|ip| ip.contains(':') == (address_type == "IPv6"))
        .map(str::to_string)
}

/// Upstream `FindPort`: a numeric target port as is, a named one looked up among the
/// pod's container ports with the service port's protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The pod's DNS hostname under this service: set only when the pod names the service as
/// its subdomain.
pub fn hostname(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == Some(svc.name_any().as_str())
        && pod.namespace() == svc.namespace())
    .then(|| host.to_string())
}

pub fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// When the pod last changed in a way endpoints see: its Ready condition's transition,
/// or its creation.
pub fn last_change(pod: &Pod) -> Option<Timestamp> {
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    ready.or_else(|| crate::podinfo::created(pod))
}

/// The endpoints' `last-change-trigger-time`: the latest change among the service and
/// the pods it selects.
pub fn trigger_time(svc: &Service, pods: &[&Pod]) -> Option<Timestamp> {
    let svc_time = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
    pods.iter()
        .filter_map(|p| last_change(p))
        .chain(svc_time)
        .max()
}

/// RFC 3339 with as many fractional digits as needed, as upstream's `RFC3339Nano`.
pub fn format_time(t: Timestamp) -> String {
    t.to_string()
}

pub fn is_headless(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_none_or(|ip| ip.is_empty() || ip == "None")
}

pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

pub fn ports(svc: &Service) -> &[ServicePort] {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
}

/// Maps a pod event to the services it concerns: those selecting it now and those that
/// selected it when last seen (a pod whose labels changed must leave its old services).
/// Only pods some service selects are remembered, and a deleted pod is forgotten.
#[derive(Default)]
pub struct PodServices {
    last: std::sync::Mutex<std::collections::HashMap<String, Vec<ObjectRef<Service>>>>,
}

use kube::runtime::reflector::{ObjectRef, Store};

use crate::informers::Seen;

impl PodServices {
    pub fn services_for(
        &self,
        store: &Store<Service>,
        pod: &Pod,
        seen: Seen,
    ) -> Vec<ObjectRef<Service>> {
        let now: Vec<ObjectRef<Service>> = store
            .state()
            .iter()
            .filter(|s| selects(s, pod))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect();
        let Ok(mut last) = self.last.lock() else {
            return now;
        };
        if now.is_empty() && last.is_empty() {
            return now;
        }
        let key = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
        let before = if now.is_empty() || seen == Seen::Deleted {
            last.remove(&key)
        } else {
            last.insert(key, now.clone())
        };
        let mut all = now;
        for r in before.into_iter().flatten() {
            if !all.contains(&r) {
                all.push(r);
            }
        }
        all
    }

    /// How many pods are remembered (for tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.last.lock().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    fn pod(name: &str, app: &str) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": "ns", "labels": {"app": app}}}),
        )
        .expect("pod")
    }

    /// Each step: pod, its app label, what happened → services named, pods remembered.
    #[test]
    fn pods_map_to_their_services_now_and_before() {
        let (store, mut writer) = reflector::store::<Service>();
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}},
        }))
        .expect("service");
        writer.apply_watcher_event(&watcher::Event::Apply(svc));
        let index = PodServices::default();
        let steps: &[(&str, &str, Seen, &[&str], usize)] = &[
            ("a", "other", Seen::Changed, &[], 0),
            ("a", "web", Seen::Changed, &["web"], 1),
            // Relabelled away: its old service still hears of it, once.
            ("a", "other", Seen::Changed, &["web"], 0),
            ("a", "other", Seen::Changed, &[], 0),
            ("b", "web", Seen::Changed, &["web"], 1),
            ("b", "web", Seen::Deleted, &["web"], 0),
        ];
        for (i, (name, app, seen, want, remembered)) in steps.iter().enumerate() {
            let got: Vec<String> = index
                .services_for(&store, &pod(name, app), *seen)
                .into_iter()
                .map(|r| r.name)
                .collect();
            assert_eq!(got, *want, "step {i}");
            assert_eq!(index.remembered(), *remembered, "step {i}");
        }
    }
}
