//! create, update and patch: decode, prepare through the registry, compare-and-swap.

use bytes::Bytes;
use http::Response;
use serde_json::Value;

use super::field_manager;
use super::read::respond_object;
use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, decode_typed, FieldValidation};
use crate::webhooks::{self, Operation};

/// Checks `apiVersion`/`kind` of a body against the endpoint, as upstream's decoder does.
pub(super) fn check_type(scope: &Scope<'_>, obj: &Value) -> ApiResult<()> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            compact(obj)
        )));
    }
    let expected = scope.info.api_version();
    if api_version != expected {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    if kind != scope.info.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            scope.info.kind
        )));
    }
    Ok(())
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!(
            "{}...",
            &s[..s
                .char_indices()
                .take(200)
                .last()
                .map(|(i, _)| i)
                .unwrap_or(0)]
        )
    } else {
        s
    }
}

/// Typed decode plus `fieldValidation` handling; returns the object and warnings.
fn decode(scope: &Scope<'_>, obj: Value) -> ApiResult<(Value, Vec<String>)> {
    decode_with(scope, obj, &[])
}

/// Keys a JSON request body repeats (upstream's strict decoding reports them); YAML and
/// protobuf bodies are not looked at.
fn duplicates(scope: &Scope<'_>, raw: &[u8]) -> Vec<String> {
    match body::content_type(scope.headers).as_str() {
        ""
        | "*/*"
        | "application/json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json" => {
            apimachinery::duplicate_fields::duplicate_fields(raw)
        }
        _ => Vec::new(),
    }
}

/// [`decode`], with the body's repeated keys: refused with `Strict`, warned about with
/// `Warn` (the default), as unknown fields are.
fn decode_with(scope: &Scope<'_>, obj: Value, dups: &[String]) -> ApiResult<(Value, Vec<String>)> {
    let mode = FieldValidation::parse(scope.param("fieldValidation"))?;
    let (decoded, unknown) = decode_typed(scope.info, scope.strategy, obj)?;
    let problems: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .chain(dups.iter().map(|f| format!("duplicate field \"{f}\"")))
        .collect();
    match mode {
        FieldValidation::Strict if !problems.is_empty() => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            problems.join(", ")
        ))),
        FieldValidation::Warn => Ok((decoded, problems)),
        _ => Ok((decoded, Vec::new())),
    }
}

pub(super) fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

/// The stored form of `obj`: without its resourceVersion (the store's revision is it), and
/// in the storage version where the resource has one apart (custom resources; their
/// conversion is None, so only `apiVersion` changes).
fn encode(scope: &Scope<'_>, obj: &Value) -> Bytes {
    Bytes::from(crate::stored::encode(
        obj,
        scope.strategy.storage_api_version(),
    ))
}

fn with_rv(mut obj: Value, rev: i64) -> Value {
    crate::watch_cache::set_resource_version(&mut obj, rev);
    obj
}

pub async fn create(scope: &Scope<'_>, raw: Bytes) -> ApiResult<Response<Body>> {
    let obj = body::decode_object(scope.headers, &raw)?;
    check_type(scope, &obj)?;
    let (obj, warnings) = decode_with(scope, obj, &duplicates(scope, &raw))?;
    create_decoded(scope, obj, &warnings, false).await
}

/// A generated name that is taken is drawn again this many times before the create fails
/// with AlreadyExists, as upstream's apiserver retries (RetryGenerateName, GA in 1.32): with
/// 27^5 suffixes, a ReplicaSet of 30,000 pods otherwise meets a few dozen collisions.
const GENERATED_NAME_RETRIES: usize = 7;

/// Kinds whose PUT creates a missing object, as upstream's `AllowCreateOnUpdate` (clients
/// such as leader election and endpoint reconcilers rely on it).
fn allow_create_on_update(scope: &Scope<'_>) -> bool {
    matches!(
        (scope.info.group, scope.info.plural),
        ("", "endpoints" | "events" | "limitranges")
            | ("events.k8s.io", "events")
            | ("coordination.k8s.io", "leases")
            | (
                "rbac.authorization.k8s.io",
                "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings"
            )
    )
}

