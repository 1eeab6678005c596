//! The server's node join token: `--token`, else the one kept in `DIR/token`, else a new
//! one. The file always holds the full form (`K10<CA hash>::<credential>`, like k3s's
//! node-token), and the token's bootstrap Secret exists in kube-system.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::bootstrap_token::JoinToken;
use crate::server::StartError;
use crate::Api;

/// The join token this server uses: `--token`, else the one kept in `DIR/token`, else a new
/// one. Known before anything else starts, because it also unlocks the cluster's secrets in a
/// shared datastore.
pub fn resolve(data_dir: &Path, given: Option<&str>) -> Result<JoinToken, StartError> {
    let path = data_dir.join("token");
    let token = match given.filter(|t| !t.trim().is_empty()) {
        Some(t) => JoinToken::parse(t),
        None => match std::fs::read_to_string(&path) {
            Ok(s) => JoinToken::parse(&s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(StartError::DataDir { path, source }),
        },
    };
    Ok(token.unwrap_or_else(JoinToken::generate))
}

/// Writes `token` to `DIR/token` in its full form and makes its bootstrap Secret exist.
pub async fn ensure(
    api: &Arc<Api>,
    data_dir: &Path,
    token: &JoinToken,
) -> Result<PathBuf, StartError> {
    let path = data_dir.join("token");
    let io = |source| StartError::DataDir {
        path: path.clone(),
        source,
    };
    let ca = &api.authn.ca_pem;
    if token
        .ca_hash
        .as_deref()
        .is_some_and(|h| h != super::bootstrap_token::ca_hash(ca))
    {
        tracing::warn!("--token pins another cluster CA; agents will refuse this server's");
    }
    crate::server::write_private(&path, &format!("{}\n", token.render(ca))).map_err(io)?;
    crate::bootstrap::ensure(api, "", "secrets", token.secret_object()).await?;
    Ok(path)
}
