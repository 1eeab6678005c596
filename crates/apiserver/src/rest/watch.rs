//! watch: a stream of `{"type": ..., "object": ...}` lines, served from the watch cache.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::Scope;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::objects::parse_rv;
use crate::table::{self, IncludeObject};
use crate::watch_cache::{CacheEvent, CachedObject, Change, Since};

struct Watcher {
    info: &'static registry::ResourceInfo,
    strategy: &'static dyn registry::Strategy,
    prefix: String,
    filter: Filter,
    name: Option<String>,
    table: Option<IncludeObject>,
    bookmarks: bool,
}

impl Watcher {
    fn selects(&self, o: &CachedObject) -> bool {
        self.selects_parsed(o, &std::sync::OnceLock::new())
    }

    fn selects_parsed(
        &self,
        o: &CachedObject,
        parsed: &std::sync::OnceLock<serde_json::Value>,
    ) -> bool {
        if !o.key.starts_with(&self.prefix) {
            return false;
        }
        if let Some(n) = &self.name {
            if !o.key.ends_with(&format!("/{n}")) {
                return false;
            }
        }
        self.filter.matches_parsed(o, parsed)
    }

    /// The event a client sees, per upstream: a modification that moves an object into or
    /// out of the selection is an ADDED or DELETED.
    fn translate(&self, ev: &CacheEvent) -> Option<(&'static str, Arc<CachedObject>)> {
        let now = self.selects_parsed(&ev.obj, &ev.obj_parsed);
        let before = ev
            .prev
            .as_ref()
            .is_some_and(|p| self.selects_parsed(p, &ev.prev_parsed));
        match ev.change {
            Change::Added if now => Some(("ADDED", ev.obj.clone())),
            Change::Modified if now && before => Some(("MODIFIED", ev.obj.clone())),
            Change::Modified if now => Some(("ADDED", ev.obj.clone())),
            Change::Modified if before => Some(("DELETED", ev.obj.clone())),
            Change::Deleted if now || before => Some(("DELETED", ev.obj.clone())),
            _ => None,
        }
    }

