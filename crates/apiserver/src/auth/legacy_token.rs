//! Legacy service-account token Secrets: a Secret of type
//! `kubernetes.io/service-account-token` naming an account in the
//! `kubernetes.io/service-account.name` annotation gets a non-expiring token, the cluster CA
//! and the namespace, as upstream's token controller fills them in (here at create, by the
//! API server, which holds the signing key). Such a token authenticates as the account for
//! as long as both the account (same uid) and the Secret (still holding that token) exist.

use serde_json::{json, Value};

pub const ISSUER: &str = "kubernetes/serviceaccount";
pub const SECRET_TYPE: &str = "kubernetes.io/service-account-token";
pub const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

const NS_CLAIM: &str = "kubernetes.io/serviceaccount/namespace";
const SECRET_CLAIM: &str = "kubernetes.io/serviceaccount/secret.name";
const NAME_CLAIM: &str = "kubernetes.io/serviceaccount/service-account.name";
const UID_CLAIM: &str = "kubernetes.io/serviceaccount/service-account.uid";

/// What a legacy token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Legacy {
    pub namespace: String,
    pub secret: String,
    pub account: String,
    pub account_uid: String,
}

/// Upstream's legacy claims: no audience, no expiry.
pub fn claims(l: &Legacy) -> Value {
    json!({
        "iss": ISSUER,
        NS_CLAIM: l.namespace,
        SECRET_CLAIM: l.secret,
        NAME_CLAIM: l.account,
        UID_CLAIM: l.account_uid,
        "sub": format!("system:serviceaccount:{}:{}", l.namespace, l.account),
    })
}

/// The names in a verified legacy token's claims.
pub fn parse(c: &Value) -> Option<Legacy> {
    if c.get("iss")?.as_str()? != ISSUER {
        return None;
    }
    let s = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Some(Legacy {
        namespace: s(NS_CLAIM)?,
        secret: s(SECRET_CLAIM)?,
        account: s(NAME_CLAIM)?,
        account_uid: s(UID_CLAIM)?,
    })
}

/// Fills a new token Secret for `account` (its JSON) with the token, CA and namespace.
pub fn fill(secret: &mut Value, account: &Value, token: &str, ca_pem: &str) {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ns = secret
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uid = account
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(meta) = secret.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(UID_ANNOTATION.into(), json!(uid));
        }
    }
    if let Some(obj) = secret.as_object_mut() {
        let data = obj.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            d.insert("token".into(), json!(b64(token)));
            d.insert("ca.crt".into(), json!(b64(ca_pem)));
            d.insert("namespace".into(), json!(b64(&ns)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip_and_shape() {
        let l = Legacy {
            namespace: "ns".into(),
            secret: "robot-token".into(),
            account: "robot".into(),
            account_uid: "u-1".into(),
        };
        let c = claims(&l);
        expect_test::expect![[r#"{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"ns","kubernetes.io/serviceaccount/secret.name":"robot-token","kubernetes.io/serviceaccount/service-account.name":"robot","kubernetes.io/serviceaccount/service-account.uid":"u-1","sub":"system:serviceaccount:ns:robot"}"#]]
        .assert_eq(&c.to_string());
        assert_eq!(parse(&c), Some(l));
        assert_eq!(
            parse(&json!({"iss": "https://kubernetes.default.svc"})),
            None
        );
    }

    #[test]
    fn fill_sets_token_ca_namespace_and_uid() {
        let mut s = json!({"metadata": {"name": "t", "namespace": "ns", "annotations": {NAME_ANNOTATION: "robot"}}, "type": SECRET_TYPE});
        fill(&mut s, &json!({"metadata": {"uid": "u-1"}}), "tok", "CA");
        assert_eq!(s["metadata"]["annotations"][UID_ANNOTATION], "u-1");
        assert_eq!(s["data"]["token"], "dG9r");
        assert_eq!(s["data"]["ca.crt"], "Q0E=");
        assert_eq!(s["data"]["namespace"], "bnM=");
    }
}
