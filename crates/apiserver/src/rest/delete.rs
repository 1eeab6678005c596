//! delete and deletecollection, with finalizers, preconditions and graceful pod deletion.

use bytes::Bytes;
use http::Response;
use serde_json::{json, Value};

use super::read::respond_object;
use super::write::{current, persist, with_warnings, Written};
use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::objects;

#[derive(Default)]
pub struct DeleteOptions {
    pub grace: Option<i64>,
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

fn options(scope: &Scope<'_>, raw: &[u8]) -> ApiResult<DeleteOptions> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return options_from(scope, None);
    }
    let v = body::decode_object(scope.headers, raw)?;
    options_from(scope, Some(&v))
}

/// Delete options from a decoded `DeleteOptions` body (if any) and the query.
pub fn options_from(scope: &Scope<'_>, body: Option<&Value>) -> ApiResult<DeleteOptions> {
    let mut o = DeleteOptions::default();
    if let Some(v) = body {
        o.grace = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        o.propagation = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.resource_version = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(o2) = v.get("orphanDependents").and_then(Value::as_bool) {
            if o.propagation.is_none() {
                o.propagation = Some(if o2 { "Orphan" } else { "Background" }.to_string());
            }
        }
    }
    if let Some(g) = scope.param("gracePeriodSeconds").filter(|s| !s.is_empty()) {
        o.grace = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?,
        );
    }
    if let Some(p) = scope.param("propagationPolicy").filter(|s| !s.is_empty()) {
        o.propagation = Some(p.to_string());
    }
    match o.propagation.as_deref() {
        None | Some("Orphan" | "Background" | "Foreground") => Ok(o),
        Some(other) => Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            &[apimachinery::field::FieldError::not_supported(
                "propagationPolicy",
                other,
                &["Foreground", "Background", "Orphan", "nil"],
            )],
        )),
    }
}

pub async fn delete(scope: &Scope<'_>, name: &str, raw: Bytes) -> ApiResult<Response<Body>> {
    let opts = options(scope, &raw)?;
    crate::admission::on_delete(scope, name)?;
    let warnings = crate::webhooks::validate_delete(scope, name).await?;
    let (code, obj) = delete_with(scope, name, &opts).await?;
    Ok(with_warnings(respond_object(scope, code, &obj)?, &warnings))
}

