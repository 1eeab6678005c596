//! `skiff agent --server URL --token T`: a node joins with a bootstrap token, as a kubelet
//! does with TLS bootstrapping. The agent fetches the cluster CA (`/cacerts`) and checks it
//! against the hash the token pins, authenticates with the bootstrap token, asks for a
//! client certificate for `system:node:<name>` through a CertificateSigningRequest, waits
//! for the server to approve and sign it, and keeps the result in
//! `<data dir>/kubelet.kubeconfig`, which later starts use directly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::ByteString;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::node_credentials::NodeClient;

const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const ISSUE_TIMEOUT: Duration = Duration::from_secs(120);

pub fn kubeconfig_path(data_dir: &Path) -> PathBuf {
    data_dir.join("kubelet.kubeconfig")
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A kubeconfig for `server` with `user`'s fields (YAML lines under `user:`).
fn kubeconfig(server: &str, ca_pem: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: node\ncurrent-context: skiff\nusers:\n- name: node\n  user:\n{user}preferences: {{}}\n",
        ca = b64(ca_pem.as_bytes()),
    )
}

async fn client_from_yaml(yaml: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).context("parsing a kubeconfig")?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(kube::Client::try_from(crate::named(cfg, "kubelet"))?)
}

/// The CA the server presents, checked against the token's pin. Fetched without verifying
/// the server (there is nothing to verify it with yet): the pin is what makes it safe.
async fn fetch_ca(server: &str, token: &apiserver::JoinToken) -> anyhow::Result<String> {
    let url: http::Uri = server
        .parse()
        .with_context(|| format!("--server {server}: not a URL"))?;
    let mut cfg = kube::Config::new(url);
    cfg.accept_invalid_certs = true;
    let client = kube::Client::try_from(cfg)?;
    let req = http::Request::get("/cacerts")
        .body(Vec::new())
        .context("building the /cacerts request")?;
    let ca = client
        .request_text(req)
        .await
        .with_context(|| format!("fetching the cluster CA from {server}/cacerts"))?;
    if !ca.contains("-----BEGIN CERTIFICATE-----") {
        anyhow::bail!("{server}/cacerts did not return a certificate");
    }
    match &token.ca_hash {
        Some(pin) if *pin != apiserver::ca_hash(&ca) => anyhow::bail!(
            "the server's CA does not match the hash in --token (K10{pin}::...): refusing to join {server}"
        ),
        Some(_) => {}
        None => tracing::warn!(
            "--token pins no CA hash (K10<hash>::...); trusting the CA {server} presents"
        ),
    }
    Ok(ca)
}

fn csr_pem(node: &str) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate().context("generating the node key")?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("system:node:{node}"));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:nodes");
    let csr = params
        .serialize_request(&key)
        .context("building the certificate request")?;
    Ok((
        csr.pem().context("encoding the request")?,
        key.serialize_pem(),
    ))
}

fn refused(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 401)
}

/// Waits until the CSR has a certificate (PEM), or says why it never will.
async fn wait_issued(api: &Api<CertificateSigningRequest>, name: &str) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + ISSUE_TIMEOUT;
    loop {
        let csr = api
            .get(name)
            .await
            .with_context(|| format!("reading certificate signing request {name}"))?;
        let status = csr.status.unwrap_or_default();
        for c in status.conditions.unwrap_or_default() {
            if (c.type_ == "Denied" || c.type_ == "Failed") && c.status == "True" {
                anyhow::bail!(
                    "certificate signing request {name} {}: {}",
                    c.type_.to_lowercase(),
                    c.message.unwrap_or_default()
                );
            }
        }
        if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
            return String::from_utf8(cert.0).context("the issued certificate is not PEM");
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "certificate signing request {name} was not approved and issued within {}s (kubectl certificate approve {name})",
                ISSUE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The kept kubeconfig with a new certificate and key.
pub(crate) fn node_kubeconfig(server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    kubeconfig(
        server,
        ca_pem,
        &format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert_pem.as_bytes()),
            b64(key_pem.as_bytes())
        ),
    )
}

