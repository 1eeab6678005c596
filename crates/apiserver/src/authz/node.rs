//! The Node authorizer: a node agent (`system:node:<name>` in `system:nodes`) may read what
//! its pods use and write what it owns, as upstream's Node authorizer (the relationships
//! are found by scanning the pods bound to the node in the watch cache, not kept in a
//! graph). skiff's agent also runs the service proxy, network policy, cluster DNS and
//! ingress controllers under the node's identity, so nodes may also read the objects those
//! watch cluster-wide (services, endpoint slices, namespaces, network policies, ingresses
//! and Gateway API kinds, and Secrets only as a `type=kubernetes.io/tls` list or watch),
//! publish their own kube-dns EndpointSlice, and read all pods and PersistentVolumes.

use serde_json::Value;

use super::{storage_prefix, Attributes};
use crate::auth::UserInfo;
use crate::Api;

pub const NODES_GROUP: &str = "system:nodes";
const LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Not this authorizer's to allow; RBAC may still. The reason explains a refusal.
    NoOpinion(String),
}

pub fn node_name(user: &UserInfo) -> Option<&str> {
    if !user.groups.iter().any(|g| g == NODES_GROUP) {
        return None;
    }
    user.name
        .strip_prefix("system:node:")
        .filter(|n| !n.is_empty())
}

/// The objects a pod uses, as the names the node may read for it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodRefs {
    pub secrets: Vec<String>,
    pub configmaps: Vec<String>,
    pub claims: Vec<String>,
    pub service_account: String,
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn each<'a>(v: &'a Value, path: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(path)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// What a pod references (pure): volumes (projected sources included), env and envFrom of
/// every container kind, image pull secrets, its service account.
pub fn pod_refs(pod: &Value) -> PodRefs {
    let mut r = PodRefs {
        service_account: str_at(pod, "/spec/serviceAccountName")
            .unwrap_or("default")
            .to_string(),
        ..PodRefs::default()
    };
    let pod_name = str_at(pod, "/metadata/name").unwrap_or("");
    let push = |list: &mut Vec<String>, v: Option<&str>| {
        if let Some(v) = v {
            if !list.iter().any(|x| x == v) {
                list.push(v.to_string());
            }
        }
    };
    for s in each(pod, "/spec/imagePullSecrets") {
        push(&mut r.secrets, str_at(s, "/name"));
    }
    for vol in each(pod, "/spec/volumes") {
        push(&mut r.secrets, str_at(vol, "/secret/secretName"));
        push(&mut r.configmaps, str_at(vol, "/configMap/name"));
        push(
            &mut r.claims,
            str_at(vol, "/persistentVolumeClaim/claimName"),
        );
        if vol.get("ephemeral").is_some() {
            if let Some(v) = str_at(vol, "/name") {
                push(&mut r.claims, Some(&format!("{pod_name}-{v}")));
            }
        }
        for src in each(vol, "/projected/sources") {
            push(&mut r.secrets, str_at(src, "/secret/name"));
            push(&mut r.configmaps, str_at(src, "/configMap/name"));
        }
    }
    for kind in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each(pod, &format!("/spec/{kind}")) {
            for e in each(c, "/env") {
                push(&mut r.secrets, str_at(e, "/valueFrom/secretKeyRef/name"));
                push(
                    &mut r.configmaps,
                    str_at(e, "/valueFrom/configMapKeyRef/name"),
                );
            }
            for e in each(c, "/envFrom") {
                push(&mut r.secrets, str_at(e, "/secretRef/name"));
                push(&mut r.configmaps, str_at(e, "/configMapRef/name"));
            }
        }
    }
    r
}

/// The name a list or watch is narrowed to by `metadata.name=<x>` (as the kubelet watches
/// single Secrets and ConfigMaps).
fn selected_name(field_selector: &str) -> Option<&str> {
    field_selector
        .split(',')
        .find_map(|r| r.trim().strip_prefix("metadata.name="))
}

fn is_read(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// Kinds nodes may read cluster-wide (the proxy, DNS, network policy and ingress loops).
fn readable_everywhere(a: &Attributes) -> bool {
    match a.api_group.as_str() {
        "" => matches!(
            a.resource.as_str(),
            "nodes" | "pods" | "services" | "endpoints" | "namespaces" | "persistentvolumes"
        ),
        "discovery.k8s.io" => a.resource == "endpointslices",
        "networking.k8s.io" => matches!(
            a.resource.as_str(),
            "networkpolicies" | "ingresses" | "ingressclasses"
        ),
        "gateway.networking.k8s.io" => true,
        _ => false,
    }
}

/// The namespace's pods bound to `node`. The cached JSON is compact, so a byte search for
/// the `nodeName` field skips parsing the other nodes' pods (an agent asks this for every
/// Secret, ConfigMap and token its pods use).
fn pods_on<'a>(api: &Api, node: &'a str, namespace: &str) -> impl Iterator<Item = Value> + 'a {
    let (pods, _) = api
        .cache
        .list(&format!("{}{namespace}/", storage_prefix("", "pods")));
    let needle = format!("\"nodeName\":{}", Value::String(node.to_string())).into_bytes();
    pods.into_iter()
        .filter(move |p| p.json.windows(needle.len()).any(|w| w == needle.as_slice()))
        .map(|p| p.value())
        .filter(move |p| str_at(p, "/spec/nodeName") == Some(node))
}

fn pod_on(api: &Api, node: &str, namespace: &str, name: &str) -> bool {
    api.cache
        .get(&format!("{}{namespace}/{name}", storage_prefix("", "pods")))
        .is_some_and(|p| str_at(&p.value(), "/spec/nodeName") == Some(node))
}

