//! Subresources served by the apiserver itself: status, scale, namespace finalize, pod
//! binding and eviction (in `eviction.rs`). Node-agent streams (log, exec, ...) arrive with the node agent.

use bytes::Bytes;
use http::{Method, Response};
use serde_json::{json, Value};

use registry::crd_serving::{JsonPath, ScalePaths};

use super::read::respond_object;
use super::write::{
    cached_current, current, patch_current, persist, with_warnings, written_response,
};
use super::Scope;
use crate::body::{self, Body};
use crate::error::{ApiError, ApiResult};
use crate::objects;
use crate::webhooks::{self, Operation};

pub async fn handle(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    sub: &str,
    raw: Bytes,
) -> ApiResult<Response<Body>> {
    match (sub, method) {
        ("status", &Method::GET) => {
            let (obj, _) = current(scope, name).await?;
            respond_object(scope, 200, &obj)
        }
        ("status", &Method::PUT | &Method::PATCH)
            if scope.info.plural == "certificatesigningrequests" =>
        {
            super::csr_approval::handle_status(scope, method, name, &raw).await
        }
        ("status", &Method::PATCH) if super::write::is_apply(scope) => {
            apply_status(scope, name, &raw).await
        }
        ("status", &Method::PUT | &Method::PATCH) => write_status(scope, method, name, &raw).await,
        ("scale", &Method::GET) => {
            let (obj, rev) = current(scope, name).await?;
            Ok(body::json_response(
                200,
                &scale_of(&scale_paths(scope)?, &obj, rev),
            ))
        }
        ("scale", &Method::PUT | &Method::PATCH) => write_scale(scope, method, name, &raw).await,
        ("ephemeralcontainers", &Method::GET) => {
            let (obj, _) = current(scope, name).await?;
            respond_object(scope, 200, &obj)
        }
        ("ephemeralcontainers", &Method::PUT | &Method::PATCH) => {
            write_ephemeral_containers(scope, method, name, &raw).await
        }
        ("finalize", &Method::PUT) => finalize(scope, name, &raw).await,
        ("binding", &Method::POST) => bind(scope, name, &raw).await,
        ("eviction", &Method::POST) => super::eviction::evict(scope, name, &raw).await,
        ("token", &Method::POST) => super::token_request::create(scope, name, &raw).await,
        ("approval", _) => super::csr_approval::handle(scope, method, name, &raw).await,
        _ => Err(ApiError::method_not_supported(
            scope.info.group,
            &format!("{}/{sub}", scope.info.plural),
            method.as_str(),
        )),
    }
}

/// The new full object a PUT or PATCH on a subresource describes.
fn requested(scope: &Scope<'_>, method: &Method, old: &Value, raw: &[u8]) -> ApiResult<Value> {
    if *method == Method::PATCH {
        // As the main resource's PATCH: only a version the patch itself sets is a
        // precondition.
        patch_current(scope, old, raw)
    } else {
        body::decode_object(scope.headers, raw)
    }
}

async fn write_status(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    write_part(scope, method, name, "status", raw, |req, old| {
        prepared_status(scope, name, req, old)
    })
    .await
}

/// `old` with the status of `req` (only), defaulted and validated as the status
/// subresource's write, without a resourceVersion (the store's revision is it).
fn prepared_status(scope: &Scope<'_>, name: &str, req: &Value, old: &Value) -> ApiResult<Value> {
    let mut new = registry::generic::prepare_status_update(req, old);
    scope.strategy.default(&mut new);
    let errs = scope.strategy.validate_status_update(&new, old);
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            scope.group(),
            scope.info.kind,
            name,
            &errs,
        ));
    }
    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    Ok(new)
}

/// Server-side apply through `status`: the applied configuration's status (only) becomes
/// the object's, and the applier owns it under subresource `status`.
async fn apply_status(scope: &Scope<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let config = super::write::named_config(body::parse_yaml(raw)?, name)?;
    super::write::check_type(scope, &config)?;
    let precondition = objects::resource_version(&config)?;
    for _ in 0..16 {
        let (old, rev) = current(scope, name).await?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        let mut base = old.clone();
        if let Some(m) = base.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let applied =
            super::field_manager::apply(scope, name, Some(&base), &config, Some("status"))?;
        let mut new = prepared_status(scope, name, &applied, &old)?;
        // The applier's ownership comes with the applied object.
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            match applied.pointer("/metadata/managedFields") {
                Some(mf) => m.insert("managedFields".into(), mf.clone()),
                None => m.remove("managedFields"),
            };
        }
        match persist(scope, name, new, &old, rev).await {
            Ok(w) => return written_response(scope, w),
            Err(store::Error::Conflict { .. }) if precondition.is_none() => continue,
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::stale(scope.group(), scope.info.plural, name))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

/// `pods/ephemeralcontainers`: only the pod's ephemeral containers change, and only by
/// additions (see `registry::strategies::core::pod_ephemeral`).
async fn write_ephemeral_containers(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    use registry::strategies::core::pod_ephemeral;
    write_part(
        scope,
        method,
        name,
        "ephemeralcontainers",
        raw,
        |req, old| {
            let mut new = pod_ephemeral::prepare_update(req, old);
            let errs = pod_ephemeral::validate_update(&new, old);
            if !errs.is_empty() {
                return Err(ApiError::invalid(scope.group(), "Pod", name, &errs));
            }
            // A new ephemeral container changes the spec: the pod's generation says so
            // (PodObservedGenerationTracking).
            let spec_changed = new.get("spec") != old.get("spec");
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
                if spec_changed {
                    let generation = m.get("generation").and_then(Value::as_i64).unwrap_or(1);
                    m.insert("generation".into(), json!(generation + 1));
                }
            }
            Ok(new)
        },
    )
    .await
}