    fn encode(&self, kind: &str, obj: &CachedObject) -> Bytes {
        match self.table {
            None => {
                let json = obj.json_for(self.info);
                let mut out = Vec::with_capacity(json.len() + 32);
                out.extend_from_slice(b"{\"type\":\"");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b"\",\"object\":");
                out.extend_from_slice(&json);
                out.extend_from_slice(b"}\n");
                Bytes::from(out)
            }
            Some(include) => {
                let v = obj.value_for(self.info);
                let meta = json!({ "resourceVersion": obj.mod_revision.to_string() });
                let t = table::table(
                    self.info,
                    self.strategy,
                    std::slice::from_ref(&v),
                    include,
                    meta,
                    true,
                );
                line(kind, &t)
            }
        }
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({ "resourceVersion": rev.to_string() });
        if initial_end {
            meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let obj = json!({ "kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta });
        line("BOOKMARK", &obj)
    }
}

fn line(kind: &str, obj: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({ "type": kind, "object": obj })).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn error_line(e: &ApiError) -> Bytes {
    line("ERROR", &e.to_status())
}

pub async fn watch(scope: &Scope<'_>) -> ApiResult<Response<Body>> {
    let filter = Filter::from_scope(scope)?;
    let accept = scope
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let w = Watcher {
        info: scope.info,
        strategy: scope.strategy,
        prefix: scope.prefix(),
        filter,
        name: scope.name.clone(),
        table: table::wants_table(accept)
            .then(|| IncludeObject::parse(scope.param("includeObject"))),
        bookmarks: scope
            .param("allowWatchBookmarks")
            .is_some_and(|v| v == "true"),
    };
    let send_initial = scope.param("sendInitialEvents").map(|v| v == "true");
    let rv_param = scope.param("resourceVersion").unwrap_or("").to_string();
    let timeout = match scope.param("timeoutSeconds").filter(|s| !s.is_empty()) {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        ),
        // Upstream spreads long watches between 30 and 60 minutes.
        None => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
    };
    if send_initial == Some(true) && !w.bookmarks {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            &[apimachinery::field::FieldError::forbidden(
                "allowWatchBookmarks",
                "allowWatchBookmarks required when sendInitialEvents is true",
            )],
        ));
    }

    let cache = scope.api.cache.clone();
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(256);

    // Decide the starting point before answering, so a too-old version fails in the stream's
    // first event as upstream does.
    let initial_state = send_initial.unwrap_or(rv_param.is_empty() || rv_param == "0");
    let (sub, initial, start_rev): (
        broadcast::Receiver<Arc<CacheEvent>>,
        Vec<Arc<CachedObject>>,
        i64,
    );
    let mut pending_error = None;
    let mut history = Vec::new();
    if initial_state {
        if rv_param.is_empty() {
            crate::rest::read::consistent_cache_revision(&cache, scope.api.store.as_ref()).await?;
        }
        let (s, items, rev) = cache.subscribe_with_state(&w.prefix);
        sub = s;
        initial = items;
        start_rev = rev;
    } else {
        let after = parse_rv(&rv_param)?;
        if after > cache.revision() && !cache.wait_for(after, Duration::from_secs(3)).await {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!(
                    "Too large resource version: {after}, current: {}",
                    cache.revision()
                ),
            ));
        }
        let (s, since) = cache.subscribe_since(after);
        sub = s;
        initial = Vec::new();
        start_rev = after;
        if let Since::TooOld { oldest } = &since {
            pending_error = Some(ApiError::too_old(after, *oldest));
        }
        if let Since::Events(evs) = since {
            history = evs;
        }
    }

    let counted = scope.api.metrics.watch_started(
        scope.info,
        scope.namespace.is_some() && scope.info.namespaced,
    );
    let mut stopping = scope.api.stopping.clone();
    tokio::spawn(async move {
        let _counted = counted;
        // Returning drops the sender: the body ends as a normal end of stream.
        let events = stream_events(
            w,
            sub,
            initial,
            history,
            start_rev,
            send_initial == Some(true),
            pending_error,
            tx,
            timeout,
        );
        tokio::select! {
            _ = events => {}
            _ = stopping.wait() => {}
        }
    });

    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body: Body = StreamBody::new(stream).boxed();
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
async fn stream_events(
    w: Watcher,
    mut sub: broadcast::Receiver<Arc<CacheEvent>>,
    initial: Vec<Arc<CachedObject>>,
    history: Vec<Arc<CacheEvent>>,
    start_rev: i64,
    initial_end_bookmark: bool,
    pending_error: Option<ApiError>,
    tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
    timeout: Duration,
) {
    let send = |b: Bytes| {
        let tx = tx.clone();
        async move { tx.send(Ok(Frame::data(b))).await.is_ok() }
    };
    if let Some(e) = pending_error {
        let _ = send(error_line(&e)).await;
        return;
    }
    for o in &initial {
        if w.selects(o) && !send(w.encode("ADDED", o)).await {
            return;
        }
    }
    if initial_end_bookmark && !send(w.bookmark(start_rev, true)).await {
        return;
    }
    let mut last = start_rev;
    for ev in history {
        last = ev.revision;
        if let Some((kind, obj)) = w.translate(&ev) {
            if !send(w.encode(kind, &obj)).await {
                return;
            }
        }
    }
    // The timers and the closed-receiver future live across events: a busy watch would
    // otherwise register a fresh timer and waker for every event it is woken for.
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let gone = tx.clone();
    let closed = gone.closed();
    tokio::pin!(closed);
    let mut ticker = tokio::time::interval(Duration::from_secs(30));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = &mut closed => return,
            _ = ticker.tick() => {
                if w.bookmarks && !send(w.bookmark(last, false)).await {
                    return;
                }
            }
            ev = sub.recv() => match ev {
                Ok(ev) => {
                    // Whatever else is already waiting goes out in the same turn.
                    let mut next = Some(ev);
                    while let Some(ev) = next.take() {
                        if ev.revision > last {
                            last = ev.revision;
                            if let Some((kind, obj)) = w.translate(&ev) {
                                if !send(w.encode(kind, &obj)).await {
                                    return;
                                }
                            }
                        }
                        next = match sub.try_recv() {
                            Ok(ev) => Some(ev),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => return,
                            Err(_) => None,
                        };
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // The client resumes from its last resourceVersion, which the cache's
                    // history still holds; ending the stream is the honest thing to do.
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