/// Asks for a client certificate for `system:node:<node>` through `api` (a bootstrap
/// token's client when joining, the node's own when renewing) and waits for it:
/// (CSR name, certificate PEM, key PEM).
pub(crate) async fn request_certificate(
    api: &Api<CertificateSigningRequest>,
    node: &str,
) -> anyhow::Result<(String, String, String)> {
    let (request, key) = csr_pem(node)?;
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("node-csr-".into()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request.into_bytes()),
            signer_name: SIGNER.into(),
            usages: Some(vec!["digital signature".into(), "client auth".into()]),
            ..Default::default()
        },
        status: None,
    };
    let created = match api.create(&PostParams::default(), &csr).await {
        Ok(c) => c,
        Err(e) if refused(&e) => {
            anyhow::bail!("the server refused the join token (401 Unauthorized): check --token")
        }
        Err(e) => return Err(e).context("creating the node's certificate signing request"),
    };
    let name = created.metadata.name.unwrap_or_default();
    tracing::info!(csr = %name, "waiting for the node's client certificate");
    let cert = wait_issued(api, &name).await?;
    Ok((name, cert, key))
}

/// A client for the node: from its kept kubeconfig, or by joining with `token`.
pub async fn client(
    server: &str,
    token: Option<&str>,
    node: &str,
    data_dir: &Path,
) -> anyhow::Result<NodeClient> {
    let path = kubeconfig_path(data_dir);
    if path.exists() {
        match kept(&path, server).await {
            Ok(client) => return Ok(client),
            // An expired certificate or a rebuilt cluster: join again, as a kubelet
            // bootstraps again when its certificate is no longer valid.
            Err(e) if token.is_some() => {
                tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "kept node credentials no longer work; joining again")
            }
            Err(e) => return Err(e),
        }
    }
    let Some(token) = token else {
        anyhow::bail!("pass --token (the server's <data dir>/token) or --kubeconfig");
    };
    let token = apiserver::JoinToken::parse(token).context("--token is empty")?;
    let ca = fetch_ca(server, &token).await?;
    let bootstrap = client_from_yaml(&kubeconfig(
        server,
        &ca,
        &format!("    token: {}\n", token.bearer()),
    ))
    .await?;
    let api: Api<CertificateSigningRequest> = Api::all(bootstrap);
    let (name, cert, key) = request_certificate(&api, node).await?;
    let yaml = node_kubeconfig(server, &ca, &cert, &key);
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    write_private(&path, &yaml).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(csr = %name, path = %path.display(), "joined: node credentials issued");
    NodeClient::from_kept(&path, Some(server)).await
}

/// A client from the kept kubeconfig, once the server has accepted it (the TLS handshake
/// checks both certificates).
async fn kept(path: &Path, server: &str) -> anyhow::Result<NodeClient> {
    let node = NodeClient::from_kept(path, Some(server)).await?;
    node.client
        .apiserver_version()
        .await
        .with_context(|| format!("{server} with the credentials in {}", path.display()))?;
    tracing::info!(path = %path.display(), "using the node's kept credentials");
    Ok(node)
}

pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_request_subject() {
        let (pem, _) = csr_pem("n1").expect("csr");
        let req = rcgen::CertificateSigningRequestParams::from_pem(&pem).expect("parse");
        let dn = &req.params.distinguished_name;
        assert_eq!(
            dn.get(&rcgen::DnType::CommonName),
            Some(&rcgen::DnValue::Utf8String("system:node:n1".into()))
        );
        assert_eq!(
            dn.get(&rcgen::DnType::OrganizationName),
            Some(&rcgen::DnValue::Utf8String("system:nodes".into()))
        );
        assert!(req.params.subject_alt_names.is_empty());
    }
}