/// `tracked`: the object's managedFields are already what they should be (server-side
/// apply); otherwise the write is recorded as an `Update` by its manager.
async fn create_decoded(
    scope: &Scope<'_>,
    mut obj: Value,
    warnings: &[String],
    tracked: bool,
) -> ApiResult<Response<Body>> {
    if scope.info.namespaced {
        let url_ns = scope.namespace.clone().unwrap_or_default();
        match objects::meta_str(&obj, "namespace") {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => obj["metadata"]["namespace"] = Value::String(url_ns.clone()),
        }
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let now = objects::now_rfc3339();
    let suffix = objects::random_suffix();
    let ctx = registry::generic::CreateContext {
        uid: &uid,
        now: &now,
        name_suffix: &suffix,
    };
    crate::admission::on_create(scope, &mut obj).await?;
    let mut warnings = warnings.to_vec();
    warnings.extend(webhooks::mutate(scope, Operation::Create, "", &mut obj, None).await?);
    let generated = objects::meta_str(&obj, "name").is_none_or(str::is_empty)
        && objects::meta_str(&obj, "generateName").is_some_and(|g| !g.is_empty());
    let errs = registry::generic::prepare_create(scope.info, scope.strategy, &mut obj, &ctx);
    let name = objects::name(&obj).to_string();
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            scope.group(),
            scope.info.kind,
            &name,
            &errs,
        ));
    }
    if !tracked {
        obj = field_manager::track(scope, None, obj, None)?;
    }
    if scope.info.namespaced {
        check_namespace_accepts(scope, scope.namespace.as_deref().unwrap_or(""), &name).await?;
    }
    // Every create path (POST, PUT creating, server-side apply creating) meets this.
    if scope
        .api
        .custom
        .snapshot()
        .is_terminating(scope.info.group, scope.info.plural)
    {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "create not allowed while custom resource definition is terminating",
        ));
    }
    crate::alloc::on_create(scope, &mut obj).await?;
    // Validating admission sees the object as it will be stored, allocations included.
    match webhooks::validate(scope, Operation::Create, "", &name, Some(&obj), None).await {
        Ok(w) => warnings.extend(w),
        Err(e) => {
            crate::alloc::release(scope, &obj).await;
            return Err(e);
        }
    }
    if let Err(e) = crate::admission::charge_quota(scope, &obj).await {
        crate::alloc::release(scope, &obj).await;
        return Err(e);
    }
    if scope.dry_run() {
        // Nothing is stored, so nothing stays allocated.
        crate::alloc::release(scope, &obj).await;
        return Ok(with_warnings(respond_object(scope, 201, &obj)?, &warnings));
    }
    let mut name = name;
    let mut retries = if generated { GENERATED_NAME_RETRIES } else { 0 };
    let mut stored = encode(scope, &obj);
    let kv = loop {
        match scope
            .api
            .store
            .create(&scope.key(&name), stored.clone())
            .await
        {
            Err(store::Error::AlreadyExists(_)) if retries > 0 => {
                retries -= 1;
                obj["metadata"]["name"] = Value::String(String::new());
                registry::generic::resolve_generate_name(&mut obj, &objects::random_suffix());
                name = objects::name(&obj).to_string();
                stored = encode(scope, &obj);
            }
            other => break other,
        }
    };
    let kv = match kv {
        Ok(kv) => kv,
        Err(store::Error::AlreadyExists(_)) => {
            crate::alloc::release(scope, &obj).await;
            return Err(ApiError::already_exists(
                scope.group(),
                scope.info.plural,
                &name,
            ));
        }
        Err(e) => {
            crate::alloc::release(scope, &obj).await;
            return Err(e.into());
        }
    };
    Ok(with_warnings(
        respond_stored(scope, obj, &stored, kv.mod_revision)?,
        &warnings,
    ))
}

/// The answer to a create: the stored bytes with the revision spliced in (as the watch
/// cache serves them) rather than the object serialized a second time. A Table, or a
/// resource stored in a version of its own, takes the general path.
fn respond_stored(
    scope: &Scope<'_>,
    obj: Value,
    stored: &[u8],
    rev: i64,
) -> ApiResult<Response<Body>> {
    let accept = scope
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if scope.strategy.storage_api_version().is_none() && !crate::table::wants_table(accept) {
        if let Some(served) = crate::stored::serve(stored, rev) {
            return Ok(body::bytes_response(201, "application/json", served.json));
        }
    }
    respond_object(scope, 201, &with_rv(obj, rev))
}

