//! The service account signing key, created on first start as `DIR/tls/service-account.key`
//! (P-256, PKCS#8 PEM) and reused afterwards, so tokens outlive restarts.

use std::path::Path;

use rcgen::PublicKeyData;

use super::jwt::SigningKey;
use crate::certs::CertError;

pub fn load_or_create(dir: &Path) -> Result<SigningKey, CertError> {
    let path = dir.join("service-account.key");
    let io = |source| CertError::Io {
        path: path.clone(),
        source,
    };
    let pem = match std::fs::read_to_string(&path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pem = rcgen::KeyPair::generate()?.serialize_pem();
            std::fs::create_dir_all(dir).map_err(io)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, &pem).map_err(io)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            pem
        }
        Err(e) => return Err(io(e)),
    };
    let pair = rcgen::KeyPair::from_pem(&pem)?;
    SigningKey::from_pkcs8(&pair.serialize_der(), &pair.subject_public_key_info())
        .map_err(|e| CertError::Key(e.to_string()))
}
