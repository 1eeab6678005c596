//! Which provider chain applies to a storage key, and how a chain writes and reads values.
//!
//! A chain is one config entry's providers in order, each key of a keyed provider a step of
//! its own. Writes use the first step. Reads pick the steps whose prefix the stored value
//! starts with (several keys may share a name across providers, never within one); identity
//! passes values that carry no `k8s:enc:` prefix. Storage keys no entry covers behave as
//! upstream's implicit identity: plain values pass, encrypted ones are an error.

use std::borrow::Cow;
use std::sync::Arc;

use super::providers::{Key, ENCRYPTED_MARK};

/// One provider step of a chain.
#[derive(Debug, Clone)]
pub enum Step {
    Identity,
    Key(Key),
}

#[derive(Debug)]
pub struct Chain {
    /// Never empty: the config validation requires a provider per entry.
    pub steps: Vec<Step>,
}

/// A value that cannot be turned into or out of its stored form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to transform key \"{key}\": {why}")]
pub struct TransformError {
    pub key: String,
    pub why: String,
}

impl Chain {
    fn seal(&self, storage_key: &str, plain: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self.steps.first() {
            Some(Step::Key(k)) => k
                .encrypt(storage_key, plain)
                .map(Some)
                .map_err(|e| format!("{} key \"{}\": {e}", k.kind.name(), k.name)),
            Some(Step::Identity) | None => Ok(None),
        }
    }

    fn open<'a>(&self, storage_key: &str, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
        let mut failures = Vec::new();
        for step in &self.steps {
            let Step::Key(k) = step else { continue };
            if let Some(sealed) = stored.strip_prefix(k.prefix.as_slice()) {
                match k.decrypt(storage_key, sealed) {
                    Ok(plain) => return Ok(Cow::Owned(plain)),
                    Err(e) => failures.push(format!("{} key \"{}\": {e}", k.kind.name(), k.name)),
                }
            }
        }
        if !failures.is_empty() {
            return Err(failures.join("; "));
        }
        if stored.starts_with(ENCRYPTED_MARK) {
            return Err(unknown_key(stored));
        }
        if self.steps.iter().any(|s| matches!(s, Step::Identity)) {
            return Ok(Cow::Borrowed(stored));
        }
        Err(
            "no matching prefix found: the value is stored unencrypted and the identity \
             provider is not configured for it"
                .to_string(),
        )
    }

    /// Whether `stored` is in the form a write through this chain produces now.
    fn is_current(&self, stored: &[u8]) -> bool {
        match self.steps.first() {
            Some(Step::Key(k)) => stored.starts_with(&k.prefix),
            Some(Step::Identity) | None => !stored.starts_with(ENCRYPTED_MARK),
        }
    }
}

/// The provider and key an encrypted value names, as `aescbc v1 key "key1"`.
fn sealed_with(stored: &[u8]) -> String {
    let rest = stored.strip_prefix(ENCRYPTED_MARK).unwrap_or(stored);
    let fields: Vec<&[u8]> = rest.splitn(4, |b| *b == b':').collect();
    match fields.as_slice() {
        [p, v, n, _] => format!(
            "{} {} key \"{}\"",
            String::from_utf8_lossy(p),
            String::from_utf8_lossy(v),
            String::from_utf8_lossy(n),
        ),
        _ => "a malformed k8s:enc: prefix".to_string(),
    }
}

/// The error for an encrypted value whose provider and key the chain lacks.
fn unknown_key(stored: &[u8]) -> String {
    format!(
        "no matching prefix found: the value was encrypted with {}, which the encryption \
         provider config does not list for this resource",
        sealed_with(stored)
    )
}

/// Where one chain applies: keys under `prefix` (`None`: every key).
#[derive(Debug)]
pub struct Route {
    pub prefix: Option<String>,
    pub chain: Arc<Chain>,
}

/// The whole config: routes in the order they are tried (exact resources, then group
/// wildcards, then `*.*`; within each, the config's order).
#[derive(Debug)]
pub struct Transformers {
    pub routes: Vec<Route>,
}

impl Transformers {
    pub fn chain_for(&self, key: &str) -> Option<&Chain> {
        self.routes
            .iter()
            .find(|r| r.prefix.as_deref().is_none_or(|p| key.starts_with(p)))
            .map(|r| r.chain.as_ref())
    }

    /// The value to store for `plain` under `key`.
    pub fn seal(&self, key: &str, plain: bytes::Bytes) -> Result<bytes::Bytes, TransformError> {
        let err = |why| TransformError {
            key: key.to_string(),
            why,
        };
        match self.chain_for(key) {
            Some(chain) => Ok(chain
                .seal(key, &plain)
                .map_err(err)?
                .map_or(plain, Into::into)),
            None => Ok(plain),
        }
    }

    /// The plain value of what is stored under `key`.
    pub fn open(&self, key: &str, stored: bytes::Bytes) -> Result<bytes::Bytes, TransformError> {
        let err = |why| TransformError {
            key: key.to_string(),
            why,
        };
        match self.chain_for(key) {
            Some(chain) => match chain.open(key, &stored).map_err(err)? {
                Cow::Borrowed(_) => Ok(stored),
                Cow::Owned(plain) => Ok(plain.into()),
            },
            None if stored.starts_with(ENCRYPTED_MARK) => Err(err(format!(
                "identity transformer tried to read encrypted data: the value was encrypted \
                 with {}, and the encryption provider config does not cover this resource",
                sealed_with(&stored),
            ))),
            None => Ok(stored),
        }
    }

    /// Whether rewriting `key` unchanged would store it differently: it was written with an
    /// older key or provider. An unchanged update then still writes, so that replacing every
    /// object re-encrypts it after a key rotation (as upstream).
    pub fn is_stale(&self, key: &str, stored: &[u8]) -> bool {
        match self.chain_for(key) {
            Some(chain) => !chain.is_current(stored),
            None => stored.starts_with(ENCRYPTED_MARK),
        }
    }
}
