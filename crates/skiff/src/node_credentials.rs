//! A joined node's client certificate, rotated before it expires as a kubelet does with
//! `rotateCertificates`: at a random point between 70% and 90% of its validity the agent
//! asks for a new certificate with a CSR made under its current identity (approved as a
//! `selfnodeclient` renewal), writes it to `kubelet.kubeconfig` and starts presenting it.
//!
//! kube's client reads its certificate once, so the node's client is built here on a
//! rustls configuration whose client certificate is chosen per TLS handshake from a slot the
//! rotation swaps: new connections use the new certificate without rebuilding the client
//! that every agent loop holds a clone of, and open connections keep the old one until they
//! close (it stays valid until its own expiry).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::Api;
use kube::client::ConfigExt;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

/// How long a failed rotation waits before the next try.
const RETRY: Duration = Duration::from_secs(30);

/// The certificate presented on new connections.
#[derive(Debug)]
struct Slot(RwLock<Arc<CertifiedKey>>);

impl ResolvesClientCert for Slot {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|c| Arc::clone(&c))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(cert_pem: &str, key_pem: &str) -> anyhow::Result<CertifiedKey> {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the node certificate")?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .context("reading the node key")?
        .context("no private key in the node credentials")?;
    let key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| anyhow::anyhow!("the node key: {e}"))?;
    Ok(CertifiedKey::new(certs, key))
}

/// A node's credentials as kept in `kubelet.kubeconfig`.
struct Kept {
    server: String,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn read_kept(path: &Path) -> anyhow::Result<Kept> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let kc: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let field = |pointer: [&str; 3], name: &str| -> anyhow::Result<String> {
        let v = kc
            .get(pointer[0])
            .and_then(|l| l.get(0))
            .and_then(|e| e.get(pointer[1]))
            .and_then(|e| e.get(pointer[2]))
            .and_then(serde_yaml::Value::as_str)
            .with_context(|| format!("no {name} in {}", path.display()))?;
        Ok(v.trim().to_string())
    };
    let decode = |pointer: [&str; 3], name: &str| -> anyhow::Result<String> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(field(pointer, name)?)
            .with_context(|| format!("{name} is not base64"))?;
        String::from_utf8(raw).with_context(|| format!("{name} is not PEM"))
    };
    Ok(Kept {
        server: field(["clusters", "cluster", "server"], "server")?,
        ca_pem: decode(
            ["clusters", "cluster", "certificate-authority-data"],
            "certificate-authority-data",
        )?,
        cert_pem: decode(
            ["users", "user", "client-certificate-data"],
            "client-certificate-data",
        )?,
        key_pem: decode(["users", "user", "client-key-data"], "client-key-data")?,
    })
}

/// When the certificate should be replaced: at a random 70–90% of its validity. `None` if
/// it cannot be read.
fn rotation_due(cert_pem: &str) -> Option<std::time::SystemTime> {
    let der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let start = cert.validity().not_before.timestamp();
    let end = cert.validity().not_after.timestamp();
    let offset = (end - start) as f64 * (0.7 + 0.2 * rand::random::<f64>());
    let unix = start as f64 + offset;
    Some(std::time::UNIX_EPOCH + Duration::from_secs_f64(unix.max(0.0)))
}

/// The node's client on the kept credentials, whose certificate [`spawn_rotation`] can swap.
pub struct NodeClient {
    pub client: kube::Client,
    slot: Arc<Slot>,
    path: PathBuf,
}

impl NodeClient {
    pub async fn from_kept(path: &Path, server: Option<&str>) -> anyhow::Result<NodeClient> {
        let kept = read_kept(path)?;
        let server = server.unwrap_or(&kept.server);
        let slot = Arc::new(Slot(RwLock::new(Arc::new(certified_key(
            &kept.cert_pem,
            &kept.key_pem,
        )?))));
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut kept.ca_pem.as_bytes()) {
            roots
                .add(cert.context("reading the cluster CA")?)
                .context("adding the cluster CA")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_client_cert_resolver(slot.clone());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, kube::client::Body>(https);
        let url: http::Uri = server
            .parse()
            .with_context(|| format!("{server}: not a URL"))?;
        let config = crate::named(kube::Config::new(url), "kubelet");
        let service = tower::ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .layer(config.extra_headers_layer()?)
            .service(http);
        Ok(NodeClient {
            client: kube::Client::new(service, config.default_namespace),
            slot,
            path: path.to_path_buf(),
        })
    }

    /// Renews the certificate before it expires, for as long as the agent runs.
    pub fn spawn_rotation(&self, node: String, after: Option<Duration>) {
        let (client, slot, path) = (self.client.clone(), self.slot.clone(), self.path.clone());
        tokio::spawn(async move {
            loop {
                // `after` (tests) counts from now: certificates are backdated, so counting
                // from their start would make every one due at once.
                let due = match after {
                    Some(after) => Some(std::time::SystemTime::now() + after),
                    None => read_kept(&path)
                        .ok()
                        .and_then(|k| rotation_due(&k.cert_pem)),
                };
                let wait = match due {
                    Some(due) => due
                        .duration_since(std::time::SystemTime::now())
                        .unwrap_or(Duration::ZERO),
                    None => RETRY,
                };
                tokio::time::sleep(wait).await;
                match rotate(&client, &slot, &path, &node).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "rotating the node's client certificate");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        });
    }
}

async fn rotate(client: &kube::Client, slot: &Slot, path: &Path, node: &str) -> anyhow::Result<()> {
    let kept = read_kept(path)?;
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let (name, cert, key) = crate::join::request_certificate(&api, node).await?;
    let next = certified_key(&cert, &key)?;
    let yaml = crate::join::node_kubeconfig(&kept.server, &kept.ca_pem, &cert, &key);
    crate::join::write_private(path, &yaml)
        .with_context(|| format!("writing {}", path.display()))?;
    if let Ok(mut current) = slot.0.write() {
        *current = Arc::new(next);
    }
    tracing::info!(csr = %name, path = %path.display(), "rotated the node's client certificate");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_due_late_in_the_validity() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let start = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        p.not_before = start;
        p.not_after = start + time::Duration::seconds(1000);
        let pem = p.self_signed(&key).unwrap().pem();
        for _ in 0..20 {
            let due = rotation_due(&pem).unwrap();
            let secs = due
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            assert!(
                (1_800_000_700.0..=1_800_000_900.0).contains(&secs),
                "{secs}"
            );
        }
        assert!(rotation_due("not a certificate").is_none());
    }
}
