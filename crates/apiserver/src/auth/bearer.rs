//! Bearer tokens: service account tokens (ES256 JWTs this server signed) and bootstrap
//! tokens. A token that is presented and fails is a 401, as upstream answers; the objects
//! a token names are looked up in the watch cache, then in the store (an object created a
//! moment ago may not be cached yet).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{bootstrap_token, legacy_token, service_account, UserInfo};
use crate::Api;

/// The `Authorization: Bearer` token of a request, if any.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn lookup(
    api: &Api,
    group: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<Value> {
    let info = registry::catalog::find(group, "v1", plural)?;
    let key = match ns {
        Some(ns) => format!("/registry/{}/{ns}/{name}", info.storage_prefix),
        None => format!("/registry/{}/{name}", info.storage_prefix),
    };
    if let Some(o) = api.cache.get(&key) {
        return Some(o.value());
    }
    let (kv, _) = api.store.get(&key).await.ok()?;
    serde_json::from_slice(&kv?.value).ok()
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn live(obj: Option<Value>, want_uid: &str, what: &str) -> Result<(), String> {
    match obj {
        None => Err(format!("{what} not found")),
        Some(o) if uid(&o) != want_uid => Err(format!("{what} uid does not match the token")),
        Some(o) if o.pointer("/metadata/deletionTimestamp").is_some() => {
            Err(format!("{what} is being deleted"))
        }
        Some(_) => Ok(()),
    }
}

/// A legacy token Secret's token: valid while its account (same uid) and its Secret (still
/// holding this very token) exist.
async fn legacy(api: &Api, token: &str) -> Result<UserInfo, String> {
    let claims = api.authn.key.verify(token).map_err(|e| e.to_string())?;
    let l = legacy_token::parse(&claims).ok_or("token lacks the service account claims")?;
    let ns = l.namespace.as_str();
    live(
        lookup(api, "", "serviceaccounts", Some(ns), &l.account).await,
        &l.account_uid,
        "service account",
    )?;
    let secret = lookup(api, "", "secrets", Some(ns), &l.secret)
        .await
        .ok_or("token secret not found")?;
    let kept = secret
        .pointer("/data/token")
        .and_then(Value::as_str)
        .and_then(|t| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(t).ok()
        });
    if kept.as_deref() != Some(token.as_bytes()) {
        return Err("token does not match the secret's".into());
    }
    Ok(UserInfo {
        name: format!("system:serviceaccount:{ns}:{}", l.account),
        uid: l.account_uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        ..UserInfo::default()
    })
}

/// The user a bearer token authenticates for `audiences`, or why it does not.
pub async fn authenticate(
    api: &Api,
    token: &str,
    now: i64,
    audiences: &[String],
) -> Result<UserInfo, String> {
    if let Some(user) = api.authn.static_tokens.get(token) {
        return Ok(user.clone());
    }
    if let Some((id, secret)) = bootstrap_token::split_bootstrap(token) {
        let obj = lookup(
            api,
            "",
            "secrets",
            Some("kube-system"),
            &format!("bootstrap-token-{id}"),
        )
        .await
        .ok_or("no such bootstrap token")?;
        let (name, groups) = bootstrap_token::authenticate(&obj, id, secret, now)?;
        return Ok(UserInfo {
            name,
            groups,
            ..UserInfo::default()
        });
    }
    let a = &api.authn;
    // Only tokens for the API server's own audiences are cached (TokenReview may ask
    // about others).
    let cacheable = audiences == a.audiences.as_slice();
    let v = match cacheable.then(|| a.verified.get(token, now)).flatten() {
        Some(v) => v,
        None => {
            let v = match service_account::verify(&a.key, token, &a.issuer, audiences, now) {
                Ok(v) => v,
                Err(service_account::TokenError::Issuer(iss)) if iss == legacy_token::ISSUER => {
                    return legacy(api, token).await;
                }
                Err(e) => return Err(e.to_string()),
            };
            if cacheable {
                a.verified.put(token, &v);
            }
            v
        }
    };
    let ns = v.namespace.as_str();
    let sa = &v.service_account;
    live(
        lookup(api, "", "serviceaccounts", Some(ns), &sa.name).await,
        &sa.uid,
        "service account",
    )?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(p) = &v.pod {
        live(
            lookup(api, "", "pods", Some(ns), &p.name).await,
            &p.uid,
            "bound pod",
        )?;
        extra.insert(
            "authentication.kubernetes.io/pod-name".into(),
            vec![p.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid".into(),
            vec![p.uid.clone()],
        );
    }
    if let Some(s) = &v.secret {
        live(
            lookup(api, "", "secrets", Some(ns), &s.name).await,
            &s.uid,
            "bound secret",
        )?;
    }
    if let Some(n) = &v.node {
        // A node named through a pod binding is informative; only a direct node binding
        // must still exist.
        if v.pod.is_none() {
            live(
                lookup(api, "", "nodes", None, &n.name).await,
                &n.uid,
                "bound node",
            )?;
        }
        extra.insert(
            "authentication.kubernetes.io/node-name".into(),
            vec![n.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/node-uid".into(),
            vec![n.uid.clone()],
        );
    }
    if let Some(id) = &v.id {
        extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={id}")],
        );
    }
    Ok(UserInfo {
        name: format!("system:serviceaccount:{ns}:{}", sa.name),
        uid: sa.uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        extra,
    })
}
