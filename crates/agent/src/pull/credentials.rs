//! Registry credentials from image pull secrets (`kubernetes.io/dockerconfigjson` and the
//! older `kubernetes.io/dockercfg`), and which of them apply to an image. Pure.
//!
//! Matching follows upstream's keyring: a key is a registry host with an optional port and
//! path (a scheme and Docker Hub's `/v1/` suffix are ignored), host labels may be `*`
//! globs, the port must be equal, and the key's path must prefix the image's repository.
//! More specific keys are tried first.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

/// One registry login, as the CRI's `AuthConfig` carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub identity_token: String,
    pub registry_token: String,
}

/// The registry host and repository path of an image reference; Docker Hub for short names
/// (`nginx` → `docker.io`, `library/nginx`).
pub fn split_image(image: &str) -> (String, String) {
    let name = image.split('@').next().unwrap_or(image);
    let (first, rest) = match name.split_once('/') {
        Some((f, r)) if f.contains('.') || f.contains(':') || f == "localhost" => {
            (f.to_string(), r.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")),
    };
    // Drop the tag (a colon after the last slash).
    let repo = match rest.rsplit_once('/') {
        Some((dir, last)) => format!("{dir}/{}", last.split(':').next().unwrap_or(last)),
        None => rest.split(':').next().unwrap_or(&rest).to_string(),
    };
    let host = match first.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => first,
    };
    (host, repo)
}

/// The credentials in a pull secret's data (base64 values, as the API stores them).
pub fn from_secret(type_: &str, data: &BTreeMap<String, String>) -> Vec<(String, Credential)> {
    let decode = |key: &str| -> Option<Value> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(data.get(key)?)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    };
    let auths = match type_ {
        "kubernetes.io/dockerconfigjson" => {
            decode(".dockerconfigjson").and_then(|v| v.get("auths").cloned())
        }
        "kubernetes.io/dockercfg" => decode(".dockercfg"),
        _ => None,
    };
    let Some(Value::Object(auths)) = auths else {
        return Vec::new();
    };
    auths
        .into_iter()
        .filter_map(|(key, entry)| Some((key, credential(&entry)?)))
        .collect()
}

fn credential(entry: &Value) -> Option<Credential> {
    let s = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut c = Credential {
        username: s("username"),
        password: s("password"),
        identity_token: s("identitytoken"),
        registry_token: s("registrytoken"),
    };
    // `auth` is base64("user:password") and wins over the separate fields, as in Docker.
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        c.username = user.to_string();
        c.password = pass.to_string();
    }
    (!c.username.is_empty() || !c.identity_token.is_empty() || !c.registry_token.is_empty())
        .then_some(c)
}

/// A key's host (without port), port and path.
fn parse_key(key: &str) -> (String, String, String) {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (hostport, path) = key.split_once('/').unwrap_or((key, ""));
    let path = path.trim_end_matches('/');
    let path = if path == "v1" || path == "v2" {
        ""
    } else {
        path
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, p),
        _ => (hostport, ""),
    };
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    };
    (host.to_string(), port.to_string(), path.to_string())
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let (p, h): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), host.split('.').collect());
    p.len() == h.len()
        && p.iter()
            .zip(&h)
            .all(|(p, h)| *p == "*" || p.eq_ignore_ascii_case(h) || glob(p, h))
}

/// `*` within one label (`*-registry` matches `eu-registry`).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, post)) => {
            text.len() >= pre.len() + post.len() && text.starts_with(pre) && text.ends_with(post)
        }
    }
}

/// The credentials that apply to `image`, most specific key first.
pub fn matching(image: &str, entries: &[(String, Credential)]) -> Vec<Credential> {
    let (image_hostport, repo) = split_image(image);
    let (image_host, image_port) = match image_hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (image_hostport.clone(), String::new()),
    };
    let mut hits: Vec<(usize, &Credential)> = entries
        .iter()
        .filter_map(|(key, cred)| {
            let (host, port, path) = parse_key(key);
            let ok = host_matches(&host, &image_host)
                && port == image_port
                && (path.is_empty() || repo == path || repo.starts_with(&format!("{path}/")));
            ok.then_some((key.len(), cred))
        })
        .collect();
    hits.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    let mut out: Vec<Credential> = Vec::new();
    for (_, c) in hits {
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn images_split_into_registry_and_repository() {
        let cases = [
            ("nginx", "docker.io library/nginx"),
            ("nginx:1.27", "docker.io library/nginx"),
            ("bitnami/redis:7", "docker.io bitnami/redis"),
            (
                "127.0.0.1:5055/skiff/testimage:1",
                "127.0.0.1:5055 skiff/testimage",
            ),
            ("reg.example.com/a/b@sha256:00", "reg.example.com a/b"),
            ("localhost/x", "localhost x"),
            (
                "index.docker.io/library/busybox",
                "docker.io library/busybox",
            ),
        ];
        for (image, want) in cases {
            let (h, r) = split_image(image);
            assert_eq!(format!("{h} {r}"), want, "{image}");
        }
    }

    #[test]
    fn secrets_decode() {
        let json = format!(
            r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{}"}},"reg.example.com":{{"username":"u","password":"p"}},"empty.example":{{}}}}}}"#,
            b64("alice:s3cr:et")
        );
        let data = BTreeMap::from([(".dockerconfigjson".to_string(), b64(&json))]);
        let got = from_secret("kubernetes.io/dockerconfigjson", &data);
        let got: Vec<String> = got
            .iter()
            .map(|(k, c)| format!("{k} {}:{}", c.username, c.password))
            .collect();
        assert_eq!(got, ["127.0.0.1:5000 alice:s3cr:et", "reg.example.com u:p"]);
        let old = BTreeMap::from([(
            ".dockercfg".to_string(),
            b64(r#"{"https://index.docker.io/v1/":{"auth":"Ym9iOnB3"}}"#),
        )]);
        let got = from_secret("kubernetes.io/dockercfg", &old);
        assert_eq!(got[0].1.username, "bob");
        assert!(from_secret("Opaque", &data).is_empty());
    }

    #[test]
    fn keys_match_images() {
        let cred = |u: &str| Credential {
            username: u.into(),
            ..Default::default()
        };
        let entries = vec![
            ("127.0.0.1:5000".to_string(), cred("loop")),
            ("https://index.docker.io/v1/".to_string(), cred("hub")),
            ("*.example.com".to_string(), cred("glob")),
            ("reg.example.com/team".to_string(), cred("team")),
            ("reg.example.com:8443".to_string(), cred("port")),
        ];
        let cases = [
            ("127.0.0.1:5000/skiff/x:1", vec!["loop"]),
            ("127.0.0.1:5001/skiff/x:1", vec![]),
            ("nginx", vec!["hub"]),
            ("reg.example.com/team/app:1", vec!["team", "glob"]),
            ("reg.example.com/other/app", vec!["glob"]),
            ("reg.example.com:8443/app", vec!["port"]),
            ("deep.reg.example.com/app", vec![]),
        ];
        for (image, want) in cases {
            let got: Vec<String> = matching(image, &entries)
                .into_iter()
                .map(|c| c.username)
                .collect();
            assert_eq!(got, want, "{image}");
        }
    }
}
