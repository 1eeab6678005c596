//! Encryption at rest (`--encryption-provider-config`), as upstream's kube-apiserver: an
//! `EncryptionConfiguration` names, per resource, an ordered list of providers; the first
//! encrypts writes, all of them are tried on reads by the prefix of the stored value.
//!
//! `config.rs` parses and validates the file, `resources.rs` maps resource names onto
//! storage prefixes, `providers.rs` holds the ciphers, `transform.rs` picks the provider
//! chain for a key, and `store.rs` applies it around any `Store` backend.
//!
//! **Architecture Invariant**: nothing above the store sees a sealed value, and nothing
//! below it sees a plain one for a configured resource; the watch cache, handlers and
//! backends know nothing of encryption (only an unchanged update asks [`EncryptedStore`]
//! whether the stored form is stale, so that replacing objects re-encrypts them).

mod config;
mod providers;
mod resources;
mod store;
mod transform;

#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::store::{transform_error, EncryptedStore};
pub use self::transform::Transformers;

/// `--encryption-provider-config FILE` could not be used.
#[derive(Debug, thiserror::Error)]
#[error("encryption provider config {path}: {why}")]
pub struct LoadError {
    pub path: PathBuf,
    pub why: String,
}

/// Reads and validates the config file.
pub fn load(path: &Path) -> Result<Arc<Transformers>, LoadError> {
    let err = |why: String| LoadError {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let transformers = config::parse(&text).map_err(|e| err(e.to_string()))?;
    Ok(Arc::new(transformers))
}