fn referenced(api: &Api, node: &str, a: &Attributes, name: &str) -> bool {
    pods_on(api, node, &a.namespace).any(|pod| {
        let r = pod_refs(&pod);
        let list = match a.resource.as_str() {
            "secrets" => &r.secrets,
            "configmaps" => &r.configmaps,
            "persistentvolumeclaims" => &r.claims,
            _ => return r.service_account == name,
        };
        list.iter().any(|x| x == name)
    })
}

fn volume_pinned_here(api: &Api, node: &str, name: &str) -> bool {
    api.cache
        .get(&format!(
            "{}{name}",
            storage_prefix("", "persistentvolumes")
        ))
        .is_some_and(|pv| {
            pv.value()
                .pointer("/spec/nodeAffinity")
                .map(|a| a.to_string())
                .is_some_and(|s| s.contains(&format!("{node:?}")))
        })
}

pub fn authorize(api: &Api, node: &str, a: &Attributes) -> Verdict {
    if !a.resource_request {
        return Verdict::NoOpinion(String::new());
    }
    let no_relation = || {
        Verdict::NoOpinion(format!(
            "no relationship found between node '{node}' and this object"
        ))
    };
    let allow_if = |ok: bool| if ok { Verdict::Allow } else { no_relation() };
    let sub = a.subresource.as_str();
    let verb = a.verb.as_str();
    match (a.api_group.as_str(), a.resource.as_str()) {
        ("", "nodes") if sub.is_empty() && verb == "create" => Verdict::Allow,
        ("", "nodes") if matches!(verb, "update" | "patch") && matches!(sub, "" | "status") => {
            allow_if(a.name == node)
        }
        ("", "pods") if matches!(sub, "status") && matches!(verb, "get" | "update" | "patch") => {
            allow_if(pod_on(api, node, &a.namespace, &a.name))
        }
        ("", "pods") if sub.is_empty() && verb == "delete" => {
            allow_if(pod_on(api, node, &a.namespace, &a.name))
        }
        ("", "secrets") if matches!(verb, "list" | "watch") => {
            if a.field_selector
                .split(',')
                .any(|r| r.trim() == "type=kubernetes.io/tls")
            {
                return Verdict::Allow;
            }
            match selected_name(&a.field_selector) {
                Some(name) => allow_if(referenced(api, node, a, name)),
                None => no_relation(),
            }
        }
        ("", "secrets" | "configmaps" | "persistentvolumeclaims") if sub.is_empty() => {
            let name = match verb {
                "get" => Some(a.name.as_str()),
                "list" | "watch" => selected_name(&a.field_selector),
                _ => None,
            };
            match name {
                Some(name) if !name.is_empty() => allow_if(referenced(api, node, a, name)),
                _ => no_relation(),
            }
        }
        ("", "serviceaccounts")
            if (sub.is_empty() && verb == "get") || (sub == "token" && verb == "create") =>
        {
            allow_if(referenced(api, node, a, &a.name))
        }
        ("", "persistentvolumes") if sub.is_empty() && matches!(verb, "update" | "patch") => {
            allow_if(volume_pinned_here(api, node, &a.name))
        }
        ("" | "events.k8s.io", "events") if matches!(verb, "create" | "update" | "patch") => {
            Verdict::Allow
        }
        ("coordination.k8s.io", "leases") if a.namespace == LEASE_NAMESPACE => {
            allow_if(a.name == node || (a.name.is_empty() && verb == "create"))
        }
        ("discovery.k8s.io", "endpointslices")
            if a.namespace == "kube-system" && !is_read(verb) =>
        {
            allow_if(
                a.name == format!("kube-dns-{node}") || (a.name.is_empty() && verb == "create"),
            )
        }
        ("certificates.k8s.io", "certificatesigningrequests")
            if (sub.is_empty() && matches!(verb, "create" | "get" | "list" | "watch"))
                || (sub == "selfnodeclient" && verb == "create") =>
        {
            Verdict::Allow
        }
        _ if sub.is_empty() && is_read(verb) && readable_everywhere(a) => Verdict::Allow,
        _ => Verdict::NoOpinion(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn references_of_a_pod() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "a"},
            "spec": {
                "nodeName": "n1",
                "serviceAccountName": "builder",
                "imagePullSecrets": [{"name": "pull"}],
                "volumes": [
                    {"name": "s", "secret": {"secretName": "tls"}},
                    {"name": "c", "configMap": {"name": "conf"}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "proj"}}, {"configMap": {"name": "kube-root-ca.crt"}}]}},
                ],
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
                "containers": [{"name": "c", "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "tls", "key": "k"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}},
                ]}],
            },
        });
        expect![[r#"
            PodRefs {
                secrets: [
                    "pull",
                    "tls",
                    "proj",
                    "init-env",
                ],
                configmaps: [
                    "conf",
                    "kube-root-ca.crt",
                    "settings",
                ],
                claims: [
                    "data",
                    "web-scratch",
                ],
                service_account: "builder",
            }
        "#]]
        .assert_debug_eq(&pod_refs(&pod));
        let bare = pod_refs(&json!({"spec": {}}));
        assert_eq!(bare.service_account, "default");
    }

    #[test]
    fn node_identity() {
        let node = |name: &str, groups: &[&str]| UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        };
        assert_eq!(
            node_name(&node("system:node:n1", &["system:nodes"])),
            Some("n1")
        );
        assert_eq!(node_name(&node("system:node:n1", &["other"])), None);
        assert_eq!(node_name(&node("alice", &["system:nodes"])), None);
        assert_eq!(
            selected_name("metadata.namespace=a,metadata.name=x"),
            Some("x")
        );
    }
}
