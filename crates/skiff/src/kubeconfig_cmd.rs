//! `skiff kubeconfig create`: a kubeconfig for a user, with a client certificate signed by
//! the cluster CA in the data dir (CN the user, one O per group, as the apiserver reads
//! them).

use std::path::{Path, PathBuf};

use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum KubeconfigCommand {
    /// Mint a client certificate for a user and print (or write) a kubeconfig using it.
    Create(CreateArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The user name (the certificate's CN).
    #[arg(long)]
    user: String,
    /// A group the user is in (the certificate's O); repeat for several.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// The server's data dir, holding tls/ca.crt, tls/ca.key and admin.kubeconfig.
    #[arg(long, default_value = "/var/lib/skiff")]
    data_dir: PathBuf,
    /// The API server URL; without it, the one in the data dir's admin kubeconfig.
    #[arg(long)]
    server: Option<String>,
    /// How long the certificate is valid.
    #[arg(long, default_value = "8760h", value_parser = crate::go_duration)]
    expiration: std::time::Duration,
    /// Where to write the kubeconfig (mode 0600); without it, stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

pub fn run(cmd: KubeconfigCommand) -> anyhow::Result<()> {
    match cmd {
        KubeconfigCommand::Create(args) => create(args),
    }
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    if args.user.trim().is_empty() {
        anyhow::bail!("--user must not be empty");
    }
    let server = match args.server {
        Some(s) => s,
        None => admin_server(&args.data_dir.join("admin.kubeconfig"))?,
    };
    let tls = args.data_dir.join("tls");
    let groups: Vec<&str> = args.groups.iter().map(String::as_str).collect();
    let (cert, key) = apiserver::issue_client_cert(&tls, &args.user, &groups, args.expiration)
        .context("signing the client certificate")?;
    let ca = std::fs::read_to_string(tls.join("ca.crt"))
        .with_context(|| format!("reading {}", tls.join("ca.crt").display()))?;
    let text = apiserver::client_kubeconfig(&ca, &server, &args.user, &cert, &key);
    match args.output {
        None => print!("{text}"),
        Some(path) => write_private(&path, &text)?,
    }
    Ok(())
}

/// The server URL of the admin kubeconfig's current context.
pub fn admin_server(path: &Path) -> anyhow::Result<String> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {} (or give --server)", path.display()))?;
    let cluster_name = kc
        .current_context
        .as_ref()
        .and_then(|cur| kc.contexts.iter().find(|c| &c.name == cur))
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    kc.clusters
        .iter()
        .find(|c| cluster_name.is_none() || Some(&c.name) == cluster_name.as_ref())
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .with_context(|| format!("{}: no server address", path.display()))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