/// Deletes one object with the given options; the reply code (200 gone, 202 pending) and
/// the object as it was left.
pub async fn delete_with(
    scope: &Scope<'_>,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<(u16, Value)> {
    for _ in 0..16 {
        let (old, rev) = current(scope, name).await?;
        match delete_one(scope, name, opts, old, rev).await {
            Ok(done) => return Ok(done),
            Err(Retry::Again) => continue,
            Err(Retry::Fail(e)) => return Err(e),
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

enum Retry {
    Again,
    Fail(ApiError),
}

impl From<ApiError> for Retry {
    fn from(e: ApiError) -> Self {
        Retry::Fail(e)
    }
}

async fn delete_one(
    scope: &Scope<'_>,
    name: &str,
    opts: &DeleteOptions,
    old: Value,
    rev: i64,
) -> Result<(u16, Value), Retry> {
    if let Some(uid) = &opts.uid {
        let actual = objects::meta_str(&old, "uid").unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict(
                scope.group(),
                scope.info.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            )
            .into());
        }
    }
    if let Some(p) = &opts.resource_version {
        if *p != rev.to_string() {
            return Err(ApiError::conflict(scope.group(), scope.info.plural, name, &format!(
                "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {rev}"
            ))
            .into());
        }
    }
    let mut new = old.clone();
    let mut finalizers = objects::finalizers(&old);
    let add = |f: &mut Vec<String>, name: &str| {
        if !f.iter().any(|x| x == name) {
            f.push(name.to_string());
        }
    };
    match opts.propagation.as_deref() {
        Some("Foreground") => add(&mut finalizers, "foregroundDeletion"),
        Some("Orphan") => add(&mut finalizers, "orphan"),
        _ => {}
    }
    let namespace_finalizers = scope.info.group.is_empty()
        && scope.info.plural == "namespaces"
        && old
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
    let grace = graceful_seconds(scope, &old, opts);
    let already_deleting = old.pointer("/metadata/deletionTimestamp").is_some();

    if finalizers.is_empty() && !namespace_finalizers && grace == 0 {
        if scope.dry_run() {
            return Ok((200, old));
        }
        return match scope.api.store.delete(&scope.key(name), Some(rev)).await {
            Ok(kv) => {
                crate::alloc::release(scope, &old).await;
                let mut v = old;
                crate::watch_cache::set_resource_version(&mut v, kv.mod_revision);
                Ok((200, v))
            }
            Err(store::Error::Conflict { .. }) => Err(Retry::Again),
            Err(store::Error::NotFound(_)) => Err(scope.not_found(name).into()),
            Err(e) => Err(ApiError::from(e).into()),
        };
    }
    // Deletion waits for finalizers (or for the node agent, for a running pod).
    if already_deleting && grace == 0 && objects::finalizers(&old) == finalizers {
        return Ok((202, old));
    }
    let meta = &mut new["metadata"];
    if !already_deleting {
        let when = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
            + time::Duration::seconds(grace);
        meta["deletionTimestamp"] = json!(when
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default());
        meta["deletionGracePeriodSeconds"] = json!(grace);
    }
    if !finalizers.is_empty() {
        meta["finalizers"] = json!(finalizers);
    }
    if namespace_finalizers {
        new["status"]["phase"] = json!("Terminating");
    }
    match persist(scope, name, new, &old, rev).await {
        Ok(Written::Deleted(v)) => Ok((200, v)),
        Ok(Written::Updated(v)) | Ok(Written::Unchanged(v)) => Ok((202, v)),
        Err(store::Error::Conflict { .. }) => Err(Retry::Again),
        Err(store::Error::NotFound(_)) => Err(scope.not_found(name).into()),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// Pods bound to a node get a grace period for the node agent to stop them; everything
/// else is deleted at once.
fn graceful_seconds(scope: &Scope<'_>, obj: &Value, opts: &DeleteOptions) -> i64 {
    if !(scope.info.group.is_empty() && scope.info.plural == "pods") {
        return 0;
    }
    let bound = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let terminal = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !bound || terminal {
        return 0;
    }
    opts.grace
        .or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0)
}

pub async fn delete_collection(scope: &Scope<'_>, raw: Bytes) -> ApiResult<Response<Body>> {
    let opts = options(scope, &raw)?;
    let filter = Filter::from_scope(scope)?;
    let (items, _) = scope.api.cache.list(&scope.prefix());
    let mut deleted = Vec::new();
    for o in items.iter().filter(|o| filter.matches(o)) {
        let v = o.value();
        let name = objects::name(&v).to_string();
        let ns_scope = Scope {
            api: scope.api,
            info: scope.info,
            strategy: scope.strategy,
            namespace: objects::meta_str(&v, "namespace").map(str::to_string),
            name: Some(name.clone()),
            query: scope.query,
            headers: scope.headers,
            user: scope.user,
        };
        for _ in 0..16 {
            let (old, rev) = match current(&ns_scope, &name).await {
                Ok(x) => x,
                Err(e) if e.code == 404 => break,
                Err(e) => return Err(e),
            };
            match delete_one(&ns_scope, &name, &opts, old, rev).await {
                Ok((_, obj)) => {
                    deleted.push(obj);
                    break;
                }
                Err(Retry::Again) => continue,
                Err(Retry::Fail(e)) if e.code == 404 => break,
                Err(Retry::Fail(e)) => return Err(e),
            }
        }
    }
    let list = json!({
        "kind": format!("{}List", scope.info.kind),
        "apiVersion": scope.info.api_version(),
        "metadata": { "resourceVersion": scope.api.cache.revision().to_string() },
        "items": deleted,
    });
    Ok(body::json_response(200, &list))
}
