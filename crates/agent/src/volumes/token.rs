//! Service account tokens for projected volumes: requested through the TokenRequest API,
//! bound to the pod, and requested again once 80% of their lifetime has passed (or after
//! 24 hours), as upstream's token manager does.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::PostParams;
use kube::Api;

/// upstream's default and smallest expirationSeconds.
pub const DEFAULT_EXPIRATION: i64 = 3600;
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub token: String,
    pub issued: SystemTime,
    pub expires: SystemTime,
}

/// Whether a cached token must be requested again at `now`.
pub fn needs_refresh(t: &Token, now: SystemTime) -> bool {
    let ttl = t.expires.duration_since(t.issued).unwrap_or_default();
    let age = now.duration_since(t.issued).unwrap_or_default();
    now >= t.expires || age >= ttl.mul_f64(0.8) || age >= MAX_AGE
}

/// The request a kubelet makes: the pod's service account, bound to the pod.
pub fn request(pod: &Pod, audience: Option<&str>, expiration: Option<i64>) -> TokenRequest {
    TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(
                audience
                    .filter(|a| !a.is_empty())
                    .map(|a| vec![a.to_string()])
                    .unwrap_or_default(),
            ),
            expiration_seconds: Some(expiration.unwrap_or(DEFAULT_EXPIRATION)),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Asks the API for a token; the error text is upstream's ("failed to fetch token: ...").
pub async fn fetch(
    client: &kube::Client,
    pod: &Pod,
    audience: Option<&str>,
    expiration: Option<i64>,
) -> Result<Token, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let req = request(pod, audience, expiration);
    let issued = SystemTime::now();
    let resp = api
        .create_token_request(&sa, &PostParams::default(), &req)
        .await
        .map_err(|e| {
            format!(
                "failed to fetch token: {}",
                crate::pods::env::api_message(&e)
            )
        })?;
    let status = resp
        .status
        .ok_or_else(|| "failed to fetch token: the response has no status".to_string())?;
    let expires = status
        .expiration_timestamp
        .map(|t| SystemTime::from(t.0))
        .unwrap_or_else(|| {
            issued + Duration::from_secs(expiration.unwrap_or(DEFAULT_EXPIRATION) as u64)
        });
    Ok(Token {
        token: status.token.unwrap_or_default(),
        issued,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_times() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = Duration::from_secs;
        let hour = Token {
            token: "x".into(),
            issued: t0,
            expires: t0 + s(3600),
        };
        let week = Token {
            expires: t0 + s(7 * 24 * 3600),
            ..hour.clone()
        };
        let cases = [
            (&hour, s(0), false),
            (&hour, s(2879), false),
            (&hour, s(2880), true),
            (&hour, s(4000), true),
            (&week, s(23 * 3600), false),
            (&week, s(24 * 3600), true),
        ];
        for (t, after, want) in cases {
            assert_eq!(needs_refresh(t, t0 + after), want, "{after:?}");
        }
    }

    #[test]
    fn request_shape() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
            "spec": {"containers": []},
        }))
        .unwrap();
        let got = serde_json::to_value(request(&pod, Some("vault"), None)).unwrap();
        assert_eq!(
            got["spec"],
            serde_json::json!({
                "audiences": ["vault"],
                "expirationSeconds": 3600,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"},
            })
        );
    }
}
