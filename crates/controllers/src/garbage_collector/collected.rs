//! What the collector decodes of each object it watches: the metadata it follows (identity,
//! owners, finalizers, deletion) and nothing else. A `PartialObjectMeta` decodes all of
//! `metadata`, managedFields included, which is most of a pod's metadata and a large part
//! of the collector's cost at thousands of pod changes a second; it never reads them.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::core::{ApiResource, DynamicResourceScope, ObjectMeta, Resource};
use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Deserialize)]
pub struct Collected {
    #[serde(deserialize_with = "followed_meta")]
    pub metadata: ObjectMeta,
}

/// The metadata fields the collector reads; serde skips the rest unread into memory.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Followed {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    finalizers: Option<Vec<String>>,
    deletion_timestamp: Option<Time>,
}

fn followed_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let f = Followed::deserialize(d)?;
    Ok(ObjectMeta {
        name: f.name,
        namespace: f.namespace,
        uid: f.uid,
        resource_version: f.resource_version,
        owner_references: f.owner_references,
        finalizers: f.finalizers,
        deletion_timestamp: f.deletion_timestamp,
        ..ObjectMeta::default()
    })
}

impl Resource for Collected {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the collector follows survives; managedFields, labels and the body do not.
    #[test]
    fn decodes_what_the_collector_follows() {
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "a"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                    "uid": "u0", "controller": true, "blockOwnerDeletion": true}],
                "finalizers": ["f"],
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "managedFields": [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        });
        let c: Collected = serde_json::from_value(pod).expect("decodes");
        let m = &c.metadata;
        assert_eq!(
            (m.name.as_deref(), m.namespace.as_deref(), m.uid.as_deref()),
            (Some("p"), Some("ns"), Some("u1"))
        );
        assert_eq!(m.resource_version.as_deref(), Some("7"));
        let owners = m.owner_references.as_ref().expect("owners");
        assert_eq!(
            (owners[0].name.as_str(), owners[0].block_owner_deletion),
            ("rs", Some(true))
        );
        assert_eq!(m.finalizers.as_deref(), Some(&["f".to_string()][..]));
        assert!(m.deletion_timestamp.is_some());
        assert!(m.managed_fields.is_none() && m.labels.is_none());
    }
}
