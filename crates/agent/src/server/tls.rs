//! The agent server's TLS: a self-signed serving certificate (as a kubelet makes one when
//! given none; the apiserver, like upstream's without `--kubelet-certificate-authority`,
//! does not verify it) and mandatory client certificates chained to the cluster CA, of
//! which only the apiserver's identity is let through.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// The common name of the client certificate the apiserver presents to agents (the
/// server's bootstrap issues it, as kubeadm's `apiserver-kubelet-client`).
pub const APISERVER_CLIENT_CN: &str = "kube-apiserver-kubelet-client";

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("agent server tls: {e}"))
}

/// Loads `DIR/kubelet.{crt,key}` or creates them for `names` (IPs or DNS names).
pub fn serving_cert(dir: &Path, names: &[String]) -> Result<(String, String), Error> {
    let (crt, key) = (dir.join("kubelet.crt"), dir.join("kubelet.key"));
    if let (Ok(c), Ok(k)) = (std::fs::read_to_string(&crt), std::fs::read_to_string(&key)) {
        return Ok((c, k));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(tls_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    let kp = rcgen::KeyPair::generate().map_err(tls_err)?;
    let cert = params.self_signed(&kp).map_err(tls_err)?;
    let (c, k) = (cert.pem(), kp.serialize_pem());
    std::fs::write(&key, &k).map_err(|e| Error::io(&key, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(&key, e))?;
    }
    std::fs::write(&crt, &c).map_err(|e| Error::io(&crt, e))?;
    Ok((c, k))
}

/// Server config: our certificate, and client certificates required and chained to `ca_pem`.
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
) -> Result<rustls::ServerConfig, Error> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(tls_err)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(tls_err)?
        .ok_or_else(|| tls_err("no private key"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(ca.map_err(tls_err)?).map_err(tls_err)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(tls_err)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(tls_err)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The common name of a (verified) client certificate.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?.as_str().ok()?;
    Some(cn.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with_cn(cn: &str) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn common_names() {
        for cn in [APISERVER_CLIENT_CN, "system:admin"] {
            assert_eq!(common_name(&cert_with_cn(cn)).as_deref(), Some(cn));
        }
    }

    #[test]
    fn serving_cert_is_made_once_and_loads() {
        let dir = std::env::temp_dir().join(format!("agent-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names = vec!["node-1".to_string(), "10.0.0.1".to_string()];
        let (c1, k1) = serving_cert(&dir, &names).expect("created");
        let (c2, k2) = serving_cert(&dir, &names).expect("loaded");
        assert_eq!((c1.clone(), k1.clone()), (c2, k2));
        let ca = rcgen::KeyPair::generate().expect("ca key");
        let mut params = rcgen::CertificateParams::default();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&ca).expect("ca").pem();
        assert!(server_config(&c1, &k1, &ca_pem).is_ok());
        assert!(server_config(&c1, &k1, "not a pem").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
