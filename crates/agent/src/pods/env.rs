//! A container's environment as upstream's kubelet builds it: `envFrom` first (ConfigMaps
//! and Secrets, with a prefix), then `env` in order (literal values with `$(VAR)` expanded
//! against what is defined so far, or `valueFrom` a ConfigMap or Secret key, a pod field or
//! a container resource), and `$(VAR)` expanded in command and args against the result.
//! The objects are fetched first ([`fetch`]); resolving them is pure ([`resolve`]).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Node, Pod, Secret};
use kube::Api;

use super::downward;

/// `$(NAME)` references replaced by `lookup`'s value; an unknown name stays as written,
/// `$$` is a literal `$`, and any other `$` is kept.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if after.is_empty() {
            out.push('$');
            rest = after;
            break;
        }
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    // An unclosed reference is kept as written.
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            let mut chars = after.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out.push_str(rest);
    out
}

/// Expands each string against the final environment (command, args, subPathExpr).
pub fn expand_all(items: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    items.iter().map(|s| expand(s, &lookup)).collect()
}

/// The ConfigMaps and Secrets a container's env refers to, by name: None when not found.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
    pub secrets: BTreeMap<String, Option<Secret>>,
}

/// The names a container's env and envFrom refer to.
pub fn referenced(c: &Container) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut cms, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    for f in c.env_from.iter().flatten() {
        cms.extend(f.config_map_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(f.secret_ref.as_ref().map(|r| r.name.clone()));
    }
    for e in c.env.iter().flatten() {
        let Some(from) = &e.value_from else { continue };
        cms.extend(from.config_map_key_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(from.secret_key_ref.as_ref().map(|r| r.name.clone()));
    }
    (cms, secrets)
}

/// upstream's kubelet caches report a missing object with the singular resource name.
pub fn not_found(kind: &str, name: &str) -> String {
    format!("{kind} {name:?} not found")
}

/// GETs an object; Ok(None) when it does not exist.
pub async fn get_opt<K>(api: &Api<K>, kind: &str, name: &str) -> Result<Option<K>, String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(o) => Ok(Some(o)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(format!(
            "failed to get {kind} {name:?}: {}",
            api_message(&e)
        )),
    }
}

/// The API's own words for a failed call (its Status message), else the client's error.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        e => e.to_string(),
    }
}

/// Fetches what `c`'s env refers to.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    c: &Container,
) -> Result<Objects, String> {
    let (cms, secrets) = referenced(c);
    let mut objs = Objects::default();
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for name in cms {
        let o = get_opt(&cm_api, "configmap", &name).await?;
        objs.config_maps.insert(name, o);
    }
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for name in secrets {
        let o = get_opt(&secret_api, "secret", &name).await?;
        objs.secrets.insert(name, o);
    }
    Ok(objs)
}

/// Whether a container needs the node's allocatable (a `resourceFieldRef` to a limit).
pub fn needs_allocatable(c: &Container) -> bool {
    c.env.iter().flatten().any(|e| {
        e.value_from
            .as_ref()
            .and_then(|f| f.resource_field_ref.as_ref())
            .is_some_and(|r| r.resource.starts_with("limits."))
    })
}

/// The node's allocatable resources (empty when the node cannot be read).
pub async fn allocatable(
    client: &kube::Client,
    node: &str,
) -> BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    let api: Api<Node> = Api::all(client.clone());
    match api.get(node).await {
        Ok(n) => n.status.and_then(|s| s.allocatable).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the node's allocatable");
            BTreeMap::new()
        }
    }
}

fn set(env: &mut Vec<(String, String)>, k: String, v: String) {
    match env.iter_mut().find(|(name, _)| *name == k) {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    }
}

