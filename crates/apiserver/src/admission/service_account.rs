//! Upstream's ServiceAccount admission plugin: a pod runs as `default` unless it names an
//! account, the account must exist, and unless automounting is switched off (pod first,
//! then account) every container gets the projected `kube-api-access-*` volume: a bound
//! token, the cluster CA and the namespace, at /var/run/secrets/kubernetes.io/serviceaccount.

use serde_json::{json, Value};

use crate::rest::Scope;

pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// What the kubelet-facing token asks for: a little over an hour (upstream's 3607 s, odd
/// on purpose so such tokens are recognisable).
const TOKEN_SECONDS: i64 = 3607;

/// The account the pod names (or `default`), written to both fields as upstream does.
pub fn default_name(pod: &mut Value) -> String {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return "default".into();
    };
    let named = [spec.get("serviceAccountName"), spec.get("serviceAccount")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(named));
    spec.insert("serviceAccount".into(), json!(named));
    named
}

fn automount(pod: &Value, sa: &Value) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            sa.get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true)
}

fn volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    })
}

/// Adds the token volume and its mounts (pure; `suffix` makes the volume's name).
pub fn mount_token(pod: &mut Value, sa: &Value, suffix: &str) {
    if !automount(pod, sa) {
        return;
    }
    let name = format!("kube-api-access-{suffix}");
    let mount = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let mounts = c
                .as_object_mut()
                .map(|c| c.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(mounts) = mounts.and_then(Value::as_array_mut) else {
                continue;
            };
            // A mount of its own at the path wins (e.g. a hand-made token volume).
            if mounts
                .iter()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH))
            {
                continue;
            }
            mounts.push(mount.clone());
            needed = true;
        }
    }
    if needed {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(v) = volumes.as_array_mut() {
            v.push(volume(&name));
        }
    }
}

/// The account from the watch cache, else the store; `default` is retried for a while,
/// since the controller creates it just after its namespace (upstream does the same).
async fn lookup(scope: &Scope<'_>, ns: &str, name: &str) -> Option<Value> {
    let key = format!("/registry/serviceaccounts/{ns}/{name}");
    if let Some(o) = scope.api.cache.get(&key) {
        return Some(o.value());
    }
    let attempts = if name == "default" { 10 } else { 1 };
    for i in 0..attempts {
        if i > 0 {
            use rand::Rng;
            let ms = rand::rng().random_range(100..200);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Ok((Some(kv), _)) = scope.api.store.get(&key).await {
            return serde_json::from_slice(&kv.value).ok();
        }
    }
    None
}

/// The plugin on pod create: the reason to refuse, if any.
pub async fn admit(scope: &Scope<'_>, pod: &mut Value) -> Result<(), String> {
    let name = default_name(pod);
    let ns = scope.namespace.clone().unwrap_or_default();
    let Some(sa) = lookup(scope, &ns, &name).await else {
        return Err(format!(
            "error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found"
        ));
    };
    mount_token(pod, &sa, &crate::objects::random_suffix());
    Ok(())
}

/// A new `kubernetes.io/service-account-token` Secret for an existing account gets its
/// legacy token (see `auth::legacy_token`). Without the account, or without a name yet, it
/// is stored as given, with no token.
pub async fn fill_legacy_token(scope: &Scope<'_>, secret: &mut Value) -> Result<(), String> {
    use crate::auth::legacy_token::{self, Legacy};
    if secret.get("type").and_then(Value::as_str) != Some(legacy_token::SECRET_TYPE) {
        return Ok(());
    }
    let ns = scope.namespace.clone().unwrap_or_default();
    let text = |p: &str| {
        secret
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = text("/metadata/name");
    let account = secret
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(legacy_token::NAME_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() || account.is_empty() {
        return Ok(());
    }
    let Some(sa) = lookup(scope, &ns, &account).await else {
        return Ok(());
    };
    let legacy = Legacy {
        namespace: ns,
        secret: name,
        account,
        account_uid: sa
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    let authn = &scope.api.authn;
    let token = authn
        .key
        .sign(&legacy_token::claims(&legacy))
        .map_err(|e| format!("signing the service account token: {e}"))?;
    if secret.pointer("/metadata/namespace").is_none() {
        if let Some(meta) = secret.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), json!(legacy.namespace));
        }
    }
    legacy_token::fill(secret, &sa, &token, &authn.ca_pem);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            (json!({"spec": {}}), "default"),
            (
                json!({"spec": {"serviceAccountName": "builder"}}),
                "builder",
            ),
            (json!({"spec": {"serviceAccount": "legacy"}}), "legacy"),
            (json!({"spec": {"serviceAccountName": ""}}), "default"),
        ];
        for (mut pod, want) in cases {
            assert_eq!(default_name(&mut pod), want);
            assert_eq!(pod["spec"]["serviceAccountName"], want);
            assert_eq!(pod["spec"]["serviceAccount"], want);
        }
    }

    /// (pod, account) → the mount paths per container and the volumes' names.
    #[test]
    fn token_volume_cases() {
        let c = |name: &str| json!({"name": name, "image": "x"});
        let own = json!({"name": "own", "image": "x", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]});
        let cases = [
            ("plain", json!({"spec": {"containers": [c("a")]}}), json!({}), "a:kube-api-access-abcde | kube-api-access-abcde"),
            (
                "init and app containers",
                json!({"spec": {"initContainers": [c("i")], "containers": [c("a"), c("b")]}}),
                json!({}),
                "i:kube-api-access-abcde a:kube-api-access-abcde b:kube-api-access-abcde | kube-api-access-abcde",
            ),
            ("pod opts out", json!({"spec": {"automountServiceAccountToken": false, "containers": [c("a")]}}), json!({}), "a: | "),
            ("account opts out", json!({"spec": {"containers": [c("a")]}}), json!({"automountServiceAccountToken": false}), "a: | "),
            (
                "pod overrides the account",
                json!({"spec": {"automountServiceAccountToken": true, "containers": [c("a")]}}),
                json!({"automountServiceAccountToken": false}),
                "a:kube-api-access-abcde | kube-api-access-abcde",
            ),
            ("own mount at the path", json!({"spec": {"containers": [own.clone()]}}), json!({}), "own:mine | "),
            (
                "own mount in one container only",
                json!({"spec": {"containers": [own, c("b")]}, "volumes": []}),
                json!({}),
                "own:mine b:kube-api-access-abcde | kube-api-access-abcde",
            ),
        ];
        for (what, mut pod, sa, want) in cases {
            mount_token(&mut pod, &sa, "abcde");
            let spec = &pod["spec"];
            let mut parts = Vec::new();
            for list in ["initContainers", "containers"] {
                for c in spec[list].as_array().into_iter().flatten() {
                    let mounts: Vec<&str> = c["volumeMounts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["name"].as_str())
                        .collect();
                    parts.push(format!(
                        "{}:{}",
                        c["name"].as_str().unwrap_or(""),
                        mounts.join(",")
                    ));
                }
            }
            let vols: Vec<&str> = spec["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["name"].as_str())
                .collect();
            assert_eq!(
                format!("{} | {}", parts.join(" "), vols.join(",")),
                want,
                "{what}"
            );
        }
        let mut pod = json!({"spec": {"containers": [c("a")]}});
        mount_token(&mut pod, &json!({}), "abcde");
        expect_test::expect![[r#"{"name":"kube-api-access-abcde","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}]}}"#]]
        .assert_eq(&pod["spec"]["volumes"][0].to_string());
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
            true
        );
    }
}
