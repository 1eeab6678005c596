//! Bootstrap tokens (`abcdef.0123456789abcdef`), as upstream keeps them: Secrets of type
//! `bootstrap.kubernetes.io/token` named `bootstrap-token-<id>` in kube-system, which
//! authenticate as `system:bootstrap:<id>` in group `system:bootstrappers`. And the join
//! token agents are given: `K10<sha256 of the CA PEM>::<credential>`, as k3s writes it, so
//! an agent can check the CA it is sent before it sends the credential anywhere.

use base64::Engine;
use serde_json::{json, Value};

pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const GROUP: &str = "system:bootstrappers";
/// The extra group of the tokens `skiff server` makes for joining nodes.
pub const NODE_GROUP: &str = "system:bootstrappers:skiff:default-node-token";

/// A join token, parsed: the pinned CA hash (if any) and the bootstrap token it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Lowercase hex SHA-256 of the cluster CA's PEM.
    pub ca_hash: Option<String>,
    /// The credential as given (a bootstrap token, or any shared secret).
    pub credential: String,
    pub id: String,
    pub secret: String,
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash a join token pins the CA with.
pub fn ca_hash(ca_pem: &str) -> String {
    sha256_hex(ca_pem.as_bytes())
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `id.secret` when `s` has the bootstrap token format.
pub fn split_bootstrap(s: &str) -> Option<(&str, &str)> {
    let (id, secret) = s.split_once('.')?;
    (is_token_part(id, 6) && is_token_part(secret, 16)).then_some((id, secret))
}

impl JoinToken {
    /// `K10<hash>::<credential>`, `<id>.<secret>` or any other shared secret (from which a
    /// bootstrap token is derived, the same on server and agent).
    pub fn parse(s: &str) -> Option<JoinToken> {
        let s = s.trim();
        let (ca_hash, credential) = match s.strip_prefix("K10").and_then(|r| r.split_once("::")) {
            Some((hash, cred)) if hash.len() == 64 => (Some(hash.to_lowercase()), cred),
            _ => (None, s),
        };
        if credential.is_empty() {
            return None;
        }
        let (id, secret) = match split_bootstrap(credential) {
            Some((id, secret)) => (id.to_string(), secret.to_string()),
            None => {
                let h = sha256_hex(format!("skiff-join:{credential}").as_bytes());
                (h[..6].to_string(), h[6..22].to_string())
            }
        };
        Some(JoinToken {
            ca_hash,
            credential: credential.to_string(),
            id,
            secret,
        })
    }

    /// A fresh random bootstrap token.
    pub fn generate() -> JoinToken {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let mut part = |n: usize| -> String {
            (0..n)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let (id, secret) = (part(6), part(16));
        JoinToken {
            ca_hash: None,
            credential: format!("{id}.{secret}"),
            id,
            secret,
        }
    }

    /// The bearer token the agent presents.
    pub fn bearer(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The full form, pinning `ca_pem`.
    pub fn render(&self, ca_pem: &str) -> String {
        format!("K10{}::{}", ca_hash(ca_pem), self.credential)
    }

    /// The kube-system Secret that makes this token valid for joining nodes.
    pub fn secret_object(&self) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": format!("bootstrap-token-{}", self.id), "namespace": "kube-system"},
            "type": SECRET_TYPE,
            "data": {
                "description": b64("skiff server's node join token"),
                "token-id": b64(&self.id),
                "token-secret": b64(&self.secret),
                "usage-bootstrap-authentication": b64("true"),
                "usage-bootstrap-signing": b64("true"),
                "auth-extra-groups": b64(NODE_GROUP),
            },
        })
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `id.secret` against its Secret (already looked up by name) at `now` (unix
/// seconds): the user name and groups it authenticates as, or why not.
pub fn authenticate(
    secret_obj: &Value,
    id: &str,
    secret: &str,
    now: i64,
) -> Result<(String, Vec<String>), &'static str> {
    if secret_obj.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return Err("secret is not a bootstrap token");
    }
    if secret_obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Err("token is being deleted");
    }
    let data = |k: &str| -> Option<String> {
        let raw = secret_obj.pointer(&format!("/data/{k}"))?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        String::from_utf8(bytes).ok()
    };
    if data("token-id").as_deref() != Some(id) {
        return Err("token id does not match its secret");
    }
    let stored = data("token-secret").unwrap_or_default();
    if !ct_eq(stored.as_bytes(), secret.as_bytes()) {
        return Err("wrong token secret");
    }
    if data("usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err("token may not be used for authentication");
    }
    if let Some(exp) = data("expiration") {
        let expiry =
            time::OffsetDateTime::parse(&exp, &time::format_description::well_known::Rfc3339)
                .map_err(|_| "unreadable expiration")?;
        if expiry.unix_timestamp() <= now {
            return Err("token has expired");
        }
    }
    let mut groups = vec![GROUP.to_string()];
    for g in data("auth-extra-groups").unwrap_or_default().split(',') {
        let g = g.trim();
        // Upstream only honours extra groups inside the bootstrappers' namespace.
        if g.starts_with("system:bootstrappers:") && !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    groups.push("system:authenticated".into());
    Ok((format!("system:bootstrap:{id}"), groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_token_forms() {
        let hash = "ab".repeat(32);
        let cases = [
            (
                "abcdef.0123456789abcdef",
                None,
                "abcdef",
                "0123456789abcdef",
            ),
            (
                &*format!("K10{hash}::abcdef.0123456789abcdef"),
                Some(hash.clone()),
                "abcdef",
                "0123456789abcdef",
            ),
            // Any other secret maps to a derived bootstrap token, the same everywhere.
            ("s3cret", None, "19709d", "3ea08cff1ede13da"),
            (
                &*format!("K10{hash}::s3cret"),
                Some(hash.clone()),
                "19709d",
                "3ea08cff1ede13da",
            ),
        ];
        for (input, ca, id, secret) in cases {
            let t = JoinToken::parse(input).expect(input);
            assert_eq!(
                (t.ca_hash, t.id.as_str(), t.secret.as_str()),
                (ca, id, secret),
                "{input}"
            );
        }
        assert_eq!(JoinToken::parse(""), None);
        let g = JoinToken::generate();
        assert!(split_bootstrap(&g.credential).is_some());
        let rendered = g.render("PEM");
        assert_eq!(
            JoinToken::parse(&rendered).map(|t| t.bearer()),
            Some(g.bearer())
        );
        assert_eq!(
            JoinToken::parse(&rendered).and_then(|t| t.ca_hash),
            Some(ca_hash("PEM"))
        );
    }

    #[test]
    fn secret_checks() {
        let t = JoinToken::parse("abcdef.0123456789abcdef").expect("token");
        let good = t.secret_object();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let with = |k: &str, v: &str| {
            let mut s = good.clone();
            s["data"][k] = json!(b64(v));
            s
        };
        let mut wrong_type = good.clone();
        wrong_type["type"] = json!("Opaque");
        let cases = [
            (good.clone(), "0123456789abcdef", Ok(())),
            (good.clone(), "0123456789abcdee", Err("wrong token secret")),
            (
                wrong_type,
                "0123456789abcdef",
                Err("secret is not a bootstrap token"),
            ),
            (
                with("usage-bootstrap-authentication", "false"),
                "0123456789abcdef",
                Err("token may not be used for authentication"),
            ),
            (
                with("expiration", "2001-01-01T00:00:00Z"),
                "0123456789abcdef",
                Err("token has expired"),
            ),
            (
                with("expiration", "2999-01-01T00:00:00Z"),
                "0123456789abcdef",
                Ok(()),
            ),
            (
                with("token-id", "zzzzzz"),
                "0123456789abcdef",
                Err("token id does not match its secret"),
            ),
        ];
        for (secret, given, want) in cases {
            let got = authenticate(&secret, "abcdef", given, 1_700_000_000).map(|_| ());
            assert_eq!(got, want, "{secret}");
        }
        let (user, groups) = authenticate(&good, "abcdef", "0123456789abcdef", 0).expect("ok");
        assert_eq!(user, "system:bootstrap:abcdef");
        assert_eq!(groups, [GROUP, NODE_GROUP, "system:authenticated"]);
    }
}
