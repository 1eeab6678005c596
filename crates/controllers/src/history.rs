//! ControllerRevisions as the StatefulSet and DaemonSet controllers keep them (upstream
//! `pkg/controller/history`): each distinct pod template is stored once, named
//! `<owner>-<hash>`, numbered by `revision`, with `data` the strategic merge patch that puts
//! the template back (`{"spec":{"template":{..., "$patch":"replace"}}}`), which is what
//! `kubectl rollout undo` sends as its patch.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{json, Map, Value};

use crate::Error;

/// The label carrying the revision's hash, on revisions and on the pods made from them.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Upstream's alphabet for hash strings: no vowels, so no words, and no look-alike digits.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Longest owner-name prefix so that `<prefix>-<hash>` stays a valid name.
const MAX_PREFIX: usize = 223;

/// The patch that restores `template` on its owner.
pub fn template_patch(template: &PodTemplateSpec) -> Result<Value, Error> {
    let mut t = serde_json::to_value(template)?;
    if let Some(obj) = t.as_object_mut() {
        obj.insert("$patch".into(), json!("replace"));
    }
    Ok(json!({"spec": {"template": t}}))
}

/// The pod template a revision stores (its patch without the directive).
pub fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.0.get("spec")?.get("template")?.clone();
    t.as_object_mut()?.remove("$patch");
    serde_json::from_value(t).ok()
}

/// The revision's hash: 32-bit FNV-1a over the data's canonical JSON (sorted keys), then the
/// collision count as a decimal, encoded with upstream's safe alphabet.
pub fn hash(data: &Value, collision_count: i32) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(canonical(data).to_string().as_bytes());
    if collision_count != 0 {
        feed(collision_count.to_string().as_bytes());
    }
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

pub fn revision_name(owner: &str, hash: &str) -> String {
    let prefix: String = owner.chars().take(MAX_PREFIX).collect();
    format!("{prefix}-{hash}")
}

/// One more than the highest revision number (1 for none).
pub fn next_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions
        .iter()
        .filter_map(|r| r.revision)
        .max()
        .unwrap_or(0)
        + 1
}

/// Sorts by revision number, then name, as upstream's `SortControllerRevisions`.
pub fn sort(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        (a.revision.unwrap_or(0), &a.metadata.name)
            .cmp(&(b.revision.unwrap_or(0), &b.metadata.name))
    });
}

/// The revisions to delete so that at most `limit` remain besides those in `live` (the
/// current and update revisions and every revision a pod still runs), oldest first.
pub fn to_prune<'a>(
    sorted: &'a [ControllerRevision],
    live: &HashSet<String>,
    limit: i32,
) -> Vec<&'a str> {
    let dead: Vec<&str> = sorted
        .iter()
        .filter_map(|r| r.metadata.name.as_deref())
        .filter(|n| !live.contains(*n))
        .collect();
    let excess = dead
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    dead.into_iter().take(excess).collect()
}

/// The owner's side of a revision: who owns it, and what to copy onto it.
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub controller_ref: OwnerReference,
    /// The template's labels (so the owner's selector finds its revisions, as kubectl's
    /// `rollout history` looks them up).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

fn new_revision(
    owner: &Owner<'_>,
    data: &Value,
    number: i64,
    collision_count: i32,
) -> ControllerRevision {
    let h = hash(data, collision_count);
    let mut labels = owner.labels.clone();
    labels.insert(HASH_LABEL.into(), h.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(owner.name, &h)),
            namespace: Some(owner.namespace.into()),
            labels: Some(labels),
            annotations: (!owner.annotations.is_empty()).then(|| owner.annotations.clone()),
            owner_references: Some(vec![owner.controller_ref.clone()]),
            ..Default::default()
        },
        data: RawExtension(data.clone()),
        revision: Some(number),
    }
}

