//! The ciphers of upstream's `aescbc`, `aesgcm` and `secretbox` providers, each behind one
//! key, and the byte layout they store: `k8s:enc:<provider>:v1:<key name>:` followed by the
//! random IV or nonce and the ciphertext.
//!
//! - `aescbc`: AES-CBC (16, 24 or 32-byte key), PKCS#7 padding, a random 16-byte IV first.
//! - `aesgcm`: AES-GCM (16, 24 or 32-byte key), a random 12-byte nonce first, the tag after
//!   the ciphertext; the storage key is the additional authenticated data, so a value copied
//!   under another key does not decrypt.
//! - `secretbox`: XSalsa20-Poly1305 (32-byte key), a random 24-byte nonce first, then NaCl's
//!   sealed box (tag before the ciphertext).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use ring::rand::{SecureRandom, SystemRandom};

/// A provider's name as it appears in the config and in the stored prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AesCbc,
    AesGcm,
    Secretbox,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::AesCbc => "aescbc",
            Kind::AesGcm => "aesgcm",
            Kind::Secretbox => "secretbox",
        }
    }
    /// Key lengths the provider accepts, in bytes.
    pub fn key_sizes(self) -> &'static [usize] {
        match self {
            Kind::AesCbc | Kind::AesGcm => &[16, 24, 32],
            Kind::Secretbox => &[32],
        }
    }
}

/// Why a value could not be encrypted or decrypted (never names the secret key itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the stored data is shorter than the required size")]
    TooShort,
    #[error("the stored data is not a whole number of AES blocks")]
    NotBlockAligned,
    #[error("invalid padding on input (wrong key?)")]
    BadPadding,
    #[error("message authentication failed (wrong key?)")]
    Unauthenticated,
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("key of {0} bytes does not fit the cipher")]
    KeyLength(usize),
}

/// One named key of one provider.
#[derive(Clone)]
pub struct Key {
    pub kind: Kind,
    pub name: String,
    secret: Vec<u8>,
    /// `k8s:enc:<provider>:v1:<name>:`
    pub prefix: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs and test output.
        f.debug_struct("Key")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What every encrypted value starts with; identity refuses to pass such a value on.
pub const ENCRYPTED_MARK: &[u8] = b"k8s:enc:";

impl Key {
    /// A key whose length the config validation has already checked.
    pub fn new(kind: Kind, name: &str, secret: Vec<u8>) -> Key {
        let prefix = format!("k8s:enc:{}:v1:{name}:", kind.name()).into_bytes();
        Key {
            kind,
            name: name.to_string(),
            secret,
            prefix,
        }
    }

    /// The stored form of `plain` under `storage_key`: this key's prefix, then the sealed data.
    pub fn encrypt(&self, storage_key: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed = match self.kind {
            Kind::AesCbc => {
                let iv: [u8; 16] = random()?;
                let mut out = iv.to_vec();
                out.extend(cbc_encrypt(&self.secret, &iv, plain)?);
                out
            }
            Kind::AesGcm => {
                let nonce: [u8; 12] = random()?;
                let mut out = nonce.to_vec();
                out.extend(gcm_seal(
                    &self.secret,
                    &nonce,
                    plain,
                    storage_key.as_bytes(),
                )?);
                out
            }
            Kind::Secretbox => {
                let nonce: [u8; 24] = random()?;
                let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(&self.secret)
                    .map_err(|_| CryptoError::KeyLength(self.secret.len()))?;
                let mut out = nonce.to_vec();
                out.extend(
                    cipher
                        .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), plain)
                        .map_err(|_| CryptoError::Unauthenticated)?,
                );
                out
            }
        };
        let mut stored = self.prefix.clone();
        stored.extend(sealed);
        Ok(stored)
    }

    /// `sealed` is the stored value with this key's prefix already removed.
    pub fn decrypt(&self, storage_key: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self.kind {
            Kind::AesCbc => {
                let (iv, data) = split(sealed, 16)?;
                cbc_decrypt(&self.secret, iv, data)
            }
            Kind::AesGcm => {
                let (nonce, data) = split(sealed, 12)?;
                gcm_open(&self.secret, nonce, data, storage_key.as_bytes())
            }
            Kind::Secretbox => {
                let (nonce, data) = split(sealed, 24)?;
                let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(&self.secret)
                    .map_err(|_| CryptoError::KeyLength(self.secret.len()))?;
                cipher
                    .decrypt(crypto_secretbox::Nonce::from_slice(nonce), data)
                    .map_err(|_| CryptoError::Unauthenticated)
            }
        }
    }
}

fn split(data: &[u8], at: usize) -> Result<(&[u8], &[u8]), CryptoError> {
    if data.len() < at {
        return Err(CryptoError::TooShort);
    }
    Ok(data.split_at(at))
}

fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(buf)
}

fn cbc_encrypt(key: &[u8], iv: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |_| CryptoError::KeyLength(key.len());
    Ok(match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(bad)?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        24 => cbc::Encryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(bad)?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        32 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad)?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        n => return Err(CryptoError::KeyLength(n)),
    })
}

fn cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(CryptoError::NotBlockAligned);
    }
    let bad = |_| CryptoError::KeyLength(key.len());
    let out = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(bad)?
            .decrypt_padded_vec_mut::<Pkcs7>(data),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(bad)?
            .decrypt_padded_vec_mut::<Pkcs7>(data),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad)?
            .decrypt_padded_vec_mut::<Pkcs7>(data),
        n => return Err(CryptoError::KeyLength(n)),
    };
    out.map_err(|_| CryptoError::BadPadding)
}

type Aes192Gcm = aes_gcm::AesGcm<aes::Aes192, aes_gcm::aead::consts::U12>;

fn gcm_seal(key: &[u8], nonce: &[u8], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce = aes_gcm::Nonce::from_slice(nonce);
    let payload = Payload { msg, aad };
    let bad = |_| CryptoError::KeyLength(key.len());
    let sealed = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .map_err(bad)?
            .encrypt(nonce, payload),
        24 => Aes192Gcm::new_from_slice(key)
            .map_err(bad)?
            .encrypt(nonce, payload),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .map_err(bad)?
            .encrypt(nonce, payload),
        n => return Err(CryptoError::KeyLength(n)),
    };
    sealed.map_err(|_| CryptoError::Unauthenticated)
}

fn gcm_open(key: &[u8], nonce: &[u8], msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce = aes_gcm::Nonce::from_slice(nonce);
    let payload = Payload { msg, aad };
    let bad = |_| CryptoError::KeyLength(key.len());
    let opened = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .map_err(bad)?
            .decrypt(nonce, payload),
        24 => Aes192Gcm::new_from_slice(key)
            .map_err(bad)?
            .decrypt(nonce, payload),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .map_err(bad)?
            .decrypt(nonce, payload),
        n => return Err(CryptoError::KeyLength(n)),
    };
    opened.map_err(|_| CryptoError::Unauthenticated)
}