/// Refuses creates in a namespace that does not exist or is being deleted. As upstream's
/// NamespaceLifecycle, the namespace comes from the watch cache, and from the store only
/// when the cache does not have it (yet).
async fn check_namespace_accepts(scope: &Scope<'_>, ns: &str, name: &str) -> ApiResult<()> {
    let key = format!("/registry/namespaces/{ns}");
    let terminating = match scope.api.cache.get(&key) {
        Some(cached) => being_deleted(&cached.json),
        None => {
            let (kv, _) = scope.api.store.get(&key).await?;
            let Some(kv) = kv else {
                return Err(ApiError::not_found("", "namespaces", ns));
            };
            being_deleted(&kv.value)
        }
    };
    if terminating {
        return Err(ApiError {
            details: Some(serde_json::json!({"causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})),
            ..ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                crate::error::qualified(scope.group(), scope.info.plural),
            ))
        });
    }
    Ok(())
}

/// Whether a serialized object has `metadata.deletionTimestamp`; nothing else of it is read
/// into memory (every create in a namespace asks this of the namespace).
fn being_deleted(json: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Object {
        #[serde(default)]
        metadata: Meta,
    }
    #[derive(serde::Deserialize, Default)]
    struct Meta {
        #[serde(rename = "deletionTimestamp", default)]
        deletion_timestamp: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Object>(json).is_ok_and(|o| o.metadata.deletion_timestamp.is_some())
}

/// The object's current state from the store (the source of truth for writes).
pub async fn current(scope: &Scope<'_>, name: &str) -> ApiResult<(Value, i64)> {
    let (kv, _) = scope.api.store.get(&scope.key(name)).await?;
    let kv = kv.ok_or_else(|| scope.not_found(name))?;
    let obj = crate::stored::decode(&kv.value, kv.mod_revision)
        .ok_or_else(|| ApiError::internal(format!("stored object {name} is not valid JSON")))?;
    Ok((
        crate::watch_cache::to_version(scope.info, obj),
        kv.mod_revision,
    ))
}

/// The object as [`current`] gives it, from the watch cache where it has it: possibly
/// behind the store, so only for a write whose compare-and-swap catches that and retries
/// from [`current`].
pub fn cached_current(scope: &Scope<'_>, name: &str) -> Option<(Value, i64)> {
    let cached = scope.api.cache.get(&scope.key(name))?;
    let obj = cached.value_for(scope.info);
    obj.is_object().then_some((obj, cached.mod_revision))
}

pub enum Written {
    Updated(Value),
    Deleted(Value),
    Unchanged(Value),
}

/// Prepared `new` replaces `old` (read at `rev`) if nobody wrote in between. An object
/// that is being deleted and has no finalizers left is deleted instead.
pub async fn persist(
    scope: &Scope<'_>,
    name: &str,
    new: Value,
    old: &Value,
    rev: i64,
) -> Result<Written, store::Error> {
    let key = scope.key(name);
    if crate::stored::same_but_resource_version(&new, old) && !stale_at_rest(scope, &key).await {
        return Ok(Written::Unchanged(with_rv(old.clone(), rev)));
    }
    // A graceful deletion still pending (a pod whose node agent has not stopped it yet)
    // keeps the object; it goes when the grace period is set to zero.
    let finished = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_none_or(|g| g == 0)
        && objects::finalizers(&new).is_empty()
        && new
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
    if scope.dry_run() {
        return Ok(Written::Updated(with_rv(new, rev)));
    }
    if finished {
        let kv = scope.api.store.delete(&key, Some(rev)).await?;
        crate::alloc::release(scope, &new).await;
        return Ok(Written::Deleted(with_rv(new, kv.mod_revision)));
    }
    let kv = scope
        .api
        .store
        .update(&key, encode(scope, &new), rev)
        .await?;
    Ok(Written::Updated(with_rv(new, kv.mod_revision)))
}

/// An unchanged object is still written when its stored form uses an older encryption key
/// or provider: replacing every object is how upstream re-encrypts after a rotation.
async fn stale_at_rest(scope: &Scope<'_>, key: &str) -> bool {
    match &scope.api.encryption {
        Some(e) => e.is_stale(key).await,
        None => false,
    }
}

pub fn written_response(scope: &Scope<'_>, w: Written) -> ApiResult<Response<Body>> {
    match w {
        Written::Updated(v) | Written::Unchanged(v) | Written::Deleted(v) => {
            respond_object(scope, 200, &v)
        }
    }
}

const RETRIES: usize = 16;

/// Prepares `new` as an update of `old` (read at `rev`) and writes it; with the written
/// object come admission's warnings. `Ok(None)`: someone wrote in between, and a caller
/// without a resourceVersion precondition reads again.
async fn update_once(
    scope: &Scope<'_>,
    name: &str,
    mut new: Value,
    old: &Value,
    rev: i64,
    precondition: Option<i64>,
    tracked: bool,
) -> ApiResult<Option<(Written, Vec<String>)>> {
    crate::admission::on_update(scope, &mut new, old)?;
    let mut warnings = webhooks::mutate(scope, Operation::Update, "", &mut new, Some(old)).await?;
    let errs = registry::generic::prepare_update(scope.info, scope.strategy, &mut new, old);
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            scope.group(),
            scope.info.kind,
            name,
            &errs,
        ));
    }
    if !tracked {
        new = field_manager::track(scope, Some(old), new, None)?;
    }
    // Before allocation, whose updates have no release: a denied update leaks nothing.
    warnings.extend(
        webhooks::validate(scope, Operation::Update, "", name, Some(&new), Some(old)).await?,
    );
    crate::admission::charge_quota_update(scope, &new, old).await?;
    let taken = crate::alloc::on_update(scope, &mut new, old).await?;
    let persisted = persist(scope, name, new, old, rev).await;
    let stored = match &persisted {
        Ok(Written::Updated(v) | Written::Unchanged(v) | Written::Deleted(v)) => Some(v),
        Err(_) => None,
    };
    crate::alloc::settle_update(scope, taken, old, stored);
    match persisted {
        Ok(w) => Ok(Some((w, warnings))),
        Err(store::Error::Conflict { .. }) if precondition.is_none() => Ok(None),
        Err(store::Error::Conflict { .. }) => {
            Err(ApiError::stale(scope.group(), scope.info.plural, name))
        }
        Err(store::Error::NotFound(_)) => Err(scope.not_found(name)),
        Err(e) => Err(e.into()),
    }
}

