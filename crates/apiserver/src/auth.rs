//! Who is calling: the identity in a client certificate that chains to the cluster CA
//! (rustls has verified the chain), else a bearer token (service account tokens,
//! bootstrap tokens and `--token-auth-file` tokens, `bearer.rs`). What the caller may do is `crate::authz`'s to decide,
//! right after this.

pub mod bearer;
pub mod bootstrap_token;
pub mod client_cert;
pub mod join;
pub mod jwt;
pub mod keys;
pub mod legacy_token;
pub mod service_account;
pub mod token_file;
pub mod verified_cache;

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use serde_json::json;

use crate::body::{self, Body};
use crate::error::ApiError;
use crate::Api;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..UserInfo::default()
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }

    /// CN is the user, each O a group, as upstream's x509 authenticator reads them.
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<UserInfo> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let subject = parsed.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        groups.push("system:authenticated".into());
        Some(UserInfo {
            name,
            groups,
            ..UserInfo::default()
        })
    }
}

/// What this server issues and accepts tokens with.
pub struct Authn {
    pub key: jwt::SigningKey,
    /// `https://kubernetes.default.svc.<cluster domain>`, as kubeadm configures upstream.
    pub issuer: String,
    /// The API server's audiences: tokens for anyone else are refused.
    pub audiences: Vec<String>,
    /// The cluster CA (PEM), served at `/cacerts` for joining agents.
    pub ca_pem: String,
    /// `--token-auth-file`: token → user.
    pub static_tokens: std::collections::HashMap<String, UserInfo>,
    /// Service-account tokens whose signature and claims were checked lately.
    pub verified: verified_cache::VerifiedCache,
}

impl Authn {
    pub fn new(key: jwt::SigningKey, cluster_domain: &str, ca_pem: String) -> Authn {
        let issuer = format!("https://kubernetes.default.svc.{cluster_domain}");
        Authn {
            key,
            audiences: vec![issuer.clone()],
            issuer,
            ca_pem,
            static_tokens: Default::default(),
            verified: Default::default(),
        }
    }
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Upstream's answer to a credential that does not authenticate.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// Replaces an anonymous caller by the user its bearer token names; a token that does not
/// authenticate ends the request with 401. A client certificate wins over a token, as the
/// first authenticator to succeed does upstream.
pub async fn authenticate_request(
    api: &Api,
    mut req: http::Request<hyper::body::Incoming>,
) -> Result<http::Request<hyper::body::Incoming>, http::Response<Body>> {
    if req
        .extensions()
        .get::<client_cert::InvalidClientCert>()
        .is_some()
    {
        return Err(body::error_response(&unauthorized()));
    }
    let anonymous = req
        .extensions()
        .get::<Arc<UserInfo>>()
        .is_none_or(|u| u.is_anonymous());
    if !anonymous {
        return Ok(req);
    }
    let Some(token) = bearer::bearer(req.headers()).map(str::to_string) else {
        return Ok(req);
    };
    match bearer::authenticate(api, &token, now_unix(), &api.authn.audiences).await {
        Ok(user) => {
            req.extensions_mut().insert(Arc::new(user));
            Ok(req)
        }
        Err(why) => {
            tracing::debug!(%why, path = %req.uri().path(), "bearer token refused");
            Err(body::error_response(&unauthorized()))
        }
    }
}

/// Paths anyone may read: the CA for joining agents, and OIDC discovery for service
/// account token verifiers.
pub fn public_route(api: &Api, path: &str) -> Option<http::Response<Body>> {
    let a = &api.authn;
    match path {
        "/cacerts" => Some(body::bytes_response(200, "text/plain", a.ca_pem.clone())),
        "/.well-known/openid-configuration" => Some(body::json_response(
            200,
            &json!({
                "issuer": a.issuer,
                "jwks_uri": format!("https://{}/openid/v1/jwks", api.server_address),
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
            }),
        )),
        "/openid/v1/jwks" => Some(body::bytes_response(
            200,
            "application/jwk-set+json",
            json!({"keys": [a.key.jwk()]}).to_string(),
        )),
        _ => None,
    }
}
