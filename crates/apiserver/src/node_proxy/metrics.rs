//! `metrics.k8s.io/v1beta1` (what `kubectl top` reads), served by the apiserver itself
//! rather than an aggregated metrics-server: NodeMetrics and PodMetrics built from each
//! Ready node agent's `/stats/summary`, fetched when asked.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Response};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::client;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::request::{ResourceRequest, Target};
use crate::Api;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
const GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";
/// The window the rates cover (the agent samples at least a second apart).
const WINDOW: &str = "1s";

/// `/apis` entry.
pub fn api_group() -> Value {
    json!({
        "name": GROUP,
        "versions": [{"groupVersion": GROUP_VERSION, "version": VERSION}],
        "preferredVersion": {"groupVersion": GROUP_VERSION, "version": VERSION},
    })
}

fn resources() -> [(&'static str, &'static str, &'static str, bool); 2] {
    [
        ("nodes", "node", "NodeMetrics", false),
        ("pods", "pod", "PodMetrics", true),
    ]
}

/// Aggregated-discovery (`APIGroupDiscovery`) entry.
pub fn aggregated_item() -> Value {
    let rs: Vec<Value> = resources()
        .iter()
        .map(|(plural, singular, kind, namespaced)| {
            json!({
                "resource": plural,
                "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
                "scope": if *namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": singular,
                "verbs": ["get", "list"],
            })
        })
        .collect();
    json!({
        "metadata": {"name": GROUP, "creationTimestamp": null},
        "versions": [{"version": VERSION, "resources": rs, "freshness": "Current"}],
    })
}

/// `/apis/metrics.k8s.io` and `/apis/metrics.k8s.io/v1beta1`.
pub fn discovery(target: &Target) -> ApiResult<Response<Body>> {
    match target {
        Target::Group { .. } => {
            let mut g = api_group();
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            Ok(body::json_response(200, &g))
        }
        Target::GroupVersion { version, .. } if version == VERSION => {
            let rs: Vec<Value> = resources()
                .iter()
                .map(|(plural, singular, kind, namespaced)| {
                    json!({"name": plural, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]})
                })
                .collect();
            Ok(body::json_response(
                200,
                &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": rs}),
            ))
        }
        _ => Err(ApiError::no_route()),
    }
}

/// CPU in nanocores and memory in bytes as metrics-server writes them.
fn usage(cpu_nanocores: u64, memory_bytes: u64) -> Value {
    json!({"cpu": format!("{cpu_nanocores}n"), "memory": format!("{}Ki", memory_bytes / 1024)})
}

fn num(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr).and_then(Value::as_u64).unwrap_or(0)
}

