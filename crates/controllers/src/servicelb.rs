//! The built-in load balancer (in the spirit of k3s's ServiceLB): a `LoadBalancer` Service
//! without a `loadBalancerClass` is published on the nodes' own addresses — its
//! `status.loadBalancer.ingress` lists every Ready node's InternalIP, and each node's
//! service proxy forwards `<node IP>:<port>` to the endpoints. Two such services cannot
//! share a port and protocol: the older keeps it, the newer stays pending with an event.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{reflector, watcher};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use crate::Error;

struct Ctx {
    client: Client,
    nodes: reflector::Store<Node>,
    services: reflector::Store<Service>,
    /// The conflict last reported per service uid, so each is reported once.
    reported: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let nodes = informers.nodes.store();
    let node_changes = informers.nodes.subscribe().map(|_| ());
    let controller = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    );
    let services = controller.store();
    let ctx = Arc::new(Ctx {
        client,
        nodes,
        services,
        reported: Default::default(),
    });
    controller
        .reconcile_all_on(node_changes)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(svc: Arc<Service>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), error = %err, "load balancer status not written; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Ours to publish: type LoadBalancer, no other implementation asked for.
fn is_ours(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer") && s.load_balancer_class.is_none()
    })
}

fn ports(svc: &Service) -> BTreeSet<(String, i32)> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port))
        .collect()
}

/// The older of two services (creation time, then namespace/name) keeps a shared port.
fn older(a: &Service, b: &Service) -> bool {
    let key = |s: &Service| {
        (
            s.metadata.creation_timestamp.clone().map(|t| t.0),
            s.namespace().unwrap_or_default(),
            s.name_any(),
        )
    };
    key(a) < key(b)
}

/// The port this service wants that an older one of ours already holds.
fn conflict(svc: &Service, others: &[Arc<Service>]) -> Option<(String, i32, String)> {
    let mine = ports(svc);
    others
        .iter()
        .filter(|o| is_ours(o) && o.uid() != svc.uid() && older(o, svc))
        .find_map(|o| {
            let shared = mine.intersection(&ports(o)).next()?.clone();
            Some((
                shared.0,
                shared.1,
                format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
            ))
        })
}

/// The nodes' addresses a service is published on: Ready, schedulable nodes' InternalIPs.
pub fn ingress(nodes: &[Arc<Node>]) -> Vec<Value> {
    let mut ips: Vec<String> = nodes
        .iter()
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|n| {
            n.status
                .as_ref()?
                .addresses
                .as_ref()?
                .iter()
                .find(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect()
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if !is_ours(&svc) || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let want = match conflict(&svc, &ctx.services.state()) {
        Some((proto, port, holder)) => {
            let msg = format!(
                "port {port}/{proto} is already used by LoadBalancer service {holder} on every node"
            );
            let uid = svc.uid().unwrap_or_default();
            let new = {
                let mut reported = ctx.reported.lock().unwrap_or_else(|p| p.into_inner());
                reported.insert(uid.clone(), msg.clone()).as_ref() != Some(&msg)
            };
            if new {
                let about = crate::event_recorder::Involved {
                    api_version: "v1",
                    kind: "Service",
                    namespace: &svc.namespace().unwrap_or_default(),
                    name: &svc.name_any(),
                    uid: &uid,
                };
                crate::event_recorder::record(
                    &ctx.client,
                    "service-lb-controller",
                    &about,
                    true,
                    "PortConflict",
                    &msg,
                )
                .await;
            }
            Vec::new()
        }
        None => ingress(&ctx.nodes.state()),
    };
    let have = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| serde_json::to_value(i).unwrap_or_default())
        .unwrap_or_else(|| json!([]));
    if have != json!(want) {
        let api: Api<Service> =
            Api::namespaced(ctx.client.clone(), &svc.namespace().unwrap_or_default());
        let patch = json!({"status": {"loadBalancer": {"ingress": want}}});
        api.patch_status(
            &svc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_addresses() {
        let nodes: Vec<Node> = serde_json::from_value(json!([
            {"metadata": {"name": "a"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.2"}],
             "conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.3"}],
             "conditions": [{"type": "Ready", "status": "False"}]}},
            {"metadata": {"name": "c"}, "spec": {"unschedulable": true}, "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.4"}],
             "conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "d"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}],
             "conditions": [{"type": "Ready", "status": "True"}]}},
        ]))
        .unwrap();
        let nodes: Vec<Arc<Node>> = nodes.into_iter().map(Arc::new).collect();
        assert_eq!(
            json!(ingress(&nodes)),
            json!([{"ip": "192.0.2.1", "ipMode": "VIP"}, {"ip": "192.0.2.2", "ipMode": "VIP"}])
        );
    }

    #[test]
    fn the_older_service_keeps_the_port() {
        let svc = |name: &str, created: &str, port: i32, class: Option<&str>| {
            Arc::new(
                serde_json::from_value::<Service>(json!({
                    "metadata": {"name": name, "namespace": "default", "uid": name, "creationTimestamp": created},
                    "spec": {"type": "LoadBalancer", "ports": [{"port": port}], "loadBalancerClass": class},
                }))
                .unwrap(),
            )
        };
        let all = vec![
            svc("first", "2026-12-05T10:00:00Z", 80, None),
            svc("second", "2026-12-05T10:01:00Z", 80, None),
            svc("other-port", "2026-12-05T09:00:00Z", 443, None),
            svc(
                "foreign",
                "2026-12-05T09:00:00Z",
                80,
                Some("example.com/lb"),
            ),
        ];
        let got: Vec<String> = all
            .iter()
            .map(|s| match conflict(s, &all) {
                Some((proto, port, holder)) => {
                    format!("{}: {port}/{proto} held by {holder}", s.name_any())
                }
                None => format!("{}: free", s.name_any()),
            })
            .collect();
        assert_eq!(
            got,
            [
                "first: free",
                "second: 80/TCP held by default/first",
                "other-port: free",
                "foreign: free",
            ]
        );
    }
}
