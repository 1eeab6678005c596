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
}

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

fn ten_years(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(3650);
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
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "system:admin");
            dn.push(DnType::OrganizationName, "system:masters");
            params.distinguished_name = dn;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            ten_years(&mut params);
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &issuer)?;
            let (c, k) = (cert.pem(), key.serialize_pem());
            write(&p("admin.key"), &k, true)?;
            write(&p("admin.crt"), &c, false)?;
            (c, k)
        }
    };

    Ok(Pki {
        ca_cert_pem,
        serving_cert_pem,
        serving_key_pem,
        admin_cert_pem,
        admin_key_pem,
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
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: admin\n    namespace: default\ncurrent-context: skiff\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\npreferences: {{}}\n",
        ca = b64(&pki.ca_cert_pem),
        cert = b64(&pki.admin_cert_pem),
        key = b64(&pki.admin_key_pem),
    )
}