/// The container's environment, or upstream's CreateContainerConfigError message.
pub fn resolve(
    pod: &Pod,
    c: &Container,
    objs: &Objects,
    facts: &downward::Facts,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env: Vec<(String, String)> = Vec::new();
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        if let Some(r) = &from.config_map_ref {
            match objs.config_maps.get(&r.name).cloned().flatten() {
                Some(cm) => {
                    for (k, v) in cm.data.unwrap_or_default() {
                        set(&mut env, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(not_found("configmap", &r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match objs.secrets.get(&r.name).cloned().flatten() {
                Some(s) => {
                    for (k, v) in s.data.unwrap_or_default() {
                        let v = String::from_utf8_lossy(&v.0).into_owned();
                        set(&mut env, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(not_found("secret", &r.name)),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let literal = e.value.clone().unwrap_or_default();
        let value = if !literal.is_empty() {
            let snapshot = env.clone();
            let lookup = |name: &str| {
                snapshot
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            expand(&literal, &lookup)
        } else if let Some(from) = &e.value_from {
            if let Some(r) = &from.field_ref {
                downward::field(pod, &r.field_path, facts)?
            } else if let Some(r) = &from.resource_field_ref {
                downward::resource(
                    pod,
                    c,
                    r.container_name.as_deref(),
                    &r.resource,
                    r.divisor.as_ref(),
                    facts,
                )?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                let Some(cm) = objs.config_maps.get(&r.name).cloned().flatten() else {
                    if optional {
                        continue;
                    }
                    return Err(not_found("configmap", &r.name));
                };
                match cm.data.unwrap_or_default().remove(&r.key) {
                    Some(v) => v,
                    None if optional => continue,
                    None => {
                        return Err(format!(
                            "couldn't find key {} in ConfigMap {ns}/{}",
                            r.key, r.name
                        ))
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                let Some(s) = objs.secrets.get(&r.name).cloned().flatten() else {
                    if optional {
                        continue;
                    }
                    return Err(not_found("secret", &r.name));
                };
                match s.data.unwrap_or_default().remove(&r.key) {
                    Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                    None if optional => continue,
                    None => {
                        return Err(format!(
                            "couldn't find key {} in Secret {ns}/{}",
                            r.key, r.name
                        ))
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut env, e.name.clone(), value);
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let vars = [("A", "1"), ("B", "two"), ("EMPTY", "")];
        let lookup = |n: &str| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        };
        let cases = [
            ("plain", "plain"),
            ("$(A)", "1"),
            ("x$(A)y$(B)z", "x1ytwoz"),
            ("$(MISSING)", "$(MISSING)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$1"),
            ("$$", "$"),
            ("$", "$"),
            ("a$", "a$"),
            ("$A", "$A"),
            ("$(A", "$(A"),
            ("$()", "$()"),
            ("$(EMPTY)x", "x"),
            ("é$(A)é", "é1é"),
            ("$é", "$é"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &lookup), want, "{input}");
        }
    }

    fn objects() -> Objects {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cfg"}, "data": {"color": "blue", "size": "L"},
        }))
        .unwrap();
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="},
        }))
        .unwrap();
        Objects {
            config_maps: [("cfg".to_string(), Some(cm)), ("gone".to_string(), None)].into(),
            secrets: [("s".to_string(), Some(secret)), ("nope".to_string(), None)].into(),
        }
    }

    fn check(env: serde_json::Value, env_from: serde_json::Value) -> String {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "env": env, "envFrom": env_from}]},
        }))
        .unwrap();
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        let facts = downward::Facts {
            host_ip: "192.0.2.2".into(),
            pod_ip: "10.42.0.9".into(),
            ..Default::default()
        };
        match resolve(&pod, &c, &objects(), &facts) {
            Ok(env) => env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn resolution() {
        use serde_json::json;
        let cases = [
            (
                json!([{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)-$(C)"}, {"name": "C", "value": "3"}]),
                json!([]),
                "A=1 B=1-$(C) C=3",
            ),
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}}]),
                json!([]),
                "X=blue",
            ),
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey"}}}]),
                json!([]),
                "error: couldn't find key nokey in ConfigMap default/cfg",
            ),
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey", "optional": true}}}]),
                json!([]),
                "",
            ),
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}]),
                json!([]),
                "error: configmap \"gone\" not found",
            ),
            (
                json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}}]),
                json!([]),
                "",
            ),
            (
                json!([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]),
                json!([]),
                "P=hunter2",
            ),
            (
                json!([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "user"}}}]),
                json!([]),
                "error: couldn't find key user in Secret default/s",
            ),
            (
                json!([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]),
                json!([]),
                "error: secret \"nope\" not found",
            ),
            (
                json!([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}, {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]),
                json!([]),
                "N=p IP=10.42.0.9 NODE=n1",
            ),
            (
                json!([]),
                json!([{"configMapRef": {"name": "cfg"}}, {"prefix": "S_", "secretRef": {"name": "s"}}]),
                "color=blue size=L S_password=hunter2",
            ),
            (
                json!([{"name": "color", "value": "red"}, {"name": "Z", "value": "$(size)"}]),
                json!([{"configMapRef": {"name": "cfg"}}]),
                "color=red size=L Z=L",
            ),
            (
                json!([]),
                json!([{"configMapRef": {"name": "gone"}}]),
                "error: configmap \"gone\" not found",
            ),
            (
                json!([]),
                json!([{"configMapRef": {"name": "gone", "optional": true}}, {"secretRef": {"name": "nope", "optional": true}}]),
                "",
            ),
            (json!([{"name": "E"}]), json!([]), "E="),
        ];
        for (env, env_from, want) in cases {
            let got = check(env.clone(), env_from.clone());
            assert_eq!(got, want, "env={env} envFrom={env_from}");
        }
    }

    #[test]
    fn command_expansion() {
        let env = vec![("A".to_string(), "1".to_string())];
        let args = [
            "echo".to_string(),
            "$(A)".into(),
            "$$(A)".into(),
            "$(B)".into(),
        ];
        assert_eq!(expand_all(&args, &env), ["echo", "1", "$(A)", "$(B)"]);
    }
}
