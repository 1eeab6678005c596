//! Status for the built-in gateway: GatewayClasses with skiff's controllerName are
//! Accepted; their Gateways get the Ready nodes' InternalIPs as `status.addresses` (every
//! node agent serves them on its ingress ports, as Ingresses), `Accepted`/`Programmed`
//! and per-listener status with the attached route count; HTTPRoutes get one
//! `status.parents[]` entry per parentRef naming such a Gateway, with `Accepted` and
//! `ResolvedRefs`.
//!
//! It runs here, once per cluster, rather than in every node agent's ingress: status has
//! one writer, and the node agents would otherwise race each other's patches. What
//! attaches where is decided by `ingress::gateway::attach`, the same function the data
//! path compiles from, so status describes what the nodes serve.
//!
//! One loop rebuilds every status after any change (coalesced) and patches only those that
//! differ: Gateway API status depends on many objects at once (a route's acceptance on its
//! Gateway's listeners, a listener's count on every route), which per-object reconciles
//! would each have to look up anyway.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ingress::gateway::attach::{self, Attachments, Verdict};
use ingress::gateway::types::ReferenceGrant;
use ingress::gateway::{Gateway, GatewayClass, HttpRoute, CONTROLLER};
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// Changes arriving within this window are handled together.
const COALESCE: Duration = Duration::from_millis(100);
/// Rebuilt this often even without changes, so a failed patch is retried.
const RESYNC: Duration = Duration::from_secs(30);

fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    changed: Arc<Notify>,
) -> (reflector::Store<K>, impl std::future::Future<Output = ()>)
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store();
    let run = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .for_each(move |_| {
            changed.notify_one();
            async {}
        });
    (store, run)
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let changed = Arc::new(Notify::new());
    let all = watcher::Config::default;
    let (classes, w1) = reflect(
        Api::<GatewayClass>::all(client.clone()),
        all(),
        changed.clone(),
    );
    let (gateways, w2) = reflect(Api::<Gateway>::all(client.clone()), all(), changed.clone());
    let (routes, w3) = reflect(
        Api::<HttpRoute>::all(client.clone()),
        all(),
        changed.clone(),
    );
    let (services, w4) = reflect(Api::<Service>::all(client.clone()), all(), changed.clone());
    let (secrets, w5) = reflect(
        Api::<Secret>::all(client.clone()),
        all().fields("type=kubernetes.io/tls"),
        changed.clone(),
    );
    let nodes = informers.nodes.store();
    let node_changes = changed.clone();
    let w6 = informers.nodes.subscribe().for_each(move |_| {
        node_changes.notify_one();
        async {}
    });
    let (grants, w7) = reflect(
        Api::<ReferenceGrant>::all(client.clone()),
        all(),
        changed.clone(),
    );
    let (namespaces, w8) = reflect(
        Api::<Namespace>::all(client.clone()),
        all(),
        changed.clone(),
    );
    let sync = async move {
        loop {
            let _ = tokio::time::timeout(RESYNC, changed.notified()).await;
            tokio::time::sleep(COALESCE).await;
            let snapshot = Snapshot {
                classes: classes.state(),
                gateways: gateways.state(),
                routes: routes.state(),
                services: services.state(),
                secrets: secrets.state(),
                nodes: nodes.state(),
                grants: grants.state(),
                namespaces: namespaces.state(),
            };
            let now = jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            for (patch, what) in snapshot.patches(&now) {
                if let Err(e) = patch.send(&client).await {
                    tracing::warn!(object = %what, error = %e, "gateway status not written; retrying");
                }
            }
        }
    };
    tokio::join!(w1, w2, w3, w4, w5, w6, w7, w8, sync);
}

/// One status write.
enum StatusPatch {
    Class(String, Value),
    Gateway(String, String, Value),
    Route(String, String, Value),
}

