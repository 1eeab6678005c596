//! The CRD controller, upstream's naming, establishing and finalizer controllers in one
//! loop over the watch cache: every CRD event rebuilds the served table; a new CRD gets
//! its accepted names, `NamesAccepted`/`Established` conditions and the cleanup finalizer;
//! a CRD being deleted loses its custom objects first (`Terminating`), then the finalizer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::Api;

pub const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
/// Upstream's finalizer: deleting a CRD first deletes every object of it.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Loads the CRDs in the cache into the served table; call before serving requests.
pub fn load(api: &Api) {
    let (items, _) = api.cache.list(PREFIX);
    let crds: Vec<Value> = items.iter().map(|o| o.value()).collect();
    api.custom.rebuild(&crds);
}

pub fn spawn(api: Arc<Api>) {
    tokio::spawn(async move { run(api).await });
}

async fn run(api: Arc<Api>) {
    loop {
        let (mut rx, items, _) = api.cache.subscribe_with_state(PREFIX);
        let mut terminating = reconcile_all(&api, items.iter().map(|o| o.value()).collect()).await;
        loop {
            // While a CRD is being deleted, look again every second: its objects may be
            // held by finalizers that other controllers remove.
            let tick = tokio::time::sleep(if terminating {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(3600)
            });
            let relevant = tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) => ev.obj.key.starts_with(PREFIX),
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
                _ = tick => true,
            };
            if relevant {
                let (items, _) = api.cache.list(PREFIX);
                terminating = reconcile_all(&api, items.iter().map(|o| o.value()).collect()).await;
            }
        }
    }
}

