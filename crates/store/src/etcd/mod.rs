//! etcd v3 backend of [`Store`], through the `etcd-client` crate.
//!
//! The mapping is direct: a key is an etcd key (upstream's `/registry/...` layout, so
//! `etcdctl get --prefix /registry/` shows the cluster), a revision is etcd's revision, a
//! compare-and-swap is a `Txn` on the key's `create_revision`/`mod_revision`, and a watch is
//! an etcd watch with `prev_kv`. Layout: `errors` (etcd and gRPC errors → [`Error`]),
//! `watch` (etcd watch responses → our events), `compaction` (the shared compaction key and
//! the coordinated compactor).
//!
//! skiff's own bookkeeping lives under [`INTERNAL_PREFIX`] (outside `/registry/`), so that
//! several API servers on one etcd agree on it.
//!
//! **Architecture Invariant:** every call has a deadline ([`EtcdOptions::request_timeout`]),
//! so an unreachable etcd turns into an error the apiserver answers with 503/504, never a
//! request that hangs.

mod compaction;
mod errors;
mod observe;
mod watch;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, GetResponse, KvClient,
    PutOptions, TxnOp, TxnOpResponse,
};

use crate::keys::{prefix_end, scan_start};
use crate::{Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream};

pub use compaction::COMPACT_KEY;

/// Keys skiff keeps for itself in a shared etcd (compaction bookkeeping, cluster identity).
pub const INTERNAL_PREFIX: &str = "/skiff/";

