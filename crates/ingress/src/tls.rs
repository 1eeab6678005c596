//! TLS termination: certificates from `kubernetes.io/tls` Secrets named by our Ingresses'
//! `spec.tls`, chosen by SNI (exact host, then `*.domain`), and a self-signed default for
//! other names (or the certificate of a `tls` entry without hosts).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("secret {0} is not of type kubernetes.io/tls")]
    NotTls(String),
    #[error("secret {0} lacks {1}")]
    Missing(String, &'static str),
    #[error("secret {0}: {1}")]
    Bad(String, String),
}

/// The certificates of one table generation.
#[derive(Debug, Default)]
pub struct Certs {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    fallback: Option<Arc<CertifiedKey>>,
}

impl Certs {
    fn find(&self, sni: &str) -> Option<&Arc<CertifiedKey>> {
        self.exact
            .get(sni)
            .or_else(|| self.wildcard.get(sni.split_once('.')?.1))
    }
}

/// Parsed Secrets, kept across rebuilds by `namespace/name` and resourceVersion so an
/// unchanged Secret is not parsed again.
#[derive(Default)]
pub struct ParsedSecrets(HashMap<String, (String, Arc<CertifiedKey>)>);

impl ParsedSecrets {
    fn get(&mut self, key: &str, secret: &Secret) -> Result<Arc<CertifiedKey>, Error> {
        let version = secret.metadata.resource_version.clone().unwrap_or_default();
        if let Some((v, ck)) = self.0.get(key) {
            if *v == version && !version.is_empty() {
                return Ok(ck.clone());
            }
        }
        let ck = Arc::new(certified_key(key, secret)?);
        self.0.insert(key.to_string(), (version, ck.clone()));
        Ok(ck)
    }
}

fn certified_key(key: &str, secret: &Secret) -> Result<CertifiedKey, Error> {
    if secret.type_.as_deref() != Some("kubernetes.io/tls") {
        return Err(Error::NotTls(key.into()));
    }
    let data = secret.data.as_ref();
    let field = |name: &'static str| {
        data.and_then(|d| d.get(name))
            .map(|b| b.0.clone())
            .ok_or_else(|| Error::Missing(key.into(), name))
    };
    let (crt, pem_key) = (field("tls.crt")?, field("tls.key")?);
    let bad = |e: String| Error::Bad(key.into(), e);
    let chain = rustls_pemfile::certs(&mut crt.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("tls.crt: {e}")))?;
    if chain.is_empty() {
        return Err(bad("tls.crt holds no certificate".into()));
    }
    let private = rustls_pemfile::private_key(&mut pem_key.as_slice())
        .map_err(|e| bad(format!("tls.key: {e}")))?
        .ok_or_else(|| bad("tls.key holds no private key".into()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| bad(format!("tls.key: {e}")))?;
    Ok(CertifiedKey::new(chain, signer))
}

/// The certificates our Ingresses (oldest first: the older keeps a host) ask for.
pub fn compile(
    ingresses: &[&Ingress],
    secrets: &HashMap<String, &Secret>,
    parsed: &mut ParsedSecrets,
) -> Certs {
    let mut certs = Certs::default();
    for ing in ingresses {
        let ns = ing.metadata.namespace.as_deref().unwrap_or("default");
        for tls in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            let Some(name) = tls.secret_name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let hosts = tls.hosts.as_deref().unwrap_or_default();
            certs.add(&format!("{ns}/{name}"), hosts, secrets, parsed);
        }
    }
    certs
}

impl Certs {
    /// Adds Secret `key`'s certificate for `hosts` (none: for names no other certificate
    /// covers), unless an earlier one has them.
    pub fn add(
        &mut self,
        key: &str,
        hosts: &[String],
        secrets: &HashMap<String, &Secret>,
        parsed: &mut ParsedSecrets,
    ) {
        let Some(secret) = secrets.get(key) else {
            tracing::debug!(secret = %key, "TLS secret not found");
            return;
        };
        let ck = match parsed.get(key, secret) {
            Ok(ck) => ck,
            Err(e) => {
                tracing::warn!(error = %e, "ingress TLS certificate unusable");
                return;
            }
        };
        if hosts.is_empty() && self.fallback.is_none() {
            self.fallback = Some(ck.clone());
        }
        for h in hosts {
            let h = h.to_ascii_lowercase();
            let map = match h.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_string()),
                None => self.exact.entry(h),
            };
            map.or_insert_with(|| ck.clone());
        }
    }
}

/// Picks the certificate by SNI from the current [`Certs`].
#[derive(Debug)]
pub struct SniResolver {
    pub certs: RwLock<Arc<Certs>>,
    default: Arc<CertifiedKey>,
}

impl SniResolver {
    pub fn new() -> Result<SniResolver, Error> {
        Ok(SniResolver {
            certs: RwLock::default(),
            default: Arc::new(self_signed()?),
        })
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = crate::read(&self.certs).clone();
        let found = hello.server_name().and_then(|sni| {
            if sni.bytes().any(|b| b.is_ascii_uppercase()) {
                certs.find(&sni.to_ascii_lowercase()).cloned()
            } else {
                certs.find(sni).cloned()
            }
        });
        Some(
            found
                .or_else(|| certs.fallback.clone())
                .unwrap_or_else(|| self.default.clone()),
        )
    }
}

/// The certificate for names no Ingress has one for, as other controllers' "fake"
/// certificate: clients that check names refuse it, which is the point.
fn self_signed() -> Result<CertifiedKey, Error> {
    let bad = |e: String| Error::Bad("default certificate".into(), e);
    let key = rcgen::KeyPair::generate().map_err(|e| bad(e.to_string()))?;
    let params = rcgen::CertificateParams::new(vec!["skiff-ingress-default".to_string()])
        .map_err(|e| bad(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| bad(e.to_string()))?;
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| bad(e.to_string()))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

/// The rustls server config: our resolver, ALPN h2 then http/1.1.
pub fn server_config(resolver: Arc<SniResolver>) -> Result<rustls::ServerConfig, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Bad("server config".into(), e.to_string()))?
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