pub async fn update(scope: &Scope<'_>, name: &str, raw: Bytes) -> ApiResult<Response<Body>> {
    let obj = body::decode_object(scope.headers, &raw)?;
    check_type(scope, &obj)?;
    let body_name = objects::name(&obj);
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let (obj, warnings) = decode_with(scope, obj, &duplicates(scope, &raw))?;
    let precondition = objects::resource_version(&obj)?;
    for _ in 0..RETRIES {
        let (old, rev) = match current(scope, name).await {
            Err(e) if e.code == 404 && precondition.is_none() && allow_create_on_update(scope) => {
                return create_decoded(scope, obj, &warnings, false).await;
            }
            other => other?,
        };
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        let mut new = obj.clone();
        if scope.info.namespaced {
            new["metadata"]["namespace"] =
                Value::String(scope.namespace.clone().unwrap_or_default());
        }
        if let Some((w, admitted)) =
            update_once(scope, name, new, &old, rev, precondition, false).await?
        {
            return Ok(with_warnings(
                written_response(scope, w)?,
                &[warnings, admitted].concat(),
            ));
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

/// Applies the request's patch to the current object `old`. A resourceVersion in the result
/// that came from the patch is a precondition; without one, a racing write means read and
/// patch again. So merge patches see the object without its version, and a JSON patch sees
/// it (kubectl's managed-fields migration tests and replaces it) but a version it leaves as
/// it was is no precondition.
pub fn patch_current(scope: &Scope<'_>, old: &Value, raw: &[u8]) -> ApiResult<Value> {
    let json_patch = body::content_type(scope.headers) == "application/json-patch+json";
    let current_rv = old.pointer("/metadata/resourceVersion").cloned();
    let mut base = old.clone();
    if !json_patch {
        if let Some(m) = base.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
    }
    let mut patched = apply_patch(scope, &base, raw)?;
    if json_patch && patched.pointer("/metadata/resourceVersion") == current_rv.as_ref() {
        if let Some(m) = patched.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
    }
    Ok(patched)
}

/// Applies a patch document of the request's content type to `old`.
pub fn apply_patch(scope: &Scope<'_>, old: &Value, raw: &[u8]) -> ApiResult<Value> {
    let ct = body::content_type(scope.headers);
    let patch_err = |e: apimachinery::patch::PatchError| {
        ApiError {
        details: e.cause().map(|c| serde_json::json!({ "causes": [{ "reason": "UnexpectedServerResponse", "message": c }] })),
        ..ApiError::new(e.status_code(), e.reason(), e.status_message())
    }
    };
    match ct.as_str() {
        "application/json-patch+json" => {
            let p = body::parse_json(raw)?;
            apimachinery::patch::json_patch(old, &p).map_err(patch_err)
        }
        "application/merge-patch+json" => {
            let p = body::parse_json(raw)?;
            apimachinery::patch::merge_patch(old, &p).map_err(patch_err)
        }
        "application/strategic-merge-patch+json"
            if registry::catalog::find(scope.info.group, scope.info.version, scope.info.plural)
                .is_none() =>
        {
            // Custom resources have no patch strategies to merge by, as upstream says.
            Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ))
        }
        "application/strategic-merge-patch+json" => {
            let p = body::parse_json(raw)?;
            let meta = registry::patch_meta::patch_meta_for(scope.info);
            apimachinery::patch::strategic_merge_patch(old, &p, &meta).map_err(patch_err)
        }
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "server-side apply is not supported yet by this server; use client-side apply (kubectl apply without --server-side)",
        )),
        other => Err(body::unsupported_media_type(other)),
    }
}