/// Returns whether some CRD is still being deleted.
async fn reconcile_all(api: &Arc<Api>, mut crds: Vec<Value>) -> bool {
    // Older CRDs keep their names when a newer one asks for the same.
    crds.sort_by(|a, b| {
        let ts = |v: &Value| {
            v.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ts(a).cmp(&ts(b))
    });
    let mut taken: HashMap<(String, String), String> = HashMap::new();
    let mut terminating = false;
    let mut wanted: Vec<Value> = Vec::with_capacity(crds.len());
    for crd in &crds {
        let name = str_at(crd, "/metadata/name").to_string();
        let conflict = claim_names(crd, &name, &mut taken);
        if crd.pointer("/metadata/deletionTimestamp").is_some() {
            wanted.push(crd.clone());
        } else {
            wanted.push(desired(crd, conflict.as_deref()));
        }
    }
    // Served before `Established=True` is written: a client that waits for the condition
    // may use the resource the moment it sees it.
    api.custom.rebuild(&wanted);
    api.openapi.invalidate(api.custom.snapshot().generation);
    for (crd, desired) in crds.iter().zip(&wanted) {
        let name = str_at(crd, "/metadata/name").to_string();
        if crd.pointer("/metadata/deletionTimestamp").is_some() {
            terminating = true;
            spawn_clean_up(api, crd, &name);
            continue;
        }
        if desired != crd {
            if let Err(e) = write(api, &name, desired, crd).await {
                tracing::debug!(crd = %name, error = %e, "updating CRD status (will retry on the next event)");
            }
        }
    }
    terminating
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Registers the CRD's names in its group; returns upstream's message for the first name
/// an older CRD already holds.
fn claim_names(
    crd: &Value,
    name: &str,
    taken: &mut HashMap<(String, String), String>,
) -> Option<String> {
    let group = str_at(crd, "/spec/group").to_string();
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let mut wanted: Vec<String> = ["plural", "singular", "kind", "listKind"]
        .iter()
        .map(|k| str_at(&names, &format!("/{k}")).to_string())
        .filter(|s| !s.is_empty())
        .collect();
    wanted.extend(
        names
            .get("shortNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string),
    );
    for w in &wanted {
        if let Some(owner) = taken.get(&(group.clone(), w.clone())) {
            if owner != name {
                return Some(format!("\"{w}\" is already in use"));
            }
        }
    }
    for w in wanted {
        taken.insert((group.clone(), w), name.to_string());
    }
    None
}

fn condition(
    old: Option<&Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let since = match old {
        Some(o) if o.get("status").and_then(Value::as_str) == Some(status) => o
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now)),
        _ => json!(now),
    };
    json!({"type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
}

/// The CRD with the finalizer, accepted names and conditions it should have.
fn desired(crd: &Value, conflict: Option<&str>) -> Value {
    let mut out = crd.clone();
    let now = crate::objects::now_rfc3339();
    let finalizers = crate::objects::finalizers(crd);
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        let mut list: Vec<Value> = finalizers.into_iter().map(Value::String).collect();
        list.push(json!(CLEANUP_FINALIZER));
        out["metadata"]["finalizers"] = Value::Array(list);
    }
    let old_conditions: Vec<Value> = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let old = |kind: &str| {
        old_conditions
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };
    let mut conditions: Vec<Value> = old_conditions
        .iter()
        .filter(|c| {
            !matches!(
                c.get("type").and_then(Value::as_str),
                Some("NamesAccepted" | "Established")
            )
        })
        .cloned()
        .collect();
    if !out.get("status").is_some_and(Value::is_object) {
        out["status"] = json!({});
    }
    match conflict {
        None => {
            conditions.push(condition(
                old("NamesAccepted"),
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                &now,
            ));
            conditions.push(condition(
                old("Established"),
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                &now,
            ));
            let mut accepted = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
            if let Some(m) = accepted.as_object_mut() {
                let kind = m
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                m.entry("singular")
                    .or_insert_with(|| json!(kind.to_lowercase()));
                m.entry("listKind")
                    .or_insert_with(|| json!(format!("{kind}List")));
            }
            out["status"]["acceptedNames"] = accepted;
        }
        Some(message) => {
            conditions.push(condition(
                old("NamesAccepted"),
                "NamesAccepted",
                "False",
                "NameConflict",
                message,
                &now,
            ));
            // Once established, a CRD stays served under the names it was accepted with
            // (`status.acceptedNames` is left as it is), as upstream's naming controller does.
            match old("Established") {
                Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {
                    conditions.push(c.clone())
                }
                _ => conditions.push(condition(
                    old("Established"),
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                    &now,
                )),
            }
            if out.pointer("/status/acceptedNames").is_none() {
                out["status"]["acceptedNames"] = json!({"plural": "", "kind": ""});
            }
        }
    }
    out["status"]["conditions"] = Value::Array(conditions);
    out
}

fn encode(v: &Value) -> bytes::Bytes {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    bytes::Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

async fn write(api: &Api, name: &str, new: &Value, old: &Value) -> Result<(), store::Error> {
    let rev = crate::objects::resource_version(old)
        .ok()
        .flatten()
        .unwrap_or(0);
    api.store
        .update(&format!("{PREFIX}{name}"), encode(new), rev)
        .await
        .map(|_| ())
}

/// One cleanup pass per CRD at a time, each in its own task, so deleting a large
/// collection never holds up naming and establishing other CRDs.
fn spawn_clean_up(api: &Arc<Api>, crd: &Value, name: &str) {
    let Ok(mut running) = api.custom.cleaning.lock() else {
        return;
    };
    if running.iter().any(|n| n == name) {
        return;
    }
    running.push(name.to_string());
    let (api, crd, name) = (api.clone(), crd.clone(), name.to_string());
    tokio::spawn(async move {
        if let Err(e) = clean_up(&api, &crd).await {
            tracing::warn!(crd = %name, error = %e, "cleaning up custom objects");
        }
        if let Ok(mut running) = api.custom.cleaning.lock() {
            running.retain(|n| *n != name);
        }
    });
}

/// Deletes the CRD's objects (objects with finalizers get a deletionTimestamp and are
/// waited for); once none is left, drops the cleanup finalizer so the CRD goes.
async fn clean_up(api: &Api, crd: &Value) -> Result<(), store::Error> {
    let name = str_at(crd, "/metadata/name");
    let storage = registry::crd_serving::storage_prefix(
        str_at(crd, "/spec/group"),
        str_at(crd, "/spec/names/plural"),
    );
    let key = format!("{PREFIX}{name}");
    let rev = crate::objects::resource_version(crd)
        .ok()
        .flatten()
        .unwrap_or(0);
    // Never delete what a built-in resource stores (validation refuses such CRDs; this
    // guards against stored leftovers): only the finalizer goes.
    if registry::catalog::all()
        .iter()
        .any(|r| !r.storage_prefix.is_empty() && r.storage_prefix == storage)
    {
        return drop_finalizer(api, crd, &key, rev).await;
    }
    let prefix = format!("/registry/{storage}/");
    let (objects, _) = api.cache.list(&prefix);
    let now = crate::objects::now_rfc3339();
    let mut waiting = 0usize;
    for o in &objects {
        let v = o.value();
        if crate::objects::finalizers(&v).is_empty() {
            match api.store.delete(&o.key, Some(o.mod_revision)).await {
                Ok(_) | Err(store::Error::NotFound(_)) | Err(store::Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        } else {
            waiting += 1;
            if v.pointer("/metadata/deletionTimestamp").is_none() {
                let mut marked = v.clone();
                marked["metadata"]["deletionTimestamp"] = json!(now);
                marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                match api
                    .store
                    .update(&o.key, encode(&marked), o.mod_revision)
                    .await
                {
                    Ok(_) | Err(store::Error::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let mut new = crd.clone();
    let mut conditions: Vec<Value> = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let old_term = conditions
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some("Terminating"));
    let message = if objects.is_empty() {
        "removed all instances".to_string()
    } else {
        format!(
            "CustomResource deletion is in progress ({} left, {waiting} waiting on finalizers)",
            objects.len()
        )
    };
    let cond = condition(
        old_term.map(|i| &conditions[i]),
        "Terminating",
        if objects.is_empty() { "False" } else { "True" },
        if objects.is_empty() {
            "InstanceDeletionCompleted"
        } else {
            "InstanceDeletionInProgress"
        },
        &message,
        &now,
    );
    match old_term {
        Some(i) => conditions[i] = cond,
        None => conditions.push(cond),
    }
    if !new.get("status").is_some_and(Value::is_object) {
        new["status"] = json!({});
    }
    new["status"]["conditions"] = Value::Array(conditions);
    // The cache may lag a create committed just now: the store has the last word on
    // whether anything is left.
    let left_in_store = api
        .store
        .list(
            &prefix,
            store::ListOptions {
                start_after: None,
                limit: Some(1),
                revision: None,
            },
        )
        .await?;
    if !objects.is_empty() || !left_in_store.kvs.is_empty() {
        if new != *crd {
            api.store.update(&key, encode(&new), rev).await?;
        }
        return Ok(());
    }
    drop_finalizer(api, &new, &key, rev).await
}

/// Removes the cleanup finalizer; the CRD goes if it was the last.
async fn drop_finalizer(api: &Api, crd: &Value, key: &str, rev: i64) -> Result<(), store::Error> {
    let rest: Vec<Value> = crate::objects::finalizers(crd)
        .into_iter()
        .filter(|f| f != CLEANUP_FINALIZER)
        .map(Value::String)
        .collect();
    if rest.is_empty() {
        api.store.delete(key, Some(rev)).await?;
    } else {
        let mut new = crd.clone();
        new["metadata"]["finalizers"] = Value::Array(rest);
        api.store.update(key, encode(&new), rev).await?;
    }
    Ok(())
}
