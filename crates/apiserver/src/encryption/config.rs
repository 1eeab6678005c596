//! `--encryption-provider-config`: upstream's `apiserver.config.k8s.io/v1`
//! `EncryptionConfiguration` (YAML or JSON), validated as a whole so that every problem is
//! reported at once, then turned into [`Transformers`]. `kms` providers are refused: skiff
//! has no KMS plugin client.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;

use super::providers::{Key, Kind};
use super::resources::{self, Selector};
use super::transform::{Chain, Route, Step, Transformers};

const API_VERSION: &str = "apiserver.config.k8s.io/v1";
const KIND: &str = "EncryptionConfiguration";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    resources: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<Provider>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Provider {
    aescbc: Option<Keys>,
    aesgcm: Option<Keys>,
    secretbox: Option<Keys>,
    identity: Option<Identity>,
    kms: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    #[serde(default)]
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {}

/// Why a config was refused: every problem found, one per line, with upstream's field paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

/// Parses and validates the text of a config file.
pub fn parse(text: &str) -> Result<Transformers, ConfigError> {
    let file: File = serde_yaml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))?;
    let mut errs = Vec::new();
    if file.api_version != API_VERSION || file.kind != KIND {
        errs.push(format!(
            "apiVersion/kind {:?}/{:?}: expected {API_VERSION} {KIND}",
            file.api_version, file.kind
        ));
    }
    if file.resources.is_empty() {
        errs.push("resources: Required value: at least one resources is required".into());
    }
    // Every name selected so far, for duplicates across entries.
    let mut seen: Vec<(Selector, String)> = Vec::new();
    let mut routes: Vec<(u8, usize, Route)> = Vec::new();
    for (i, entry) in file.resources.iter().enumerate() {
        let path = format!("resources[{i}]");
        let chain = Arc::new(Chain {
            steps: providers(&entry.providers, &path, &mut errs),
        });
        if entry.resources.is_empty() {
            errs.push(format!(
                "{path}.resources: Required value: at least one {path}.resources is required"
            ));
        }
        let first_of_entry = seen.len();
        for (j, name) in entry.resources.iter().enumerate() {
            let field = format!("{path}.resources[{j}]");
            let sel = match resources::parse(name) {
                Ok(sel) => sel,
                Err(why) => {
                    errs.push(format!("{field}: Invalid value: {name:?}: {why}"));
                    continue;
                }
            };
            if let Some((_, at)) = seen.iter().find(|(s, _)| *s == sel) {
                errs.push(format!(
                    "{field}: Duplicate value: {name:?}: already listed at {at}"
                ));
                continue;
            }
            // Within one entry an exact name next to a wildcard covering it is dead config.
            if let Some((_, at)) = seen[first_of_entry..]
                .iter()
                .find(|(s, _)| s.covers(&sel) || sel.covers(s))
            {
                errs.push(format!(
                    "{field}: Invalid value: {name:?}: overlaps {at} in the same resource list; \
                     such overlapping names are masked and not allowed"
                ));
                continue;
            }
            for prefix in resources::prefixes(&sel)
                .map_or(vec![None], |v| v.into_iter().map(Some).collect::<Vec<_>>())
            {
                routes.push((
                    sel.rank(),
                    routes.len(),
                    Route {
                        prefix,
                        chain: chain.clone(),
                    },
                ));
            }
            seen.push((sel, field));
        }
    }
    if !errs.is_empty() {
        return Err(ConfigError(errs));
    }
    routes.sort_by_key(|(rank, order, _)| (*rank, *order));
    Ok(Transformers {
        routes: routes.into_iter().map(|(_, _, r)| r).collect(),
    })
}

/// One entry's providers as chain steps; problems go to `errs`.
fn providers(list: &[Provider], path: &str, errs: &mut Vec<String>) -> Vec<Step> {
    if list.is_empty() {
        errs.push(format!(
            "{path}.providers: Required value: at least one {path}.providers is required"
        ));
    }
    let mut steps = Vec::new();
    for (j, p) in list.iter().enumerate() {
        let path = format!("{path}.providers[{j}]");
        let keyed = [
            (Kind::AesCbc, &p.aescbc),
            (Kind::AesGcm, &p.aesgcm),
            (Kind::Secretbox, &p.secretbox),
        ];
        let count = keyed.iter().filter(|(_, k)| k.is_some()).count()
            + usize::from(p.identity.is_some())
            + usize::from(p.kms.is_some());
        if count == 0 {
            errs.push(format!(
                "{path}: Invalid value: provider does not contain any of the expected \
                 providers: aescbc, aesgcm, secretbox, identity"
            ));
            continue;
        }
        if count > 1 {
            errs.push(format!(
                "{path}: Invalid value: more than one provider specified in a single element, \
                 should split into different list elements"
            ));
            continue;
        }
        if p.kms.is_some() {
            errs.push(format!(
                "{path}.kms: Unsupported value: kms providers are not supported by skiff; use \
                 aescbc, aesgcm, secretbox or identity"
            ));
        }
        if p.identity.is_some() {
            steps.push(Step::Identity);
        }
        for (kind, keys) in keyed {
            if let Some(keys) = keys {
                let path = format!("{path}.{}.keys", kind.name());
                steps.extend(provider_keys(kind, &keys.keys, &path, errs).map(Step::Key));
            }
        }
    }
    steps
}

fn provider_keys(
    kind: Kind,
    keys: &[KeyEntry],
    path: &str,
    errs: &mut Vec<String>,
) -> impl Iterator<Item = Key> {
    if keys.is_empty() {
        errs.push(format!(
            "{path}: Required value: at least one keys is required"
        ));
    }
    let mut out: Vec<Key> = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let path = format!("{path}[{k}]");
        if key.name.is_empty() {
            errs.push(format!(
                "{path}.name: Required value: name is a mandatory field for a key"
            ));
        } else if keys[..k].iter().any(|other| other.name == key.name) {
            errs.push(format!(
                "{path}.name: Duplicate value: {:?}: key names must be unique within a provider",
                key.name
            ));
        }
        if key.secret.is_empty() {
            errs.push(format!(
                "{path}.secret: Required value: secret is a mandatory field for a key"
            ));
            continue;
        }
        let secret = match base64::engine::general_purpose::STANDARD.decode(key.secret.trim()) {
            Ok(s) => s,
            Err(_) => {
                errs.push(format!(
                    "{path}.secret: Invalid value: \"REDACTED\": secrets must be base64 encoded"
                ));
                continue;
            }
        };
        if !kind.key_sizes().contains(&secret.len()) {
            errs.push(format!(
                "{path}.secret: Invalid value: \"REDACTED\": secret is not of the expected \
                 length, got {}, expected one of {:?}",
                secret.len(),
                kind.key_sizes()
            ));
            continue;
        }
        out.push(Key::new(kind, &key.name, secret));
    }
    out.into_iter()
}
