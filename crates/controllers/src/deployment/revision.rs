//! Which ReplicaSet is the new one, which revision it carries, and which annotations a
//! Deployment passes on to it (upstream `FindNewReplicaSet`, `SetNewReplicaSetAnnotations`,
//! `cleanupDeployment`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::rsinfo::{self, by_creation, REVISION, REVISION_HISTORY};

/// Upstream keeps the revision history annotation under this many characters.
const MAX_HISTORY_CHARS: usize = 2000;

/// Deployment annotations that stay on the Deployment (upstream `skipCopyAnnotation`).
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    rsinfo::DESIRED_REPLICAS,
    rsinfo::MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Drops nulls and empty objects/arrays, so templates that differ only in how "nothing"
/// is written compare equal.
fn normalize(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> = m
                .into_iter()
                .filter_map(|(k, v)| normalize(v).map(|v| (k, v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            let a: Vec<Value> = a.into_iter().filter_map(normalize).collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        other => Some(other),
    }
}

fn canonical_without_hash(t: &PodTemplateSpec) -> Option<Value> {
    let mut t = t.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(rsinfo::POD_TEMPLATE_HASH);
    }
    normalize(serde_json::to_value(&t).ok()?)
}

/// Templates equal apart from the `pod-template-hash` label (upstream `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    canonical_without_hash(a) == canonical_without_hash(b)
}

/// The oldest ReplicaSet whose template is the Deployment's: the oldest wins when several
/// match, as upstream, so a duplicate made by a race is the one treated as old.
pub fn find_new<'a>(d: &Deployment, rss: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let mut sorted = rss.to_vec();
    by_creation(&mut sorted);
    sorted.into_iter().find(|rs| {
        rs.spec
            .template
            .as_ref()
            .is_some_and(|t| equal_ignore_hash(t, &d.spec.template))
    })
}

pub fn max_revision(rss: &[&ReplicaSet]) -> i64 {
    rss.iter().map(|rs| rsinfo::revision(rs)).max().unwrap_or(0)
}

/// Copies the Deployment's own annotations (change-cause among them) onto the RS;
/// returns whether any changed.
fn copy_deployment_annotations(d: &Deployment, out: &mut BTreeMap<String, String>) -> bool {
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || out.get(k) == Some(v) {
            continue;
        }
        out.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Appends `old` to a comma-separated revision history, dropping the oldest entries to
/// keep it under the size limit.
fn push_history(history: Option<&str>, old: &str) -> String {
    let mut entries: Vec<&str> = history
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    let mut len = entries.iter().map(|e| e.len() + 1).sum::<usize>() + old.len();
    while len > MAX_HISTORY_CHARS && !entries.is_empty() {
        len -= entries[0].len() + 1;
        entries.remove(0);
    }
    entries.push(old);
    entries.join(",")
}

/// The desired/max-replicas annotations every scaled RS carries; returns whether they
/// changed.
pub fn set_replicas_annotations(
    out: &mut BTreeMap<String, String>,
    desired: i32,
    max: i32,
) -> bool {
    let mut changed = false;
    for (k, v) in [
        (rsinfo::DESIRED_REPLICAS, desired),
        (rsinfo::MAX_REPLICAS, max),
    ] {
        let v = v.to_string();
        if out.get(k) != Some(&v) {
            out.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

/// Annotations for the new RS at `new_revision`: the Deployment's copied annotations, the
/// revision raised (the previous one moved into the history, which is how a rollback to
/// an old template gets a fresh revision), and for a RS being created the replica counts.
/// Returns whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    out: &mut BTreeMap<String, String>,
    new_revision: i64,
    exists: bool,
    max_replicas: i32,
) -> bool {
    let mut changed = copy_deployment_annotations(d, out);
    let old = out.get(REVISION).cloned().unwrap_or_default();
    let old_n: i64 = if old.is_empty() {
        0
    } else {
        match old.parse() {
            Ok(n) => n,
            // Upstream gives up on an annotation it cannot read.
            Err(_) => return changed,
        }
    };
    if old_n < new_revision {
        out.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if !old.is_empty() {
            let history = push_history(out.get(REVISION_HISTORY).map(String::as_str), &old);
            out.insert(REVISION_HISTORY.to_string(), history);
        }
    }
    if !exists {
        changed |= set_replicas_annotations(out, rsinfo::desired(d), max_replicas);
    }
    changed
}

/// Old ReplicaSets to delete beyond `revisionHistoryLimit`: the lowest revisions first,
/// and only those fully scaled down, settled and not already being deleted.
pub fn to_clean_up<'a>(d: &Deployment, old: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let Some(limit) = d.spec.revision_history_limit else {
        return Vec::new();
    };
    let mut alive: Vec<&ReplicaSet> = old
        .iter()
        .copied()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    alive.sort_by(|a, b| {
        rsinfo::revision(a)
            .cmp(&rsinfo::revision(b))
            .then_with(|| rsinfo::created(a).cmp(&rsinfo::created(b)))
            .then_with(|| rsinfo::name(a).cmp(rsinfo::name(b)))
    });
    alive
        .into_iter()
        .take(excess)
        .filter(|rs| {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
            rsinfo::status_replicas(rs) == 0
                && rsinfo::replicas(rs) == 0
                && rs.metadata.generation <= observed
        })
        .collect()
}