fn ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Each Ready node with an agent endpoint, and its summary (nodes that fail are left out,
/// as metrics-server leaves out nodes it cannot scrape).
async fn summaries(api: &Arc<Api>, only: Option<&str>) -> Vec<(Value, Value)> {
    let (nodes, _) = api.cache.list("/registry/minions/");
    let mut tasks = tokio::task::JoinSet::new();
    for obj in nodes {
        let Ok(node) = serde_json::from_slice::<Value>(&obj.json) else {
            continue;
        };
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if only.is_some_and(|o| o != name) || !ready(&node) {
            continue;
        }
        if node
            .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            == 0
        {
            continue;
        }
        let api = api.clone();
        tasks.spawn(async move {
            let fetch = async {
                let resp =
                    client::send(&api, &name, Method::GET, "/stats/summary", HeaderMap::new())
                        .await
                        .ok()?;
                if !resp.status().is_success() {
                    return None;
                }
                let bytes = resp.into_body().collect().await.ok()?.to_bytes();
                serde_json::from_slice::<Value>(&bytes).ok()
            };
            let summary = tokio::time::timeout(Duration::from_secs(10), fetch)
                .await
                .ok()
                .flatten();
            summary.map(|s| (node, s))
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(Some(x)) = r {
            out.push(x);
        }
    }
    out
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn label_filter(
    query: &HashMap<String, String>,
) -> ApiResult<Option<apimachinery::selector::LabelSelector>> {
    match query.get("labelSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => apimachinery::selector::parse_label_selector(s)
            .map(Some)
            .map_err(|e| ApiError::bad_request(e.to_string())),
        None => Ok(None),
    }
}

fn labels(obj: &Value) -> serde_json::Map<String, Value> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

pub async fn handle(
    api: &Arc<Api>,
    method: &Method,
    r: &ResourceRequest,
    query: &HashMap<String, String>,
) -> ApiResult<Response<Body>> {
    if method != Method::GET {
        return Err(ApiError::method_not_supported(
            GROUP,
            &r.resource,
            method.as_str(),
        ));
    }
    if r.version != VERSION || r.subresource.is_some() {
        return Err(ApiError::no_route());
    }
    let selector = label_filter(query)?;
    let stamp = now();
    match r.resource.as_str() {
        "nodes" => {
            if r.namespace.is_some() {
                return Err(ApiError::no_route());
            }
            let mut items = Vec::new();
            for (node, s) in summaries(api, r.name.as_deref()).await {
                let l = labels(&node);
                if selector.as_ref().is_some_and(|sel| !sel.matches(&l)) {
                    continue;
                }
                items.push(json!({
                    "metadata": {"name": node.pointer("/metadata/name"), "creationTimestamp": stamp, "labels": l},
                    "timestamp": stamp,
                    "window": WINDOW,
                    "usage": usage(num(&s, "/node/cpu/usageNanoCores"), num(&s, "/node/memory/workingSetBytes")),
                }));
            }
            respond(r, items, "NodeMetrics", "nodes")
        }
        "pods" => {
            let mut items = Vec::new();
            let node = match (&r.namespace, &r.name) {
                // One pod: ask only its node.
                (Some(ns), Some(name)) => api
                    .cache
                    .get(&format!("/registry/pods/{ns}/{name}"))
                    .and_then(|o| serde_json::from_slice::<Value>(&o.json).ok())
                    .and_then(|p| {
                        p.pointer("/spec/nodeName")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    }),
                _ => None,
            };
            if r.name.is_some() && node.is_none() {
                return Err(ApiError::not_found(
                    GROUP,
                    "pods",
                    r.name.as_deref().unwrap_or(""),
                ));
            }
            for (_, s) in summaries(api, node.as_deref()).await {
                for p in s
                    .get("pods")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ns = p
                        .pointer("/podRef/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let name = p
                        .pointer("/podRef/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if r.namespace.as_deref().is_some_and(|n| n != ns)
                        || r.name.as_deref().is_some_and(|n| n != name)
                    {
                        continue;
                    }
                    // Only pods the API still has, with their labels for selectors.
                    let Some(obj) = api.cache.get(&format!("/registry/pods/{ns}/{name}")) else {
                        continue;
                    };
                    if selector
                        .as_ref()
                        .is_some_and(|sel| !sel.matches(&obj.labels))
                    {
                        continue;
                    }
                    let containers: Vec<Value> = p
                        .get("containers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            json!({
                                "name": c.get("name"),
                                "usage": usage(num(c, "/cpu/usageNanoCores"), num(c, "/memory/workingSetBytes")),
                            })
                        })
                        .collect();
                    items.push(json!({
                        "metadata": {"name": name, "namespace": ns, "creationTimestamp": stamp, "labels": obj.labels},
                        "timestamp": stamp,
                        "window": WINDOW,
                        "containers": containers,
                    }));
                }
            }
            respond(r, items, "PodMetrics", "pods")
        }
        _ => Err(ApiError::no_route()),
    }
}

fn respond(
    r: &ResourceRequest,
    mut items: Vec<Value>,
    kind: &str,
    plural: &str,
) -> ApiResult<Response<Body>> {
    for i in &mut items {
        i["kind"] = json!(kind);
        i["apiVersion"] = json!(GROUP_VERSION);
    }
    if let Some(name) = &r.name {
        return items
            .into_iter()
            .next()
            .map(|i| body::json_response(200, &i))
            .ok_or_else(|| ApiError::not_found(GROUP, plural, name));
    }
    items.sort_by(|a, b| {
        let k = |v: &Value| {
            (
                v.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                v.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        };
        k(a).cmp(&k(b))
    });
    let list = json!({
        "kind": format!("{kind}List"),
        "apiVersion": GROUP_VERSION,
        "metadata": {},
        "items": items,
    });
    Ok(body::json_response(200, &list))
}