/// Finds or makes the revision for `data` (upstream `getStatefulSetRevisions` /
/// `constructHistory`): an equal revision is reused, renumbered to the newest if it is not
/// already; otherwise a new one is created, bumping `collision_count` while its name is taken
/// by different data. `sorted` is the owner's revisions, sorted; it is updated in place.
pub async fn ensure(
    api: &Api<ControllerRevision>,
    owner: &Owner<'_>,
    data: &Value,
    sorted: &mut Vec<ControllerRevision>,
    collision_count: &mut i32,
) -> Result<ControllerRevision, Error> {
    let next = next_revision(sorted);
    if let Some(pos) = sorted.iter().rposition(|r| &r.data.0 == data) {
        if pos + 1 == sorted.len() {
            return Ok(sorted[pos].clone());
        }
        let name = sorted[pos].metadata.name.clone().unwrap_or_default();
        let updated = api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"revision": next})),
            )
            .await?;
        sorted[pos] = updated.clone();
        sort(sorted);
        return Ok(updated);
    }
    loop {
        let rev = new_revision(owner, data, next, *collision_count);
        match api.create(&PostParams::default(), &rev).await {
            Ok(created) => {
                sorted.push(created.clone());
                sort(sorted);
                return Ok(created);
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let name = rev.metadata.name.unwrap_or_default();
                if let Some(existing) = api.get_opt(&name).await? {
                    let ours = existing
                        .metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|r| r.uid == owner.controller_ref.uid);
                    if ours && &existing.data.0 == data {
                        return Ok(existing);
                    }
                }
                *collision_count += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Deletes old revisions beyond the history limit.
pub async fn prune(
    api: &Api<ControllerRevision>,
    sorted: &[ControllerRevision],
    live: &HashSet<String>,
    limit: i32,
) -> Result<(), Error> {
    for name in to_prune(sorted, live, limit) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The owner's revisions among `all`, sorted: those it controls, and orphans whose labels
/// its selector matches, which it adopts (upstream `ClaimControllerRevisions`), so a set
/// recreated after an orphaning delete keeps its history and its pods' revisions.
pub async fn claim(
    api: &Api<ControllerRevision>,
    all: Vec<ControllerRevision>,
    owner: &OwnerReference,
    selector: &LabelSelector,
) -> Result<Vec<ControllerRevision>, Error> {
    let mut claimed = Vec::new();
    for rev in all {
        let controller = rev
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        match controller {
            Some(c) if c.uid == owner.uid => claimed.push(rev),
            Some(_) => {}
            None => {
                let labels = rev.metadata.labels.clone().unwrap_or_default();
                if crate::selector::is_empty(selector)
                    || !crate::selector::matches(selector, &labels)
                    || rev.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                let patch = json!({"metadata": {
                    "ownerReferences": [owner],
                    "uid": rev.metadata.uid,
                }});
                let name = rev.metadata.name.clone().unwrap_or_default();
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    Ok(adopted) => claimed.push(adopted),
                    Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409 | 422) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    sort(&mut claimed);
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, n: i64) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: RawExtension(json!({})),
            revision: Some(n),
        }
    }

    #[test]
    fn hash_is_stable_order_independent_and_safe() {
        let a = json!({"spec": {"template": {"a": 1, "b": [1, {"y": 2, "x": 1}]}}});
        let b = json!({"spec": {"template": {"b": [1, {"x": 1, "y": 2}], "a": 1}}});
        assert_eq!(hash(&a, 0), hash(&b, 0));
        assert_ne!(hash(&a, 0), hash(&a, 1));
        assert_ne!(hash(&a, 0), hash(&json!({"spec": {}}), 0));
        for c in hash(&a, 0).chars() {
            assert!(ALPHANUMS.contains(&(c as u8)), "{c}");
        }
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(revision_name("web", "abc"), "web-abc");
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), MAX_PREFIX + 2);
        assert_eq!(next_revision(&[]), 1);
        assert_eq!(next_revision(&[rev("a", 3), rev("b", 7)]), 8);
    }

    #[test]
    fn template_round_trips_through_patch() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .expect("template");
        let data = template_patch(&t).expect("patch");
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let r = ControllerRevision {
            data: RawExtension(data),
            ..rev("x", 1)
        };
        assert_eq!(template_of(&r), Some(t));
    }

    #[test]
    fn pruning_keeps_live_and_newest() {
        let revs: Vec<ControllerRevision> = (1..=5).map(|i| rev(&format!("r{i}"), i)).collect();
        let live: HashSet<String> = ["r1".to_string(), "r5".to_string()].into();
        // (limit, expected deletions)
        let cases: [(i32, &[&str]); 4] =
            [(10, &[]), (3, &[]), (2, &["r2"]), (0, &["r2", "r3", "r4"])];
        for (limit, want) in cases {
            assert_eq!(to_prune(&revs, &live, limit), want, "limit {limit}");
        }
    }
}
