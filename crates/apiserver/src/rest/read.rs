//! get and list.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::{BufMut, BytesMut};
use http::Response;
use serde_json::{json, Value};

use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::objects::parse_rv;
use crate::table::{self, IncludeObject};
use crate::watch_cache::{CachedObject, WatchCache};

pub async fn get(scope: &Scope<'_>, name: &str) -> ApiResult<Response<Body>> {
    let key = scope.key(name);
    // A get with resourceVersion="0" may be served from the cache; anything else reads the
    // store so a client always sees its own writes.
    let obj = match scope.param("resourceVersion") {
        Some("0") => scope.api.cache.get(&key),
        _ => {
            let (kv, _) = scope.api.store.get(&key).await?;
            kv.and_then(|kv| {
                CachedObject::from_store(kv.key, &kv.value, kv.mod_revision).map(Arc::new)
            })
        }
    };
    let obj = obj.ok_or_else(|| scope.not_found(name))?;
    respond_object(scope, 200, &obj.value_for(scope.info))
}

/// Writes one object back as JSON, or as a one-row Table if asked.
pub fn respond_object(scope: &Scope<'_>, code: u16, obj: &Value) -> ApiResult<Response<Body>> {
    let accept = scope
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if table::wants_table(accept) {
        let include = IncludeObject::parse(scope.param("includeObject"));
        let meta = json!({ "resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")) });
        let t = table::table(
            scope.info,
            scope.strategy,
            std::slice::from_ref(obj),
            include,
            meta,
            true,
        );
        return Ok(body::json_response(code, &t));
    }
    Ok(body::json_response(code, obj))
}

/// The continue token: the revision of the snapshot and the last key returned, relative to
/// the list's prefix.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, last_key: &str, prefix: &str) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: last_key
            .strip_prefix(prefix)
            .unwrap_or(last_key)
            .to_string(),
    };
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&t).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let invalid = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| invalid())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| invalid())?;
    if t.v != "meta.k8s.io/v1" || t.start.contains("..") || t.rv <= 0 {
        return Err(invalid());
    }
    Ok(t)
}

const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// Waits until the cache reflects every write acknowledged so far, so a list is consistent.
pub async fn consistent_cache_revision(
    cache: &WatchCache,
    store: &dyn store::Store,
) -> ApiResult<i64> {
    let current = store.current_revision().await?;
    if !cache.wait_for(current, Duration::from_secs(3)).await {
        return Err(ApiError::new(
            504,
            "Timeout",
            "Too large resource version: the watch cache is not up to date",
        ));
    }
    Ok(current)
}

pub async fn list(scope: &Scope<'_>) -> ApiResult<Response<Body>> {
    let filter = Filter::from_scope(scope)?;
    let prefix = scope.prefix();
    let limit = match scope.param("limit") {
        Some(l) if !l.is_empty() => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        _ => 0,
    };
    let rv_param = scope.param("resourceVersion").unwrap_or("");
    let rv_match = scope.param("resourceVersionMatch").unwrap_or("");
    if !rv_match.is_empty() && rv_param.is_empty() {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            &[apimachinery::field::FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            )],
        ));
    }

    let continue_token = scope.param("continue").filter(|c| !c.is_empty());
    let mut items: Vec<Arc<CachedObject>> = Vec::new();
    let (revision, next_key, remaining): (i64, Option<String>, Option<i64>);

    if let Some(token) = continue_token {
        if !rv_param.is_empty() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let t = decode_continue(token)?;
        let start = format!("{prefix}{}", t.start);
        let (got, more) = read_store_page(scope, &prefix, Some(&start), t.rv, limit, &filter)
            .await
            .map_err(|e| {
                if e.code == 410 {
                    ApiError::gone(EXPIRED_CONTINUE)
                } else {
                    e
                }
            })?;
        revision = t.rv;
        next_key = if more {
            got.last().map(|o| o.key.clone())
        } else {
            None
        };
        items = got;
        remaining = None;
    } else if rv_match == "Exact" {
        let rv = parse_rv(rv_param)?;
        let (got, more) = read_store_page(scope, &prefix, None, rv, limit, &filter).await?;
        revision = rv;
        next_key = if more {
            got.last().map(|o| o.key.clone())
        } else {
            None
        };
        items = got;
        remaining = None;
    } else {
        // Served from the cache: "0" = any state, "" = the latest, N = at least N.
        let wanted = match rv_param {
            "0" => 0,
            "" => consistent_cache_revision(&scope.api.cache, scope.api.store.as_ref()).await?,
            n => parse_rv(n)?,
        };
        if wanted > 0
            && !scope
                .api
                .cache
                .wait_for(wanted, Duration::from_secs(3))
                .await
        {
            return Err(ApiError::new(
                504,
                "Timeout",
                format!(
                    "Too large resource version: {wanted}, current: {}",
                    scope.api.cache.revision()
                ),
            ));
        }
        let (all, rev) = scope.api.cache.list(&prefix);
        revision = rev;
        let total = all.len() as i64;
        let mut seen = 0i64;
        let mut next = None;
        for o in all {
            seen += 1;
            if !filter.matches(&o) {
                continue;
            }
            items.push(o);
            if limit > 0 && items.len() as i64 >= limit {
                if seen < total {
                    next = items.last().map(|o| o.key.clone());
                }
                break;
            }
        }
        remaining = match &next {
            Some(_) if filter.is_empty() => Some(total - seen),
            _ => None,
        };
        next_key = next;
    }

    let continue_out = next_key.map(|k| encode_continue(revision, &k, &prefix));
    let mut list_meta = json!({ "resourceVersion": revision.to_string() });
    if let Some(c) = &continue_out {
        list_meta["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        list_meta["remainingItemCount"] = json!(r);
    }

    let accept = scope
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if table::wants_table(accept) {
        let include = IncludeObject::parse(scope.param("includeObject"));
        let values: Vec<Value> = items.iter().map(|o| o.value_for(scope.info)).collect();
        let t = table::table(
            scope.info,
            scope.strategy,
            &values,
            include,
            list_meta,
            true,
        );
        return Ok(body::json_response(200, &t));
    }
    // Objects are kept serialized; the list is spliced together without re-encoding them,
    // and streamed in bounded chunks rather than built whole (a list of 10k pods is ~8 MB).
    let head = json!({ "kind": format!("{}List", scope.info.kind), "apiVersion": scope.info.api_version(), "metadata": list_meta });
    let mut head = serde_json::to_vec(&head).unwrap_or_default();
    head.pop();
    head.extend_from_slice(b",\"items\":[");
    Ok(stream_list(head, items, scope.info))
}

