//! Start-up: data dir, store, PKI, listener, watch cache, bootstrap objects; then serve.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::client_cert::DeferredVerifier;
use crate::auth::UserInfo;
use crate::{
    alloc, bootstrap, certs, event_ttl, node_proxy, openapi, router, tls_options, watch_cache, Api,
};

/// Upstream's header limit (Go's `MaxHeaderBytes`); larger headers are answered 431.
const MAX_HEADER_BYTES: usize = 1 << 20;

pub struct Config {
    pub data_dir: PathBuf,
    pub bind_address: IpAddr,
    pub port: u16,
    pub service_cidr: String,
    pub cluster_domain: String,
    /// The node join token (`--token`); without one, the token kept in the data dir or a
    /// new one.
    pub join_token: Option<String>,
    /// `--audit-policy-file` and `--audit-log-*`.
    pub audit: Option<crate::audit::AuditConfig>,
    /// `--token-auth-file`.
    pub token_auth_file: Option<PathBuf>,
    /// `--max-requests-inflight`, `--max-mutating-requests-inflight` (0: no limit).
    pub max_requests_inflight: usize,
    pub max_mutating_requests_inflight: usize,
    pub tls: TlsFlags,
    /// `--encryption-provider-config`: upstream's `EncryptionConfiguration` file.
    pub encryption_provider_config: Option<PathBuf>,
    /// Where the cluster's state is kept.
    pub datastore: Datastore,
    /// `--etcd-compaction-interval`: how often history is compacted (zero: never).
    pub compaction_interval: std::time::Duration,
    /// Revisions of history each compaction keeps for watchers that reconnect.
    pub compaction_keep: i64,
}

/// The store behind the API.
#[derive(Debug, Clone, Default)]
pub enum Datastore {
    /// The embedded SQLite database in `<data-dir>/db/state.db`.
    #[default]
    Sqlite,
    /// An etcd cluster (`--datastore-endpoint`).
    Etcd(store::EtcdOptions),
}

/// The serving TLS flags, as given (checked when the server starts).
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    /// `--tls-min-version` (`VersionTLS12`, `VersionTLS13`; empty: 1.2).
    pub min_version: String,
    /// `--tls-cipher-suites` (empty: rustls's defaults).
    pub cipher_suites: Vec<String>,
    /// `--tls-cert-file` and `--tls-private-key-file`: a serving certificate (chain) and
    /// key to present instead of the one made from the cluster CA.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// The store, and the same store's metrics view.
type Opened = (Arc<dyn store::Store>, Arc<dyn store::Observe>);