impl StatusPatch {
    async fn send(&self, client: &Client) -> Result<(), kube::Error> {
        let pp = PatchParams::default();
        match self {
            StatusPatch::Class(name, status) => {
                let patch = Patch::Merge(json!({"status": status}));
                Api::<GatewayClass>::all(client.clone())
                    .patch_status(name, &pp, &patch)
                    .await?;
            }
            StatusPatch::Gateway(ns, name, status) => {
                let patch = Patch::Merge(json!({"status": status}));
                Api::<Gateway>::namespaced(client.clone(), ns)
                    .patch_status(name, &pp, &patch)
                    .await?;
            }
            StatusPatch::Route(ns, name, status) => {
                let patch = Patch::Merge(json!({"status": status}));
                Api::<HttpRoute>::namespaced(client.clone(), ns)
                    .patch_status(name, &pp, &patch)
                    .await?;
            }
        }
        Ok(())
    }
}

struct Snapshot {
    classes: Vec<Arc<GatewayClass>>,
    gateways: Vec<Arc<Gateway>>,
    routes: Vec<Arc<HttpRoute>>,
    services: Vec<Arc<Service>>,
    secrets: Vec<Arc<Secret>>,
    nodes: Vec<Arc<Node>>,
    grants: Vec<Arc<ReferenceGrant>>,
    namespaces: Vec<Arc<Namespace>>,
}

impl Snapshot {
    /// The status writes that bring every object we own the status of up to date.
    fn patches(&self, now: &str) -> Vec<(StatusPatch, String)> {
        let addresses: Vec<Value> = crate::servicelb::ingress(&self.nodes)
            .into_iter()
            .filter_map(|v| v.get("ip").cloned())
            .map(|ip| json!({"type": "IPAddress", "value": ip}))
            .collect();
        let mut out = Vec::new();
        for c in self.classes.iter().filter(|c| attach::is_ours(c)) {
            let name = c.metadata.name.clone().unwrap_or_default();
            let conditions = vec![condition(
                "Accepted",
                &Verdict {
                    ok: true,
                    reason: "Accepted",
                    message: "served by every node's built-in ingress".into(),
                },
                c.metadata.generation,
            )];
            let status = json!({"conditions": keep_times(conditions, c.status.as_ref(), now)});
            if differs(&status, c.status.as_ref(), &["conditions"]) {
                out.push((
                    StatusPatch::Class(name.clone(), status),
                    format!("gatewayclass {name}"),
                ));
            }
        }

        let secret_keys: HashSet<String> = self
            .secrets
            .iter()
            .map(|s| attach::key(&s.metadata))
            .collect();
        let service_keys: HashSet<String> = self
            .services
            .iter()
            .map(|s| attach::key(&s.metadata))
            .collect();
        let classes: Vec<&GatewayClass> = self.classes.iter().map(|c| c.as_ref()).collect();
        let gateways: Vec<&Gateway> = self.gateways.iter().map(|g| g.as_ref()).collect();
        let routes: Vec<&HttpRoute> = self.routes.iter().map(|r| r.as_ref()).collect();
        let grants: Vec<&ReferenceGrant> = self.grants.iter().map(|g| g.as_ref()).collect();
        let namespaces: std::collections::HashMap<&str, &Namespace> = self
            .namespaces
            .iter()
            .filter_map(|n| Some((n.metadata.name.as_deref()?, n.as_ref())))
            .collect();
        let namespace_labels = |ns: &str| {
            namespaces
                .get(ns)
                .map(|n| n.metadata.labels.clone().unwrap_or_default())
        };
        let att = attach::attach(
            &classes,
            &gateways,
            &routes,
            &attach::Lookup {
                secret_exists: &|ns, name| secret_keys.contains(&format!("{ns}/{name}")),
                service_exists: &|ns, name| service_keys.contains(&format!("{ns}/{name}")),
                namespace_labels: &namespace_labels,
                grants: &grants,
            },
        );
        for g in &att.gateways {
            let status = gateway_status(g, &att, &addresses, now);
            if differs(
                &status,
                g.status.as_ref(),
                &["addresses", "conditions", "listeners"],
            ) {
                let (ns, name) = names(&g.metadata);
                out.push((
                    StatusPatch::Gateway(ns.clone(), name.clone(), status),
                    format!("gateway {ns}/{name}"),
                ));
            }
        }
        for rs in &att.routes {
            let status = route_status(rs, now);
            if differs(&status, rs.route.status.as_ref(), &["parents"]) {
                let (ns, name) = names(&rs.route.metadata);
                out.push((
                    StatusPatch::Route(ns.clone(), name.clone(), status),
                    format!("httproute {ns}/{name}"),
                ));
            }
        }
        out
    }
}