/// Where and how to reach etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// `http://host:port` or `https://host:port` URLs of the members.
    pub endpoints: Vec<String>,
    /// PEM CA bundle that signed the members' serving certificates (https endpoints).
    pub ca_pem: Option<String>,
    /// PEM client certificate and key, when the members require client certificates.
    pub client_cert_pem: Option<(String, String)>,
    /// Deadline of every request (a watch only for being established).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>) -> EtcdOptions {
        EtcdOptions {
            endpoints,
            ca_pem: None,
            client_cert_pem: None,
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

pub struct EtcdStore {
    /// One lazily connected client per member: tonic's balanced channel keeps sending
    /// requests to a member that is down, so skiff chooses the member itself.
    members: Vec<Client>,
    /// The member requests go to until it fails to take one.
    current: AtomicUsize,
    timeout: Duration,
    metrics: crate::StoreMetrics,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to the members; fails if none answers within the connect timeout.
    pub async fn connect(opts: &EtcdOptions) -> Result<EtcdStore> {
        if opts.endpoints.is_empty() {
            return Err(Error::Unavailable("no etcd endpoints given".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        if opts.ca_pem.is_some() || opts.client_cert_pem.is_some() {
            let mut tls = etcd_client::TlsOptions::new();
            if let Some(ca) = &opts.ca_pem {
                tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &opts.client_cert_pem {
                tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
            }
            connect = connect.with_tls(tls);
        }
        let mut members = Vec::with_capacity(opts.endpoints.len());
        for endpoint in &opts.endpoints {
            let client = deadline(
                opts.connect_timeout,
                Client::connect([endpoint], Some(connect.clone())),
            )
            .await?;
            members.push(client);
        }
        let store = EtcdStore {
            members,
            current: AtomicUsize::new(0),
            timeout: opts.request_timeout,
            metrics: Default::default(),
        };
        // Clients connect lazily; one read proves a member answers.
        store.current_revision().await?;
        Ok(store)
    }

    /// Runs one KV write under the request deadline, on the current member, moving on to the
    /// next member only when a member could not be reached (the request was never
    /// delivered, so it cannot have taken effect).
    async fn kv_call<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(KvClient) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.on_member(Retry::Write, |client| call(client.kv_client()))
            .await
    }

    /// Runs `call` on the current member and on the others in turn while members fail; a
    /// read keeps cycling (an election takes a moment) until the request deadline.
    async fn on_member<T, F, Fut>(&self, retry: Retry, call: F) -> Result<T>
    where
        F: Fn(&Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.members.len();
        let start = tokio::time::Instant::now();
        let mut i = self.current.load(Ordering::Relaxed) % n;
        let mut tries = 0;
        // Whether every member so far refused the connection: then nobody is there to hold
        // an election, and waiting out the deadline would only hide the reason.
        let mut all_refused = true;
        loop {
            let left = self.timeout.saturating_sub(start.elapsed());
            let e = match tokio::time::timeout(left, call(&self.members[i])).await {
                Ok(Ok(v)) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(e)) if retry.elsewhere(&e) => {
                    self.avoid(i);
                    all_refused &= errors::not_delivered(&e);
                    errors::from_etcd(e)
                }
                Ok(Err(e)) => {
                    if errors::member_failed(&e) {
                        self.avoid(i);
                    }
                    return Err(errors::from_etcd(e));
                }
                // Sent but unanswered: a write may have taken effect, so nothing is resent.
                Err(_) => {
                    self.avoid(i);
                    return Err(Error::Timeout(format!(
                        "etcd did not answer within {:?}",
                        self.timeout
                    )));
                }
            };
            tries += 1;
            i = (i + 1) % n;
            let again = match retry {
                Retry::Write => tries < n,
                Retry::Read => {
                    !(all_refused && tries >= n) && start.elapsed() + RETRY_PAUSE < self.timeout
                }
            };
            if !again {
                return Err(e);
            }
            if tries % n == 0 {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }

    /// Sends later requests to the next member: once its connection broke, a member's
    /// client queues new requests until they time out instead of failing them.
    fn avoid(&self, member: usize) {
        let next = (member + 1) % self.members.len();
        let _ = self
            .current
            .compare_exchange(member, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A guarded write: `then` when `guard` holds, otherwise a read of the key so the caller
    /// can tell "absent" from "changed".
    async fn txn(
        &self,
        key: &str,
        guard: Compare,
        then: TxnOp,
    ) -> Result<(bool, Revision, Vec<TxnOpResponse>)> {
        let txn = etcd_client::Txn::new()
            .when([guard])
            .and_then([then])
            .or_else([TxnOp::get(key, None)]);
        let started = std::time::Instant::now();
        let resp = self
            .kv_call(|mut kv| {
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await
            .inspect_err(|_| {
                self.metrics.commit_failures.inc();
            })?;
        self.metrics.commit(started.elapsed(), 1);
        let revision = resp.header().map_or(0, |h| h.revision());
        Ok((resp.succeeded(), revision, resp.op_responses()))
    }

    async fn range(&self, key: Vec<u8>, opts: Option<GetOptions>) -> Result<GetResponse> {
        self.on_member(Retry::Read, |client| {
            // gRPC's default 4 MiB answer limit would fail the apiserver's unpaged start-up
            // list of any cluster bigger than that (e.g. one restored from a snapshot).
            let kv = client
                .kv_client()
                .max_decoding_message_size(MAX_RANGE_RESPONSE);
            let (mut kv, key, opts) = (kv, key.clone(), opts.clone());
            async move { kv.get(key, opts).await }
        })
        .await
    }
}

/// Largest range answer accepted (etcd's own default limit on what it sends is 2 GiB).
const MAX_RANGE_RESPONSE: usize = i32::MAX as usize;

/// Pause after every member failed a read once.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Which failures of a member send a request on to the next one.
#[derive(Clone, Copy)]
enum Retry {
    /// Reads and watches change nothing, so any member failure.
    Read,
    /// Only failures before the request left this process.
    Write,
}

impl Retry {
    fn elsewhere(self, e: &etcd_client::Error) -> bool {
        match self {
            Retry::Read => errors::member_failed(e),
            Retry::Write => errors::not_delivered(e),
        }
    }
}

async fn deadline<T>(
    timeout: Duration,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map_err(errors::from_etcd),
        Err(_) => Err(Error::Timeout(format!(
            "etcd did not answer within {timeout:?}"
        ))),
    }
}

fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: kv
            .key_str()
            .map_err(|_| Error::Corrupt("an etcd key is not UTF-8".into()))?
            .to_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

/// The key read by a failed guard (the `else` branch of [`EtcdStore::txn`]).
fn read_back(ops: &[TxnOpResponse]) -> Result<Option<KeyValue>> {
    match ops.first() {
        Some(TxnOpResponse::Get(get)) => get.kvs().first().map(to_kv).transpose(),
        _ => Ok(None),
    }
}

/// The previous value a put or delete returned (`prev_kv`).
fn prev_of(ops: &[TxnOpResponse]) -> Result<Option<KeyValue>> {
    match ops.first() {
        Some(TxnOpResponse::Put(put)) => put.prev_key().map(to_kv).transpose(),
        Some(TxnOpResponse::Delete(del)) => del.prev_kvs().first().map(to_kv).transpose(),
        _ => Ok(None),
    }
}

/// `[start, end)` for etcd: the empty key is not a valid etcd key, so a scan of everything
/// starts at `"\0"`.
fn range(prefix: &str, start_after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let mut start = scan_start(prefix, start_after);
    if start.is_empty() {
        start.push(0);
    }
    (start, prefix_end(prefix))
}

#[async_trait]
impl Store for EtcdStore {
    async fn current_revision(&self) -> Result<Revision> {
        let opts = GetOptions::new().with_count_only();
        let resp = self.range(COMPACT_KEY.into(), Some(opts)).await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(compaction::read(self).await?.revision)
    }

    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)> {
        let resp = self.range(key.into(), None).await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let kv = resp.kvs().first().map(to_kv).transpose()?;
        Ok((kv, revision))
    }

    async fn list(&self, prefix: &str, opts: ListOptions<'_>) -> Result<ListResult> {
        let (start, end) = range(prefix, opts.start_after);
        let mut get = GetOptions::new().with_range(end);
        if let Some(limit) = opts.limit {
            get = get.with_limit(limit as i64);
        }
        if let Some(rev) = opts.revision {
            get = get.with_revision(rev);
        }
        let resp = match self.range(start, Some(get)).await {
            Ok(resp) => resp,
            Err(e) => return Err(self.explain_revision_error(e, opts.revision).await),
        };
        let kvs = resp.kvs().iter().map(to_kv).collect::<Result<Vec<_>>>()?;
        let revision = opts
            .revision
            .unwrap_or_else(|| resp.header().map_or(0, |h| h.revision()));
        Ok(ListResult {
            kvs,
            revision,
            more: resp.more(),
        })
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let (start, end) = range(prefix, None);
        let opts = GetOptions::new().with_range(end).with_count_only();
        Ok(self.range(start, Some(opts)).await?.count())
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let guard = Compare::create_revision(key, CompareOp::Equal, 0);
        let put = TxnOp::put(key, value.to_vec(), None);
        let (ok, revision, _) = self.txn(key, guard, put).await?;
        if !ok {
            return Err(Error::AlreadyExists(key.to_owned()));
        }
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let guard = Compare::mod_revision(key, CompareOp::Equal, expected);
        let put = TxnOp::put(key, value.to_vec(), Some(PutOptions::new().with_prev_key()));
        let (ok, revision, ops) = self.txn(key, guard, put).await?;
        if !ok {
            return Err(conflict_or_missing(key, expected, read_back(&ops)?));
        }
        let create_revision = prev_of(&ops)?.map_or(revision, |p| p.create_revision);
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        // Unconditional deletes still need the key to exist: "mod_revision > 0".
        let guard = match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::mod_revision(key, CompareOp::Greater, 0),
        };
        let del = TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()));
        let (ok, revision, ops) = self.txn(key, guard, del).await?;
        if !ok {
            return Err(conflict_or_missing(
                key,
                expected.unwrap_or(0),
                read_back(&ops)?,
            ));
        }
        let prev = prev_of(&ops)?.ok_or_else(|| Error::NotFound(key.to_owned()))?;
        Ok(KeyValue {
            mod_revision: revision,
            ..prev
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let compacted = self.compacted_revision().await?;
        if after < compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted,
            });
        }
        Ok(self
            .metrics
            .count_watch(watch::open(self, prefix, after).await?))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        compaction::compact(self, revision).await
    }
}

fn conflict_or_missing(key: &str, expected: Revision, current: Option<KeyValue>) -> Error {
    match current {
        None => Error::NotFound(key.to_owned()),
        Some(current) => Error::Conflict {
            key: key.to_owned(),
            expected,
            current: Box::new(current),
        },
    }
}

impl EtcdStore {
    /// etcd says only "compacted" or "future revision"; the revisions come from us.
    async fn explain_revision_error(&self, e: Error, requested: Option<Revision>) -> Error {
        let Some(requested) = requested else { return e };
        match e {
            Error::Compacted { .. } => Error::Compacted {
                requested,
                compacted: self.compacted_revision().await.unwrap_or(requested + 1),
            },
            Error::FutureRevision { .. } => Error::FutureRevision {
                requested,
                current: self.current_revision().await.unwrap_or(requested - 1),
            },
            other => other,
        }
    }
}