pub(super) fn is_apply(scope: &Scope<'_>) -> bool {
    matches!(
        body::content_type(scope.headers).as_str(),
        "application/apply-patch+yaml"
    )
}

/// The name in an applied configuration must be the URL's; a configuration without one
/// takes the URL's.
pub(super) fn named_config(config: Value, name: &str) -> ApiResult<Value> {
    let mut config = config;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration is not a JSON object",
        ));
    }
    match objects::meta_str(&config, "name") {
        Some(n) if !n.is_empty() && n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => {
            if !config.get("metadata").is_some_and(Value::is_object) {
                config["metadata"] = serde_json::json!({});
            }
            config["metadata"]["name"] = Value::String(name.to_string());
        }
    }
    Ok(config)
}

/// `PATCH` with `application/apply-patch+yaml`: server-side apply, creating the object if
/// it does not exist.
async fn server_side_apply(scope: &Scope<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let config = named_config(body::parse_yaml(raw)?, name)?;
    check_type(scope, &config)?;
    let precondition = objects::resource_version(&config)?;
    for _ in 0..RETRIES {
        let (old, rev) = match current(scope, name).await {
            Err(e) if e.code == 404 => {
                if precondition.is_some() {
                    return Err(e);
                }
                let obj = field_manager::apply(scope, name, None, &config, None)?;
                let (obj, warnings) = decode(scope, obj)?;
                return create_decoded(scope, obj, &warnings, true).await;
            }
            other => other?,
        };
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        let mut base = old.clone();
        if let Some(m) = base.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let applied = field_manager::apply(scope, name, Some(&base), &config, None)?;
        let (new, warnings) = decode(scope, applied)?;
        if let Some((w, admitted)) =
            update_once(scope, name, new, &old, rev, precondition, true).await?
        {
            return Ok(with_warnings(
                written_response(scope, w)?,
                &[warnings, admitted].concat(),
            ));
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

pub async fn patch(scope: &Scope<'_>, name: &str, raw: Bytes) -> ApiResult<Response<Body>> {
    if is_apply(scope) {
        return server_side_apply(scope, name, &raw).await;
    }
    for _ in 0..RETRIES {
        let (old, rev) = current(scope, name).await?;
        let patched = patch_current(scope, &old, &raw)?;
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patched object is not a JSON object",
            ));
        }
        check_type(scope, &patched)?;
        let (new, warnings) = decode_with(scope, patched, &duplicates(scope, &raw))?;
        let precondition = objects::resource_version(&new)?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        if objects::name(&new) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                objects::name(&new)
            )));
        }
        if let Some((w, admitted)) =
            update_once(scope, name, new, &old, rev, precondition, false).await?
        {
            return Ok(with_warnings(
                written_response(scope, w)?,
                &[warnings, admitted].concat(),
            ));
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn being_deleted_reads_only_the_deletion_timestamp() {
        let cases = [
            (
                r#"{"metadata":{"name":"ns","deletionTimestamp":"2026-12-06T00:00:00Z"},"spec":{"finalizers":["kubernetes"]}}"#,
                true,
            ),
            (
                r#"{"metadata":{"name":"ns","labels":{"a":"b"}},"status":{"phase":"Active"}}"#,
                false,
            ),
            (r#"{"kind":"Namespace"}"#, false),
            (r#"not json"#, false),
        ];
        for (json, want) in cases {
            assert_eq!(super::being_deleted(json.as_bytes()), want, "{json}");
        }
    }
}