fn names(meta: &kube::api::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn condition(type_: &str, v: &Verdict, generation: Option<i64>) -> Value {
    let mut c = json!({
        "type": type_,
        "status": if v.ok { "True" } else { "False" },
        "reason": v.reason,
        "message": v.message,
    });
    if let Some(g) = generation {
        c["observedGeneration"] = json!(g);
    }
    c
}

/// Sets each condition's lastTransitionTime: kept from the condition of that type in
/// `old` while its status is unchanged, else `now`.
fn keep_times(mut conditions: Vec<Value>, old: Option<&Value>, now: &str) -> Vec<Value> {
    let old = old
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &mut conditions {
        let time = old
            .iter()
            .find(|o| o.get("type") == c.get("type") && o.get("status") == c.get("status"))
            .and_then(|o| o.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now));
        c["lastTransitionTime"] = time;
    }
    conditions
}

/// Whether the fields of `want` (the listed ones) differ from `have`'s.
fn differs(want: &Value, have: Option<&Value>, fields: &[&str]) -> bool {
    fields
        .iter()
        .any(|f| want.get(*f) != have.and_then(|h| h.get(*f)).filter(|v| !v.is_null()))
}

fn gateway_status(g: &Gateway, att: &Attachments<'_>, addresses: &[Value], now: &str) -> Value {
    let generation = g.metadata.generation;
    let key = attach::key(&g.metadata);
    let old = g.status.as_ref();
    let old_listener = |name: &str| -> Option<Value> {
        old?.get("listeners")?
            .as_array()?
            .iter()
            .find(|l| l.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let mut listeners = Vec::new();
    let mut any_programmed = false;
    for l in att
        .listeners
        .iter()
        .filter(|l| attach::key(&l.gateway.metadata) == key)
    {
        let programmed = Verdict {
            ok: l.accepted.ok && l.resolved.ok,
            reason: if l.accepted.ok && l.resolved.ok {
                "Programmed"
            } else {
                "Invalid"
            },
            message: if l.accepted.ok && l.resolved.ok {
                "served on the node's ingress port".into()
            } else {
                "the listener is not served".into()
            },
        };
        any_programmed |= programmed.ok;
        let conditions = vec![
            condition("Accepted", &l.accepted, generation),
            condition("ResolvedRefs", &l.resolved, generation),
            condition("Programmed", &programmed, generation),
        ];
        let kinds = if l.accepted.ok {
            json!([{"group": ingress::gateway::types::GROUP, "kind": "HTTPRoute"}])
        } else {
            json!([])
        };
        listeners.push(json!({
            "name": l.listener.name,
            "supportedKinds": kinds,
            "attachedRoutes": l.attached_routes,
            "conditions": keep_times(conditions, old_listener(&l.listener.name).as_ref(), now),
        }));
    }
    let accepted = Verdict {
        ok: true,
        reason: "Accepted",
        message: format!(
            "class {:?} is served by {CONTROLLER}",
            g.spec.gateway_class_name
        ),
    };
    let programmed = if addresses.is_empty() {
        Verdict {
            ok: false,
            reason: "AddressNotAssigned",
            message: "no Ready node has an InternalIP yet".into(),
        }
    } else if !any_programmed {
        Verdict {
            ok: false,
            reason: "Invalid",
            message: "no listener can be served".into(),
        }
    } else {
        Verdict {
            ok: true,
            reason: "Programmed",
            message: "served on every node's ingress ports".into(),
        }
    };
    let conditions = vec![
        condition("Accepted", &accepted, generation),
        condition("Programmed", &programmed, generation),
    ];
    json!({
        "addresses": addresses,
        "conditions": keep_times(conditions, old, now),
        "listeners": listeners,
    })
}

fn route_status(rs: &attach::RouteState<'_>, now: &str) -> Value {
    let generation = rs.route.metadata.generation;
    let old = rs.route.status.as_ref();
    let old_parents: Vec<Value> = old
        .and_then(|s| s.get("parents"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Other controllers' entries are theirs to keep.
    let mut parents: Vec<Value> = old_parents
        .iter()
        .filter(|p| p.get("controllerName").and_then(Value::as_str) != Some(CONTROLLER))
        .cloned()
        .collect();
    for p in &rs.parents {
        let parent_ref = serde_json::to_value(p.parent_ref).unwrap_or_default();
        let old_entry = old_parents
            .iter()
            .find(|o| {
                o.get("controllerName").and_then(Value::as_str) == Some(CONTROLLER)
                    && o.get("parentRef") == Some(&parent_ref)
            })
            .cloned();
        let conditions = vec![
            condition("Accepted", &p.accepted, generation),
            condition("ResolvedRefs", &rs.resolved, generation),
        ];
        parents.push(json!({
            "parentRef": parent_ref,
            "controllerName": CONTROLLER,
            "conditions": keep_times(conditions, old_entry.as_ref(), now),
        }));
    }
    json!({"parents": parents})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj<K: k8s_openapi::serde::de::DeserializeOwned>(v: Value) -> Arc<K> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    /// The status writes for a small cluster, then none once they are in.
    #[test]
    fn statuses() {
        let mut snapshot = Snapshot {
            classes: vec![
                obj(json!({"metadata": {"name": "skiff", "generation": 1},
                           "spec": {"controllerName": CONTROLLER}})),
                obj(json!({"metadata": {"name": "other"}, "spec": {"controllerName": "x/y"}})),
            ],
            gateways: vec![obj(json!({
                "metadata": {"name": "web", "namespace": "default", "generation": 2},
                "spec": {"gatewayClassName": "skiff", "listeners": [
                    {"name": "http", "port": 80, "protocol": "HTTP"},
                    {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "s.test",
                     "tls": {"certificateRefs": [{"name": "missing"}]}}]}}))],
            routes: vec![obj(json!({
                "metadata": {"name": "r", "namespace": "default", "generation": 1},
                "spec": {"parentRefs": [{"name": "web"}, {"name": "elsewhere"}],
                         "rules": [{"backendRefs": [{"name": "svc", "port": 80}]}]},
                "status": {"parents": [{"parentRef": {"name": "elsewhere"}, "controllerName": "x/y",
                                         "conditions": []}]}}))],
            services: vec![],
            secrets: vec![],
            nodes: vec![obj(json!({"metadata": {"name": "n1"},
                "status": {"addresses": [{"type": "InternalIP", "address": "10.9.0.1"}],
                           "conditions": [{"type": "Ready", "status": "True"}]}}))],
            grants: vec![],
            namespaces: vec![],
        };
        let now = "2026-01-01T00:00:00Z";
        let show = |patches: Vec<(StatusPatch, String)>| {
            patches
                .into_iter()
                .map(|(p, what)| {
                    let status = match p {
                        StatusPatch::Class(_, s)
                        | StatusPatch::Gateway(_, _, s)
                        | StatusPatch::Route(_, _, s) => s,
                    };
                    format!("{what}: {}", serde_json::to_string_pretty(&status).unwrap())
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        expect_test::expect![[r#"
            gatewayclass skiff: {
              "conditions": [
                {
                  "type": "Accepted",
                  "status": "True",
                  "reason": "Accepted",
                  "message": "served by every node's built-in ingress",
                  "observedGeneration": 1,
                  "lastTransitionTime": "2026-01-01T00:00:00Z"
                }
              ]
            }
            gateway default/web: {
              "addresses": [
                {
                  "type": "IPAddress",
                  "value": "10.9.0.1"
                }
              ],
              "conditions": [
                {
                  "type": "Accepted",
                  "status": "True",
                  "reason": "Accepted",
                  "message": "class \"skiff\" is served by skiff.io/gateway-controller",
                  "observedGeneration": 2,
                  "lastTransitionTime": "2026-01-01T00:00:00Z"
                },
                {
                  "type": "Programmed",
                  "status": "True",
                  "reason": "Programmed",
                  "message": "served on every node's ingress ports",
                  "observedGeneration": 2,
                  "lastTransitionTime": "2026-01-01T00:00:00Z"
                }
              ],
              "listeners": [
                {
                  "name": "http",
                  "supportedKinds": [
                    {
                      "group": "gateway.networking.k8s.io",
                      "kind": "HTTPRoute"
                    }
                  ],
                  "attachedRoutes": 1,
                  "conditions": [
                    {
                      "type": "Accepted",
                      "status": "True",
                      "reason": "Accepted",
                      "message": "served on the node's ingress port",
                      "observedGeneration": 2,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    },
                    {
                      "type": "ResolvedRefs",
                      "status": "True",
                      "reason": "ResolvedRefs",
                      "message": "nothing to resolve",
                      "observedGeneration": 2,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    },
                    {
                      "type": "Programmed",
                      "status": "True",
                      "reason": "Programmed",
                      "message": "served on the node's ingress port",
                      "observedGeneration": 2,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    }
                  ]
                },
                {
                  "name": "https",
                  "supportedKinds": [
                    {
                      "group": "gateway.networking.k8s.io",
                      "kind": "HTTPRoute"
                    }
                  ],
                  "attachedRoutes": 1,
                  "conditions": [
                    {
                      "type": "Accepted",
                      "status": "True",
                      "reason": "Accepted",
                      "message": "served on the node's ingress port",
                      "observedGeneration": 2,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    },
                    {
                      "type": "ResolvedRefs",
                      "status": "False",
                      "reason": "InvalidCertificateRef",
                      "message": "certificate Secret default/missing (type kubernetes.io/tls) not found",
                      "observedGeneration": 2,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    },
                    {
                      "type": "Programmed",
                      "status": "False",
                      "reason": "Invalid",
                      "message": "the listener is not served",
                      "observedGeneration": 2,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    }
                  ]
                }
              ]
            }
            httproute default/r: {
              "parents": [
                {
                  "parentRef": {
                    "name": "elsewhere"
                  },
                  "controllerName": "x/y",
                  "conditions": []
                },
                {
                  "parentRef": {
                    "name": "web"
                  },
                  "controllerName": "skiff.io/gateway-controller",
                  "conditions": [
                    {
                      "type": "Accepted",
                      "status": "True",
                      "reason": "Accepted",
                      "message": "attached to gateway default/web",
                      "observedGeneration": 1,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    },
                    {
                      "type": "ResolvedRefs",
                      "status": "False",
                      "reason": "BackendNotFound",
                      "message": "service default/svc not found",
                      "observedGeneration": 1,
                      "lastTransitionTime": "2026-01-01T00:00:00Z"
                    }
                  ]
                }
              ]
            }"#]].assert_eq(&show(snapshot.patches(now)));

        // Written back, nothing changes (times included); a fixed backend flips one condition.
        let patches = snapshot.patches(now);
        for (p, _) in patches {
            match p {
                StatusPatch::Class(_, s) => {
                    Arc::make_mut(&mut snapshot.classes[0]).status = Some(s)
                }
                StatusPatch::Gateway(_, _, s) => {
                    Arc::make_mut(&mut snapshot.gateways[0]).status = Some(s)
                }
                StatusPatch::Route(_, _, s) => {
                    Arc::make_mut(&mut snapshot.routes[0]).status = Some(s)
                }
            }
        }
        assert_eq!(show(snapshot.patches("2026-02-02T00:00:00Z")), "");
        snapshot.services = vec![obj(
            json!({"metadata": {"name": "svc", "namespace": "default"}}),
        )];
        let later = show(snapshot.patches("2026-02-02T00:00:00Z"));
        assert!(later.starts_with("httproute default/r"), "{later}");
        assert!(later.contains("all backends resolved"), "{later}");
        assert_eq!(later.matches("2026-02-02T00:00:00Z").count(), 1, "{later}");
    }
}