async fn open_datastore(config: &Config) -> Result<Opened, StartError> {
    let interval = config.compaction_interval;
    Ok(match &config.datastore {
        Datastore::Sqlite => {
            let path = config.data_dir.join("db").join("state.db");
            let store = store::sqlite::SqliteStore::open(&path).await?;
            if !interval.is_zero() {
                store.spawn_compactor(interval, config.compaction_keep);
            }
            (store.clone(), store)
        }
        Datastore::Etcd(opts) => {
            let store = store::EtcdStore::connect(opts)
                .await
                .map(Arc::new)
                .map_err(|source| StartError::Datastore {
                    endpoints: opts.endpoints.join(","),
                    source,
                })?;
            if !interval.is_zero() {
                store.spawn_compactor(interval, config.compaction_keep);
            }
            (store.clone(), store)
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cluster bootstrap data: {0}")]
    Bootstrap(String),
    #[error("datastore {endpoints}: {source}")]
    Datastore {
        endpoints: String,
        source: store::Error,
    },
    #[error("data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] store::Error),
    #[error("certificates: {0}")]
    Certs(#[from] certs::CertError),
    #[error("{0}")]
    Cidr(#[from] alloc::CidrError),
    #[error("tls: {0}")]
    Tls(String),
    #[error("{0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error("{0}")]
    Encryption(#[from] crate::encryption::LoadError),
    #[error("token auth file {path}: {why}")]
    TokenFile { path: PathBuf, why: String },
    #[error("writing {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct RunningServer {
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    /// Where the node join token is written (`DIR/token`).
    pub token_file: PathBuf,
    pub serve: tokio::task::JoinHandle<()>,
    stop: crate::shutdown::Stop,
    /// The datastore as stored (values encrypted at rest stay encrypted), for snapshots.
    pub store: Arc<dyn store::Store>,
}

impl RunningServer {
    /// Stops accepting connections, lets requests in flight finish (bounded by
    /// `shutdown::DRAIN_TIMEOUT`), ends watches cleanly, and returns once that is done.
    pub async fn shutdown(self) {
        self.stop.begin();
        if let Err(e) = self.serve.await {
            tracing::warn!(error = %e, "server task ended badly");
        }
    }
}

fn check_writable(dir: &Path) -> Result<(), StartError> {
    let err = |source| StartError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(err)?;
    std::fs::remove_file(&probe).map_err(err)?;
    Ok(())
}

pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    check_writable(&config.data_dir)?;
    // Bad TLS flags are refused before anything is started or written.
    let versions = tls_options::min_version(&config.tls.min_version).map_err(StartError::Tls)?;
    let suites = tls_options::cipher_suites(&config.tls.cipher_suites).map_err(StartError::Tls)?;
    let serving = serving_override(&config.tls)?;
    let encryption = (config.encryption_provider_config.as_deref())
        .map(crate::encryption::load)
        .transpose()?;
    let addr = SocketAddr::new(config.bind_address, config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    let (raw_store, observed) = open_datastore(&config).await?;
    let token = crate::auth::join::resolve(&config.data_dir, config.join_token.as_deref())?;
    let shared_datastore = matches!(config.datastore, Datastore::Etcd(_));
    let had_ca = config.data_dir.join("tls").join("ca.key").exists();
    let shared = if shared_datastore {
        crate::shared_secrets::fetch(raw_store.as_ref(), &config.data_dir, &token).await?
    } else {
        None
    };
    let encryption = match (
        encryption,
        shared.as_ref().and_then(|s| s.encryption_config.as_ref()),
    ) {
        (Some(own), _) => Some(own),
        // A later server on a shared datastore uses the cluster's encryption config.
        (None, Some(text)) => {
            let path = config
                .data_dir
                .join(crate::shared_secrets::ENCRYPTION_CONFIG_FILE);
            write_private(&path, text).map_err(|source| StartError::DataDir {
                path: path.clone(),
                source,
            })?;
            Some(crate::encryption::load(&path)?)
        }
        (None, None) => None,
    };

    let alloc = alloc::Allocator::new(&config.service_cidr)?;
    let mut ips = vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(alloc.first_ip())];
    for ip in certs::host_addresses() {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if !config.bind_address.is_unspecified() && !ips.contains(&config.bind_address) {
        ips.push(config.bind_address);
    }
    let pki = certs::load_or_create(&certs::PkiSpec {
        dir: &config.data_dir.join("tls"),
        ips,
        cluster_domain: &config.cluster_domain,
    })?;
    // A user's serving chain's issuers join the cluster CA in the admin kubeconfig, so that
    // this process's own clients (and the admin) still verify the server.
    let trusted_ca = match &serving {
        Some((chain, _)) => format!("{}\n{}", pki.ca_cert_pem, issuers_pem(chain)?),
        None => pki.ca_cert_pem.clone(),
    };
    let (tls, verifier) = tls_config(&pki, versions, suites.as_deref(), serving)?;
    let sa_key = crate::auth::keys::load_or_create(&config.data_dir.join("tls"))?;
    if shared_datastore && shared.is_none() {
        let encryption_config = match &config.encryption_provider_config {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| StartError::DataDir {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        crate::shared_secrets::publish(
            raw_store.as_ref(),
            &config.data_dir,
            &token,
            encryption_config,
            had_ca,
        )
        .await?;
    }

    let store = raw_store.clone();
    let encryption = encryption.map(|t| crate::encryption::EncryptedStore::new(store.clone(), t));
    let store = encryption
        .clone()
        .map_or(store, |e| e as Arc<dyn store::Store>);
    let cache = watch_cache::WatchCache::start(store.clone()).await?;

    let advertise = if config.bind_address.is_unspecified() || config.bind_address.is_loopback() {
        certs::host_addresses()
            .into_iter()
            .find(|ip| !ip.is_loopback())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    } else {
        config.bind_address
    };
    let mut authn =
        crate::auth::Authn::new(sa_key, &config.cluster_domain, pki.ca_cert_pem.clone());
    if let Some(path) = &config.token_auth_file {
        let err = |why: String| StartError::TokenFile {
            path: path.clone(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        authn.static_tokens =
            crate::auth::token_file::parse(&text).map_err(|e| err(e.to_string()))?;
    }
    let audit = config
        .audit
        .as_ref()
        .map(crate::audit::Auditor::start)
        .transpose()?;
    let (stop, stopping) = crate::shutdown::channel();
    let api = Arc::new(Api {
        store,
        cache,
        alloc,
        server_address: format!("{advertise}:{}", addr.port()),
        openapi: openapi::OpenApiCache::default(),
        authn,
        authz: Default::default(),
        node_client: node_proxy::NodeClient::new(
            &pki.kubelet_client_cert_pem,
            &pki.kubelet_client_key_pem,
        )
        .map_err(StartError::Tls)?,
        custom: Default::default(),
        audit,
        inflight: crate::inflight::Limits::new(
            config.max_requests_inflight,
            config.max_mutating_requests_inflight,
        ),
        encryption,
        health: Default::default(),
        metrics: crate::metrics::ApiMetrics::new(observed),
        stopping: stopping.clone(),
    });
    bootstrap::run(&api, advertise, addr.port()).await?;
    crate::custom_resources::controller::load(&api);
    crate::custom_resources::controller::spawn(api.clone());
    let token_file = crate::auth::join::ensure(&api, &config.data_dir, &token).await?;
    event_ttl::spawn(api.clone(), event_ttl::DEFAULT_TTL);

    let host = if config.bind_address.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        config.bind_address
    };
    let server_url = match host {
        IpAddr::V6(v6) => format!("https://[{v6}]:{}", addr.port()),
        IpAddr::V4(v4) => format!("https://{v4}:{}", addr.port()),
    };
    let kubeconfig = config.data_dir.join("admin.kubeconfig");
    let kc = certs::client_kubeconfig(
        &trusted_ca,
        &server_url,
        "admin",
        &pki.admin_cert_pem,
        &pki.admin_key_pem,
    );
    write_private(&kubeconfig, &kc).map_err(|source| StartError::Kubeconfig {
        path: kubeconfig.clone(),
        source,
    })?;

    let serve = tokio::spawn(serve(
        listener,
        TlsAcceptor::from(Arc::new(tls)),
        verifier,
        api,
        stopping,
    ));
    Ok(RunningServer {
        addr,
        kubeconfig,
        token_file,
        serve,
        stop,
        store: raw_store,
    })
}

pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)
}

/// `--tls-cert-file` and `--tls-private-key-file` read: (chain PEM, key PEM), or `None`
/// to serve the certificate made from the cluster CA.
fn serving_override(flags: &TlsFlags) -> Result<Option<(String, String)>, StartError> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| StartError::Tls(format!("{}: {e}", p.display())))
    };
    match (&flags.cert_file, &flags.key_file) {
        (Some(c), Some(k)) => Ok(Some((read(c)?, read(k)?))),
        (None, None) => Ok(None),
        _ => Err(StartError::Tls(
            "--tls-cert-file and --tls-private-key-file go together".into(),
        )),
    }
}

/// The certificates of a PEM chain after its first (the leaf), as PEM.
fn issuers_pem(chain: &str) -> Result<String, StartError> {
    let mut out = String::new();
    for (i, cert) in rustls_pemfile::certs(&mut chain.as_bytes()).enumerate() {
        let der = cert.map_err(|e| StartError::Tls(format!("--tls-cert-file: {e}")))?;
        if i > 0 {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
    }
    Ok(out)
}

fn tls_config(
    pki: &certs::Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<&[rustls::CipherSuite]>,
    serving: Option<(String, String)>,
) -> Result<(rustls::ServerConfig, Arc<DeferredVerifier>), StartError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |e: &dyn std::fmt::Display| StartError::Tls(e.to_string());
    // Our own certificate goes out with the CA that signed it; a user's file is sent as
    // its chain stands.
    let (chain_pem, key_pem) = match serving {
        Some((c, k)) => (c, k),
        None => (
            format!("{}\n{}", pki.serving_cert_pem, pki.ca_cert_pem),
            pki.serving_key_pem.clone(),
        ),
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(&e))?;
    if certs.is_empty() {
        return Err(StartError::Tls(
            "no certificate in the serving certificate file".into(),
        ));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| tls_err(&e))?
        .ok_or_else(|| StartError::Tls("serving key missing".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut pki.ca_cert_pem.as_bytes()) {
        roots
            .add(ca.map_err(|e| tls_err(&e))?)
            .map_err(|e| tls_err(&e))?;
    }
    let provider = Arc::new(tls_options::restrict(
        rustls::crypto::ring::default_provider(),
        suites,
    ));
    // Client certificates are asked for but optional: other credentials arrive with
    // authentication; a certificate that is presented must chain to the cluster CA, which
    // is judged per request (401), as upstream does.
    let chain = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| tls_err(&e))?;
    let verifier = Arc::new(DeferredVerifier::new(chain));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| tls_err(&e))?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((cfg, verifier))
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    verifier: Arc<DeferredVerifier>,
    api: Arc<Api>,
    mut stopping: crate::shutdown::Stopping,
) {
    let connections = crate::shutdown::Connections::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopping.wait() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let open = connections.open();
        let mut stopping = stopping.clone();
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let (api, verifier) = (api.clone(), verifier.clone());
        tokio::spawn(async move {
            let _open = open;
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "tls handshake failed");
                    return;
                }
            };
            let identity = verifier.identify(tls.get_ref().1.peer_certificates());
            if identity.is_err() {
                tracing::debug!(%peer, "client certificate does not authenticate");
            }
            let invalid = identity.as_ref().err().copied();
            let user = Arc::new(identity.ok().flatten().unwrap_or_else(UserInfo::anonymous));
            let svc =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(user.clone());
                    if let Some(invalid) = invalid {
                        req.extensions_mut().insert(invalid);
                    }
                    // The audit log's source IP.
                    req.extensions_mut().insert(peer);
                    router::route(api.clone(), req)
                });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // Upstream's limits: headers up to 1 MiB (Go's MaxHeaderBytes; more is 431), at
            // most 1,000 streams per HTTP/2 connection, and a client that keeps resetting
            // streams it opened (rapid reset) is cut off rather than served.
            builder.http1().max_buf_size(MAX_HEADER_BYTES);
            builder
                .http2()
                .max_concurrent_streams(1000)
                .max_header_list_size(MAX_HEADER_BYTES as u32)
                .max_pending_accept_reset_streams(Some(100));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopping.wait() => {
                    // The request in flight finishes (watches end on the same signal),
                    // then HTTP/1.1 closes and HTTP/2 sends GOAWAY.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    tracing::info!("stopped accepting connections; draining requests in flight");
    if !connections.drained(crate::shutdown::DRAIN_TIMEOUT).await {
        tracing::warn!(
            timeout = ?crate::shutdown::DRAIN_TIMEOUT,
            "connections still open after the drain; closing them"
        );
    }
}
