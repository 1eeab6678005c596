//! Which ReplicaSets a Deployment owns (upstream `ClaimReplicaSets`) and what a new one
//! looks like (upstream `getNewReplicaSet`'s construction).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::hash;
use super::rsinfo::POD_TEMPLATE_HASH;
use crate::selector;

/// What the Deployment does about one ReplicaSet in its namespace.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Claim {
    Keep,
    Adopt,
    Release,
    Ignore,
}

fn controller_uid(rs: &ReplicaSet) -> Option<&str> {
    rs.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// Matching orphans are adopted and owned ReplicaSets that stopped matching released; a
/// Deployment being deleted does neither, and a ReplicaSet being deleted is not adopted.
pub fn claim(d: &Deployment, rs: &ReplicaSet) -> Claim {
    let uid = d.metadata.uid.as_deref().unwrap_or("");
    let deleting = d.metadata.deletion_timestamp.is_some();
    let sel = &d.spec.selector;
    let matches = !selector::is_empty(sel)
        && selector::matches(sel, rs.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()));
    match controller_uid(rs) {
        Some(owner) if owner != uid => Claim::Ignore,
        Some(_) if matches => Claim::Keep,
        Some(_) if deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if deleting || !matches || rs.metadata.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

pub fn controller_ref(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: d.metadata.name.clone().unwrap_or_default(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The selector with `key=value` required too (upstream `CloneSelectorAndAddLabel`).
fn selector_with(sel: &LabelSelector, key: &str, value: &str) -> LabelSelector {
    let mut sel = sel.clone();
    sel.match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(key.into(), value.into());
    sel
}

/// A new ReplicaSet `<deployment>-<hash>` for the Deployment's template, with the hash
/// in its name, labels, selector and template labels; replicas and annotations are the
/// caller's to set.
pub fn build(d: &Deployment) -> ReplicaSet {
    let collisions = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = hash::compute(&d.spec.template, collisions);
    let mut template = d.spec.template.clone();
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let labels = meta.labels.clone();
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-{hash}",
                d.metadata.name.as_deref().unwrap_or("")
            )),
            namespace: d.metadata.namespace.clone(),
            labels,
            owner_references: Some(vec![controller_ref(d)]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector: selector_with(&d.spec.selector, POD_TEMPLATE_HASH, &hash),
            template: Some(template),
        },
        status: None,
    }
}