/// Bytes per streamed chunk of a list.
const LIST_CHUNK: usize = 64 * 1024;

/// `head`, the items' JSON separated by commas, then `]}`, as a chunked body whose chunks
/// are built as the client reads them.
fn stream_list(
    head: Vec<u8>,
    items: Vec<Arc<CachedObject>>,
    info: &'static registry::ResourceInfo,
) -> Response<Body> {
    use http_body_util::BodyExt;
    let state = (Some(head), items.into_iter().enumerate(), false);
    let chunks = futures::stream::unfold(state, move |(head, mut items, done)| async move {
        if done {
            return None;
        }
        let mut out = BytesMut::with_capacity(LIST_CHUNK + 4096);
        if let Some(h) = head {
            out.put_slice(&h);
        }
        let mut finished = true;
        for (i, o) in items.by_ref() {
            if i > 0 {
                out.put_u8(b',');
            }
            out.put_slice(&o.json_for(info));
            if out.len() >= LIST_CHUNK {
                finished = false;
                break;
            }
        }
        if finished {
            out.put_slice(b"]}");
        }
        let frame = hyper::body::Frame::data(out.freeze());
        Some((Ok::<_, std::io::Error>(frame), (None, items, finished)))
    });
    let mut resp = Response::new(http_body_util::StreamBody::new(chunks).boxed());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Reads matching objects from the store at revision `rev`, after `start`, until `limit`
/// matches are found. Returns them and whether more keys follow.
async fn read_store_page(
    scope: &Scope<'_>,
    prefix: &str,
    start: Option<&str>,
    rev: i64,
    limit: i64,
    filter: &Filter,
) -> ApiResult<(Vec<Arc<CachedObject>>, bool)> {
    let mut out = Vec::new();
    let mut cursor = start.map(str::to_string);
    let batch = if limit > 0 {
        (limit as usize).max(100)
    } else {
        10_000
    };
    loop {
        let page = scope
            .api
            .store
            .list(
                prefix,
                store::ListOptions {
                    start_after: cursor.as_deref(),
                    limit: Some(batch),
                    revision: Some(rev),
                },
            )
            .await?;
        let n = page.kvs.len();
        for (i, kv) in page.kvs.into_iter().enumerate() {
            cursor = Some(kv.key.clone());
            let Some(o) = CachedObject::from_store(kv.key, &kv.value, kv.mod_revision) else {
                continue;
            };
            if !filter.matches(&o) {
                continue;
            }
            out.push(Arc::new(o));
            if limit > 0 && out.len() as i64 >= limit {
                let more = i + 1 < n || page.more;
                return Ok((out, more));
            }
        }
        if !page.more || n == 0 {
            return Ok((out, false));
        }
    }
}
