//! Service account tokens: the claims upstream's token issuer writes, and the checks its
//! authenticator makes on a token's own content (signature, issuer, audience, time). The
//! objects a token names are looked up by the caller (`bearer.rs`).

use serde_json::{json, Value};

use super::jwt::{JwtError, SigningKey};

/// An object a token is bound to: name and uid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bound {
    pub name: String,
    pub uid: String,
}

/// What a new token says.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    pub namespace: String,
    pub service_account: Bound,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    pub pod: Option<Bound>,
    pub secret: Option<Bound>,
    pub node: Option<Bound>,
    /// Unix seconds.
    pub now: i64,
    /// The token's id (`jti`), shown as the credential id.
    pub id: String,
}

/// The claims of a token as upstream's issuer writes them.
pub fn claims(issuer: &str, spec: &TokenSpec) -> Value {
    let bound = |b: &Bound| json!({"name": b.name, "uid": b.uid});
    let mut k8s = json!({
        "namespace": spec.namespace,
        "serviceaccount": bound(&spec.service_account),
    });
    if let Some(p) = &spec.pod {
        k8s["pod"] = bound(p);
    }
    if let Some(s) = &spec.secret {
        k8s["secret"] = bound(s);
    }
    if let Some(n) = &spec.node {
        k8s["node"] = bound(n);
    }
    json!({
        "aud": spec.audiences,
        "exp": spec.now + spec.expiration_seconds,
        "iat": spec.now,
        "iss": issuer,
        "jti": spec.id,
        "kubernetes.io": k8s,
        "nbf": spec.now,
        "sub": format!("system:serviceaccount:{}:{}", spec.namespace, spec.service_account.name),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Jwt(#[from] JwtError),
    #[error("token issued by {0:?}, not this cluster")]
    Issuer(String),
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audiences {0:?} are not this server's")]
    Audience(Vec<String>),
    #[error("token lacks the kubernetes.io claims")]
    Claims,
}

/// What a valid token proves; the objects it names still have to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The token's `exp` (unix seconds).
    pub expires: i64,
    pub namespace: String,
    pub service_account: Bound,
    pub pod: Option<Bound>,
    pub secret: Option<Bound>,
    pub node: Option<Bound>,
    pub id: Option<String>,
}

/// Checks a token against this server's key, issuer and audiences at `now` (unix seconds).
pub fn verify(
    key: &SigningKey,
    token: &str,
    issuer: &str,
    audiences: &[String],
    now: i64,
) -> Result<Verified, TokenError> {
    let c = key.verify(token)?;
    let iss = c.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != issuer {
        return Err(TokenError::Issuer(iss.to_string()));
    }
    let expires = match c.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => exp,
        _ => return Err(TokenError::Expired),
    };
    if c.get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now)
    {
        return Err(TokenError::NotYetValid);
    }
    // `aud` is a string or a list of strings (RFC 7519).
    let aud: Vec<String> = match c.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if !aud.iter().any(|a| audiences.contains(a)) {
        return Err(TokenError::Audience(aud));
    }
    let k8s = c.get("kubernetes.io").ok_or(TokenError::Claims)?;
    let bound = |field: &str| {
        let b = k8s.get(field)?;
        Some(Bound {
            name: b.get("name")?.as_str()?.to_string(),
            uid: b.get("uid")?.as_str()?.to_string(),
        })
    };
    let namespace = k8s
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::Claims)?
        .to_string();
    let service_account = bound("serviceaccount").ok_or(TokenError::Claims)?;
    let sub = format!("system:serviceaccount:{namespace}:{}", service_account.name);
    if c.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
        return Err(TokenError::Claims);
    }
    Ok(Verified {
        expires,
        namespace,
        service_account,
        pod: bound("pod"),
        secret: bound("secret"),
        node: bound("node"),
        id: c.get("jti").and_then(Value::as_str).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::super::jwt::test_key;
    use super::*;

    const ISS: &str = "https://kubernetes.default.svc.cluster.local";

    fn spec() -> TokenSpec {
        TokenSpec {
            namespace: "ns".into(),
            service_account: Bound {
                name: "builder".into(),
                uid: "sa-uid".into(),
            },
            audiences: vec![ISS.into()],
            expiration_seconds: 3600,
            pod: Some(Bound {
                name: "web".into(),
                uid: "pod-uid".into(),
            }),
            now: 1_000_000,
            id: "jti-1".into(),
            ..TokenSpec::default()
        }
    }

    #[test]
    fn claims_shape() {
        let c = claims(ISS, &spec());
        expect_test::expect![[r#"{"aud":["https://kubernetes.default.svc.cluster.local"],"exp":1003600,"iat":1000000,"iss":"https://kubernetes.default.svc.cluster.local","jti":"jti-1","kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"builder","uid":"sa-uid"},"pod":{"name":"web","uid":"pod-uid"}},"nbf":1000000,"sub":"system:serviceaccount:ns:builder"}"#]]
        .assert_eq(&c.to_string());
    }

    #[test]
    fn verification_table() {
        let key = test_key();
        let other = test_key();
        let auds = vec![ISS.to_string()];
        let sign = |f: &dyn Fn(&mut Value)| {
            let mut c = claims(ISS, &spec());
            f(&mut c);
            key.sign(&c).expect("sign")
        };
        let now = 1_000_100;
        let cases: Vec<(&str, String, Result<(), TokenError>)> = vec![
            ("valid", sign(&|_| {}), Ok(())),
            (
                "expired",
                sign(&|c| c["exp"] = json!(now - 1)),
                Err(TokenError::Expired),
            ),
            (
                "expires now",
                sign(&|c| c["exp"] = json!(now)),
                Err(TokenError::Expired),
            ),
            (
                "not yet valid",
                sign(&|c| c["nbf"] = json!(now + 60)),
                Err(TokenError::NotYetValid),
            ),
            (
                "wrong audience",
                sign(&|c| c["aud"] = json!(["vault"])),
                Err(TokenError::Audience(vec!["vault".into()])),
            ),
            (
                "audience as a string",
                sign(&|c| c["aud"] = json!(ISS)),
                Ok(()),
            ),
            (
                "wrong issuer",
                sign(&|c| c["iss"] = json!("https://elsewhere")),
                Err(TokenError::Issuer("https://elsewhere".into())),
            ),
            (
                "subject disagrees",
                sign(&|c| c["sub"] = json!("system:serviceaccount:ns:admin")),
                Err(TokenError::Claims),
            ),
            (
                "no kubernetes.io claim",
                sign(&|c| {
                    c.as_object_mut().map(|m| m.remove("kubernetes.io"));
                }),
                Err(TokenError::Claims),
            ),
            (
                "other key",
                other.sign(&claims(ISS, &spec())).expect("sign"),
                Err(TokenError::Jwt(JwtError::Signature)),
            ),
            (
                "garbage",
                "not-a-token".into(),
                Err(TokenError::Jwt(JwtError::Malformed)),
            ),
        ];
        for (what, token, want) in cases {
            let got = verify(&key, &token, ISS, &auds, now).map(|_| ());
            assert_eq!(got, want, "{what}");
        }
        let v = verify(&key, &sign(&|_| {}), ISS, &auds, now).expect("valid");
        assert_eq!(v.namespace, "ns");
        assert_eq!(v.service_account.uid, "sa-uid");
        assert_eq!(v.pod.map(|p| p.name), Some("web".into()));
        assert_eq!(v.id.as_deref(), Some("jti-1"));
    }
}
