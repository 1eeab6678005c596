//! The cluster's secrets kept in a shared datastore, so that every API server of a cluster
//! on one etcd has the same CA, service-account signing key and encryption config without
//! copying files between machines (k3s's "bootstrap data").
//!
//! The first server publishes them under [`KEY`], sealed with AES-256-GCM under a key
//! derived (PBKDF2-HMAC-SHA256, random salt) from the join token's credential; a later server
//! given the same `--datastore-endpoint` and `--token` unseals them and writes them into its
//! data dir before it loads its certificates. The datastore alone is not enough to become a
//! server: the token is also needed.
//!
//! This is also the cluster-identity check: a wrong token, a data dir holding another
//! cluster's CA, or an etcd that holds some other cluster's `/registry/` data is refused with
//! a message saying which.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::auth::bootstrap_token::JoinToken;
use crate::server::StartError;

/// Where the sealed secrets live (next to the etcd backend's other bookkeeping).
pub const KEY: &str = "/skiff/bootstrap";

/// The files shared, relative to the data dir.
const FILES: &[&str] = &["tls/ca.crt", "tls/ca.key", "tls/service-account.key"];
/// Where a server that was not given `--encryption-provider-config` keeps the shared one.
pub const ENCRYPTION_CONFIG_FILE: &str = "encryption-config.yaml";

const PBKDF2_ROUNDS: u32 = 100_000;

#[derive(Serialize, Deserialize)]
struct Sealed {
    version: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Secrets {
    /// Data-dir-relative path → content.
    files: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<String>,
}

fn refused(why: String) -> StartError {
    StartError::Bootstrap(why)
}

fn derive(token: &JoinToken, salt: &[u8]) -> Result<LessSafeKey, StartError> {
    let mut key = [0u8; 32];
    let rounds = NonZeroU32::new(PBKDF2_ROUNDS).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        token.credential.as_bytes(),
        &mut key,
    );
    let key = UnboundKey::new(&AES_256_GCM, &key)
        .map_err(|_| refused("cannot build the bootstrap sealing key".into()))?;
    Ok(LessSafeKey::new(key))
}

fn seal(secrets: &Secrets, token: &JoinToken) -> Result<Bytes, StartError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt)
        .and_then(|_| rng.fill(&mut nonce))
        .map_err(|_| refused("no randomness for sealing the bootstrap data".into()))?;
    let mut data = serde_json::to_vec(secrets).map_err(|e| refused(e.to_string()))?;
    derive(token, &salt)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(KEY),
            &mut data,
        )
        .map_err(|_| refused("sealing the bootstrap data failed".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let sealed = Sealed {
        version: 1,
        salt: b64.encode(salt),
        nonce: b64.encode(nonce),
        ciphertext: b64.encode(data),
    };
    Ok(serde_json::to_vec(&sealed)
        .map_err(|e| refused(e.to_string()))?
        .into())
}

fn unseal(raw: &[u8], token: &JoinToken) -> Result<Secrets, StartError> {
    let corrupt = || {
        refused(format!(
            "{KEY} in the datastore is not skiff bootstrap data"
        ))
    };
    let sealed: Sealed = serde_json::from_slice(raw).map_err(|_| corrupt())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt = b64.decode(&sealed.salt).map_err(|_| corrupt())?;
    let nonce: [u8; NONCE_LEN] = b64
        .decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(corrupt)?;
    let mut data = b64.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
    let plain = derive(token, &salt)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(KEY),
            &mut data,
        )
        .map_err(|_| {
            refused(
                "the datastore belongs to a cluster with another token: its bootstrap data \
                 cannot be decrypted with this server's --token (give the token from the \
                 first server's data dir, DATA_DIR/token)"
                    .into(),
            )
        })?;
    serde_json::from_slice(plain).map_err(|_| corrupt())
}

fn io_err(path: PathBuf) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::DataDir { path, source }
}

/// Unseals the shared secrets, if a server published them, and puts them in `data_dir`.
/// A file already there must be the same (a data dir of another cluster is refused).
pub async fn fetch(
    store: &dyn store::Store,
    data_dir: &Path,
    token: &JoinToken,
) -> Result<Option<Secrets>, StartError> {
    let (kv, _) = store.get(KEY).await?;
    let Some(kv) = kv else {
        return Ok(None);
    };
    let secrets = unseal(&kv.value, token)?;
    for (rel, content) in &secrets.files {
        if !FILES.contains(&rel.as_str()) {
            continue;
        }
        let path = data_dir.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(local) if local == *content => {}
            Ok(_) => {
                return Err(refused(format!(
                    "{} belongs to another cluster than the datastore's (move the data dir \
                     away, or point --datastore-endpoint at that cluster's etcd)",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io_err(dir.to_path_buf()))?;
                }
                crate::server::write_private(&path, content).map_err(io_err(path.clone()))?;
            }
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    Ok(Some(secrets))
}

/// Publishes this server's secrets as the cluster's (the first server on a datastore). An
/// etcd that already holds a cluster's objects but no bootstrap data is only accepted when
/// this data dir holds a CA (a cluster restored into etcd from its own snapshot).
pub async fn publish(
    store: &dyn store::Store,
    data_dir: &Path,
    token: &JoinToken,
    encryption_config: Option<String>,
    had_ca: bool,
) -> Result<(), StartError> {
    let objects = store.count("/registry/").await?;
    if objects > 0 && !had_ca {
        return Err(refused(format!(
            "the datastore already holds {objects} objects of a cluster that has no skiff \
             bootstrap data; start with that cluster's data dir, or use an empty etcd"
        )));
    }
    let mut secrets = Secrets {
        encryption_config,
        ..Default::default()
    };
    for rel in FILES {
        let path = data_dir.join(rel);
        let content = std::fs::read_to_string(&path).map_err(io_err(path))?;
        secrets.files.insert(rel.to_string(), content);
    }
    match store.create(KEY, seal(&secrets, token)?).await {
        Ok(_) => Ok(()),
        Err(store::Error::AlreadyExists(_)) => Err(refused(
            "another server initialized this datastore at the same moment; start this one \
             again to join it"
                .into(),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_wrong_token() {
        let token = JoinToken::parse("abcdef.0123456789abcdef").unwrap();
        let mut secrets = Secrets::default();
        secrets.files.insert("tls/ca.crt".into(), "CA".into());
        secrets.encryption_config = Some("kind: EncryptionConfiguration".into());
        let raw = seal(&secrets, &token).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("CA\""));
        let back = unseal(&raw, &token).unwrap();
        assert_eq!(back.files["tls/ca.crt"], "CA");
        assert_eq!(
            back.encryption_config.as_deref(),
            Some("kind: EncryptionConfiguration")
        );
        // The K10 form of the same credential unlocks it too.
        let full = JoinToken::parse(&format!("K10{}::abcdef.0123456789abcdef", "0".repeat(64)));
        assert!(unseal(&raw, &full.unwrap()).is_ok());
        let other = JoinToken::parse("abcdef.ffffffffffffffff").unwrap();
        let err = unseal(&raw, &other).err().unwrap().to_string();
        assert!(err.contains("another token"), "{err}");
        assert!(unseal(b"{}", &token).is_err());
    }
}