/// A PUT or PATCH of one part of an object: read, decode the request against the current
/// object, check its resourceVersion precondition, let `prepare` build the new object from
/// (request, current), and write it; a racing write without a precondition retries.
async fn write_part(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    sub: &str,
    raw: &[u8],
    prepare: impl Fn(&Value, &Value) -> ApiResult<Value>,
) -> ApiResult<Response<Body>> {
    for _ in 0..16 {
        let (old, rev) = current(scope, name).await?;
        let req = requested(scope, method, &old, raw)?;
        let (req, _) = objects::decode_typed(scope.info, scope.strategy, req)?;
        let precondition = objects::resource_version(&req)?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        // Webhooks see (and may patch) the whole requested object; `prepare` then keeps
        // only the part this subresource may change, so a mutation elsewhere is dropped
        // as upstream's status strategy drops it.
        let mut req = req;
        let mut warnings =
            webhooks::mutate(scope, Operation::Update, sub, &mut req, Some(&old)).await?;
        let new = prepare(&req, &old)?;
        let new = super::field_manager::track(scope, Some(&old), new, Some(sub))?;
        warnings.extend(
            webhooks::validate(scope, Operation::Update, sub, name, Some(&new), Some(&old)).await?,
        );
        match persist(scope, name, new, &old, rev).await {
            Ok(w) => return Ok(with_warnings(written_response(scope, w)?, &warnings)),
            Err(store::Error::Conflict { .. }) if precondition.is_none() => continue,
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::stale(scope.group(), scope.info.plural, name))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

fn scale_paths(scope: &Scope<'_>) -> ApiResult<ScalePaths> {
    scope.strategy.scale_paths().ok_or_else(ApiError::no_route)
}

/// The value at a simple JSON path (`.spec.replicas`).
fn at_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    JsonPath::parse(path).ok()?.find(obj).into_iter().next()
}

/// Sets the value at a simple JSON path, creating objects on the way.
fn set_path(obj: &mut Value, path: &str, value: Value) -> bool {
    let Some(fields) = JsonPath::parse(path).ok().and_then(|p| {
        p.fields()
            .map(|f| f.into_iter().map(str::to_string).collect::<Vec<_>>())
    }) else {
        return false;
    };
    let Some((last, parents)) = fields.split_last() else {
        return false;
    };
    let mut cur = obj;
    for f in parents {
        if !cur.get(f).is_some_and(Value::is_object) {
            cur[f.as_str()] = json!({});
        }
        cur = &mut cur[f.as_str()];
    }
    cur[last.as_str()] = value;
    true
}

/// `autoscaling/v1` Scale of a workload or custom resource.
fn scale_of(paths: &ScalePaths, obj: &Value, rev: i64) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|p| at_path(obj, p))
        .map(|s| {
            if s.is_string() {
                s.as_str().unwrap_or("").to_string()
            } else {
                selector_string(s)
            }
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": rev.to_string(),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": { "replicas": at_path(obj, &paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0) },
        "status": {
            "replicas": at_path(obj, &paths.status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// A metav1.LabelSelector (or a plain map) in the string syntax.
fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    let labels = sel
        .get("matchLabels")
        .or(if sel.get("matchExpressions").is_none() {
            Some(sel)
        } else {
            None
        });
    if let Some(m) = labels.and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

async fn write_scale(
    scope: &Scope<'_>,
    method: &Method,
    name: &str,
    raw: &[u8],
) -> ApiResult<Response<Body>> {
    let paths = scale_paths(scope)?;
    for _ in 0..16 {
        let (old, rev) = current(scope, name).await?;
        let scale = scale_of(&paths, &old, rev);
        let req = requested(scope, method, &scale, raw)?;
        let replicas = match req.pointer("/spec/replicas") {
            None => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| ApiError::bad_request("Scale.spec.replicas must be an integer"))?,
        };
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                &[apimachinery::field::FieldError::invalid(
                    "spec.replicas",
                    replicas,
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let precondition = objects::resource_version(&req)?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::stale(scope.group(), scope.info.plural, name));
        }
        let mut new = old.clone();
        if !set_path(&mut new, &paths.spec_replicas, json!(replicas)) {
            return Err(ApiError::internal(format!(
                "the scale subresource's path {} cannot be written",
                paths.spec_replicas
            )));
        }
        let errs = registry::generic::prepare_update(scope.info, scope.strategy, &mut new, &old);
        if !errs.is_empty() {
            return Err(ApiError::invalid(
                scope.group(),
                scope.info.kind,
                name,
                &errs,
            ));
        }
        let new = super::field_manager::track(scope, Some(&old), new, Some("scale"))?;
        match persist(scope, name, new, &old, rev).await {
            Ok(w) => {
                let v = match w {
                    super::write::Written::Updated(v)
                    | super::write::Written::Unchanged(v)
                    | super::write::Written::Deleted(v) => v,
                };
                let rv = objects::resource_version(&v)?.unwrap_or(rev);
                return Ok(body::json_response(200, &scale_of(&paths, &v, rv)));
            }
            Err(store::Error::Conflict { .. }) if precondition.is_none() => continue,
            Err(store::Error::Conflict { .. }) => {
                return Err(ApiError::stale(scope.group(), scope.info.plural, name))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

/// `namespaces/{name}/finalize`: replaces `spec.finalizers`; the namespace goes away once
/// it is being deleted and nothing holds it.
async fn finalize(scope: &Scope<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let req = body::decode_object(scope.headers, raw)?;
    for _ in 0..16 {
        let (old, rev) = current(scope, name).await?;
        let mut new = old.clone();
        new["spec"]["finalizers"] = req
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or(json!([]));
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        match persist(scope, name, new, &old, rev).await {
            Ok(w) => return written_response(scope, w),
            Err(store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale(scope.group(), scope.info.plural, name))
}

/// The pod once bound, as upstream's binding does it: the node, the binding's annotations,
/// PodScheduled=True, and no nominated node any more (it has a real one).
fn bound(old: &Value, binding: &Value, node: &str, now: &str) -> Value {
    let mut new = old.clone();
    new["spec"]["nodeName"] = json!(node);
    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Object(extra)) = binding.pointer("/metadata/annotations") {
            let anns = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(anns) = anns.as_object_mut() {
                for (k, v) in extra {
                    anns.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if !new.get("status").is_some_and(Value::is_object) {
        new["status"] = json!({});
    }
    if let Some(status) = new.get_mut("status").and_then(Value::as_object_mut) {
        status.remove("nominatedNodeName");
        let conditions = status.entry("conditions").or_insert_with(|| json!([]));
        if let Some(list) = conditions.as_array_mut() {
            let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
            match list.iter_mut().find(|c| c["type"] == "PodScheduled") {
                Some(c) if c["status"] == "True" => {}
                Some(c) => *c = scheduled,
                None => list.push(scheduled),
            }
        }
    }
    new
}

/// `pods/{name}/binding`: the scheduler's decision, set once.
async fn bind(scope: &Scope<'_>, name: &str, raw: &[u8]) -> ApiResult<Response<Body>> {
    let req = body::decode_object(scope.headers, raw)?;
    let node = req
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            &[apimachinery::field::FieldError::required("target.name", "")],
        ));
    }
    // The first attempt starts from the watch cache, which has the pod whenever the
    // scheduler saw it there (upstream's GuaranteedUpdate with a cached object). The copy
    // may be behind the store: a write from it fails the compare-and-swap, and a refusal or
    // a missing pod is confirmed from the store before it is answered. A dry run has no
    // compare-and-swap, so it reads the store.
    let mut cached = if scope.dry_run() {
        None
    } else {
        cached_current(scope, name)
    };
    for _ in 0..16 {
        let from_cache = cached.is_some();
        let (old, rev) = match cached.take() {
            Some(c) => c,
            None => current(scope, name).await?,
        };
        let assigned = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
        if from_cache && (assigned.is_some() || deleting) {
            continue;
        }
        if let Some(assigned) = assigned {
            return Err(ApiError::conflict(
                "",
                "pods",
                name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        if deleting {
            return Err(ApiError::conflict(
                "",
                "pods",
                name,
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        let new = bound(&old, &req, &node, &crate::objects::now_rfc3339());
        match persist(scope, name, new, &old, rev).await {
            Ok(_) => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
                return Ok(body::json_response(201, &status));
            }
            Err(store::Error::Conflict { .. }) => continue,
            // Gone since it was read (from the cache, or deleted in between): the next read
            // answers 404, or finds a pod created again under the name.
            Err(store::Error::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::stale("", "pods", name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_a_pod() {
        let old = json!({
            "metadata": {"name": "p", "resourceVersion": "7", "annotations": {"a": "1"}},
            "spec": {"containers": []},
            "status": {"phase": "Pending", "nominatedNodeName": "n1", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
        });
        let binding = json!({"metadata": {"annotations": {"b": "2"}}, "target": {"name": "n1"}});
        let got = bound(&old, &binding, "n1", "2026-12-05T10:00:00Z");
        expect_test::expect![[r#"{"metadata":{"name":"p","annotations":{"a":"1","b":"2"}},"spec":{"containers":[],"nodeName":"n1"},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-12-05T10:00:00Z"}]}}"#]]
            .assert_eq(&got.to_string());
        let fresh = bound(
            &json!({"metadata": {"name": "q"}, "spec": {}}),
            &json!({}),
            "n2",
            "t",
        );
        assert_eq!(fresh["status"]["conditions"][0]["status"], "True");
    }
}
