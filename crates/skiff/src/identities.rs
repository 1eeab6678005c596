//! The server's own components each talk to the apiserver as themselves, never as the
//! admin (`system:masters`): a client certificate from the cluster CA is minted at every
//! start for `system:kube-controller-manager`, `system:kube-scheduler`, and the
//! in-process agent's `system:node:<name>` in `system:nodes` (what a joined agent gets
//! through its CSR). The certificates live only in memory; a restart mints new ones.

use std::path::Path;

use anyhow::Context;
use base64::Engine;

/// A year: each start mints afresh, so only a server running a year without a restart
/// would outlive them (rotating them in a running server is still open).
const LIFETIME: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// A client of this server for `user` in `groups`, reaching it as the admin kubeconfig
/// does (address, trusted CAs), sending `User-Agent: {component}/...`.
pub async fn client_as(
    data_dir: &Path,
    admin_kubeconfig: &Path,
    user: &str,
    groups: &[&str],
    component: &str,
) -> anyhow::Result<kube::Client> {
    let (cert, key) = apiserver::issue_client_cert(&data_dir.join("tls"), user, groups, LIFETIME)
        .with_context(|| format!("minting the client certificate of {user}"))?;
    let mut kc = kube::config::Kubeconfig::read_from(admin_kubeconfig)
        .context("reading the admin kubeconfig")?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let auth: kube::config::AuthInfo = serde_json::from_value(serde_json::json!({
        "client-certificate-data": b64(&cert),
        "client-key-data": b64(&key),
    }))
    .context("building the component's credentials")?;
    for named in &mut kc.auth_infos {
        named.auth_info = Some(auth.clone());
    }
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(kube::Client::try_from(crate::named(cfg, component))?)
}

/// The identity of the node agent on `node` (the Node authorizer's subject).
pub fn node_user(node: &str) -> String {
    format!("system:node:{node}")
}
