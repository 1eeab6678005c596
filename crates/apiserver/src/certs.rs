//! The cluster's PKI: a CA, the apiserver's serving certificate and the admin client
//! certificate, created on first start under `DIR/tls` and reused afterwards.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("service account signing key: {0}")]
    Key(String),
}

/// PEM material the server and the kubeconfig need.
pub struct Pki {
    pub ca_cert_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    /// The apiserver's client certificate towards node agents (CN
    /// [`KUBELET_CLIENT_CN`], the only caller an agent lets in).
    pub kubelet_client_cert_pem: String,
    pub kubelet_client_key_pem: String,
}

/// The identity the apiserver presents to node agents (kubeadm's `apiserver-kubelet-client`).
pub const KUBELET_CLIENT_CN: &str = "kube-apiserver-kubelet-client";

/// Where the files live and what the serving certificate must name.
pub struct PkiSpec<'a> {
    pub dir: &'a Path,
    /// Extra IP SANs (the host's addresses, the bind address, the first service IP).
    pub ips: Vec<IpAddr>,
    pub cluster_domain: &'a str,
}

fn read(path: &Path) -> Result<Option<String>, CertError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CertError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    fs::write(path, contents).map_err(io)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

const TEN_YEARS: std::time::Duration = std::time::Duration::from_secs(3650 * 24 * 3600);

fn ten_years(params: &mut CertificateParams) {
    valid_for(params, TEN_YEARS);
}

/// Valid from an hour ago (clocks drift) for `lifetime`.
fn valid_for(params: &mut CertificateParams, lifetime: std::time::Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + lifetime;
}

/// A client certificate and its new key (PEM) for user `cn` in `groups` (the subject's
/// O entries, as the apiserver reads them), signed by `issuer`.
fn sign_client(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    groups: &[&str],
    lifetime: std::time::Duration,
) -> Result<(String, String), CertError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for g in groups {
        dn.push(DnType::OrganizationName, *g);
    }
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    valid_for(&mut params, lifetime);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A client certificate for `cn` in `groups` signed by the cluster CA kept in `dir`
/// (`ca.crt`, `ca.key`): what `skiff kubeconfig create` hands out.
pub fn issue_client_cert(
    dir: &Path,
    cn: &str,
    groups: &[&str],
    lifetime: std::time::Duration,
) -> Result<(String, String), CertError> {
    let need = |name: &str| {
        let path = dir.join(name);
        read(&path)?.ok_or_else(|| CertError::Io {
            path,
            source: std::io::ErrorKind::NotFound.into(),
        })
    };
    let (ca_cert_pem, ca_key_pem) = (need("ca.crt")?, need("ca.key")?);
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, KeyPair::from_pem(&ca_key_pem)?)?;
    sign_client(&issuer, cn, groups, lifetime)
}

/// Loads the PKI from `spec.dir`, creating whatever is missing.
pub fn load_or_create(spec: &PkiSpec<'_>) -> Result<Pki, CertError> {
    let dir = spec.dir;
    fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let p = |name: &str| dir.join(name);

    let (ca_cert_pem, ca_key_pem) = match (read(&p("ca.crt"))?, read(&p("ca.key"))?) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "skiff-ca");
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            ten_years(&mut params);
            let cert = params.self_signed(&key)?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            write(&p("ca.key"), &k, true)?;
            write(&p("ca.crt"), &c, false)?;
            (c, k)
        }
    };
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key)?;

    let (serving_cert_pem, serving_key_pem) =
        match (read(&p("serving.crt"))?, read(&p("serving.key"))?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let mut names = vec![
                    "localhost".to_string(),
                    "kubernetes".to_string(),
                    "kubernetes.default".to_string(),
                    "kubernetes.default.svc".to_string(),
                    format!("kubernetes.default.svc.{}", spec.cluster_domain),
                ];
                if let Ok(h) = fs::read_to_string("/proc/sys/kernel/hostname") {
                    let h = h.trim();
                    if !h.is_empty() {
                        names.push(h.to_string());
                    }
                }
                let mut params = CertificateParams::new(names)?;
                for ip in &spec.ips {
                    params.subject_alt_names.push(SanType::IpAddress(*ip));
                }
                let mut dn = DistinguishedName::new();
                dn.push(DnType::CommonName, "kube-apiserver");
                params.distinguished_name = dn;
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                ten_years(&mut params);
                let key = KeyPair::generate()?;
                let cert = params.signed_by(&key, &issuer)?;
                let (c, k) = (cert.pem(), key.serialize_pem());
                write(&p("serving.key"), &k, true)?;
                write(&p("serving.crt"), &c, false)?;
                (c, k)
            }
        };

    let (admin_cert_pem, admin_key_pem) = match (read(&p("admin.crt"))?, read(&p("admin.key"))?) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let (c, k) = sign_client(&issuer, "system:admin", &["system:masters"], TEN_YEARS)?;
            write(&p("admin.key"), &k, true)?;
            write(&p("admin.crt"), &c, false)?;
            (c, k)
        }
    };

    let (kubelet_client_cert_pem, kubelet_client_key_pem) = match (
        read(&p("apiserver-kubelet-client.crt"))?,
        read(&p("apiserver-kubelet-client.key"))?,
    ) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let (c, k) = sign_client(
                &issuer,
                KUBELET_CLIENT_CN,
                &["kubeadm:cluster-admins"],
                TEN_YEARS,
            )?;
            write(&p("apiserver-kubelet-client.key"), &k, true)?;
            write(&p("apiserver-kubelet-client.crt"), &c, false)?;
            (c, k)
        }
    };

    Ok(Pki {
        ca_cert_pem,
        serving_cert_pem,
        serving_key_pem,
        admin_cert_pem,
        admin_key_pem,
        kubelet_client_cert_pem,
        kubelet_client_key_pem,
    })
}

/// The IPv4 addresses configured on this host, read from the kernel's routing tables (no
/// extra dependency, no syscalls): every `/32 host LOCAL` entry of `/proc/net/fib_trie`.
pub fn host_addresses() -> Vec<IpAddr> {
    let Ok(trie) = fs::read_to_string("/proc/net/fib_trie") else {
        return Vec::new();
    };
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<&str> = None;
    for line in trie.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("|-- ") {
            last = Some(rest.trim());
        } else if t.contains("/32 host LOCAL") {
            if let Some(ip) = last.and_then(|s| s.parse::<IpAddr>().ok()) {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// An admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`).
pub fn admin_kubeconfig(pki: &Pki, server: &str) -> String {
    client_kubeconfig(
        &pki.ca_cert_pem,
        server,
        "admin",
        &pki.admin_cert_pem,
        &pki.admin_key_pem,
    )
}

/// A kubeconfig for `server` that trusts `ca_pem` and authenticates as user `user` with a
/// client certificate (all PEM, embedded).
pub fn client_kubeconfig(
    ca_pem: &str,
    server: &str,
    user: &str,
    cert_pem: &str,
    key_pem: &str,
) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: {user}\n    namespace: default\ncurrent-context: skiff\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\npreferences: {{}}\n",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
    )
}
