//! `--datastore-*`: where `skiff server` keeps the cluster's state (k3s's flag names).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use apiserver::Datastore;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DatastoreFlags {
    /// etcd members as comma-separated `http(s)://host:port` URLs; without it, the embedded
    /// SQLite database in the data dir.
    #[arg(long, value_delimiter = ',')]
    datastore_endpoint: Vec<String>,
    /// CA bundle that signed the etcd members' serving certificates.
    #[arg(long)]
    datastore_cafile: Option<PathBuf>,
    /// Client certificate for etcd (with `--datastore-keyfile`).
    #[arg(long, requires = "datastore_keyfile")]
    datastore_certfile: Option<PathBuf>,
    #[arg(long, requires = "datastore_certfile")]
    datastore_keyfile: Option<PathBuf>,
}

impl DatastoreFlags {
    pub fn to_config(&self) -> anyhow::Result<Datastore> {
        let endpoints: Vec<String> = self
            .datastore_endpoint
            .iter()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            if self.datastore_cafile.is_some() || self.datastore_certfile.is_some() {
                bail!("--datastore-cafile/--datastore-certfile need --datastore-endpoint");
            }
            return Ok(Datastore::Sqlite);
        }
        for e in &endpoints {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                bail!("--datastore-endpoint {e}: want http://host:port or https://host:port");
            }
        }
        let mut opts = store::EtcdOptions::new(endpoints);
        opts.ca_pem = self.datastore_cafile.as_deref().map(read).transpose()?;
        if let (Some(cert), Some(key)) = (&self.datastore_certfile, &self.datastore_keyfile) {
            opts.client_cert_pem = Some((read(cert)?, read(key)?));
        }
        Ok(Datastore::Etcd(opts))
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
