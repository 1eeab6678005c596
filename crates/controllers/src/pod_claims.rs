//! Claiming pods for a StatefulSet or DaemonSet (upstream `PodControllerRefManager`): an
//! orphan that belongs is adopted, an owned pod that no longer belongs is released, and pods
//! of other controllers are left alone. Both writes carry the pod's uid as a precondition.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;

use crate::{podinfo, Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    Keep,
    Adopt,
    Release,
    Ignore,
}

/// `belongs`: the pod matches the owner's selector (and, for a StatefulSet, carries one of
/// its ordinal names). An owner being deleted adopts and releases nothing; a pod being
/// deleted is never adopted.
pub fn decide(owner_uid: &str, owner_deleting: bool, pod: &Pod, belongs: bool) -> Claim {
    match podinfo::controller_uid(pod) {
        Some(uid) if uid != owner_uid => Claim::Ignore,
        Some(_) if belongs => Claim::Keep,
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !belongs || pod.metadata.deletion_timestamp.is_some() => {
            Claim::Ignore
        }
        None => Claim::Adopt,
    }
}

/// Makes `owner` the pod's controller; `None` if the pod went away or changed meanwhile.
pub async fn adopt(
    pods: &Api<Pod>,
    pod: &Pod,
    owner: &OwnerReference,
) -> Result<Option<Pod>, Error> {
    let patch = json!({"metadata": {"ownerReferences": [owner], "uid": pod.metadata.uid}});
    match pods
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
    {
        Ok(p) => Ok(Some(p)),
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409 | 422) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn release(pods: &Api<Pod>, pod: &Pod, owner_uid: &str) -> Result<(), Error> {
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
        "uid": pod.metadata.uid,
    }});
    match pods
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409 | 422) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sorts `pods` into those the owner keeps (adopting orphans on the way) and releases the
/// rest of its own.
pub async fn claim_all(
    api: &Api<Pod>,
    pods: Vec<Pod>,
    owner: &OwnerReference,
    owner_deleting: bool,
    belongs: impl Fn(&Pod) -> bool,
) -> Result<Vec<Pod>, Error> {
    let mut kept = Vec::new();
    for pod in pods {
        match decide(&owner.uid, owner_deleting, &pod, belongs(&pod)) {
            Claim::Keep => kept.push(pod),
            Claim::Adopt => {
                if let Some(p) = adopt(api, &pod, owner).await? {
                    tracing::info!(pod = %p.name_any(), owner = %owner.name, "adopted pod");
                    kept.push(p);
                }
            }
            Claim::Release => release(api, &pod, &owner.uid).await?,
            Claim::Ignore => {}
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(owner: Option<&str>, deleting: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {
                "name": "p",
                "deletionTimestamp": deleting.then_some("2026-01-01T00:00:00Z"),
                "ownerReferences": owner.map(|uid| vec![json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "o", "uid": uid, "controller": true})]),
            }
        }))
        .expect("pod")
    }

    #[test]
    fn claim_table() {
        // (pod's controller, pod deleting, owner deleting, belongs, decision)
        let cases = [
            (Some("me"), false, false, true, Claim::Keep),
            (Some("me"), false, false, false, Claim::Release),
            (Some("me"), false, true, false, Claim::Ignore),
            (Some("other"), false, false, true, Claim::Ignore),
            (None, false, false, true, Claim::Adopt),
            (None, true, false, true, Claim::Ignore),
            (None, false, true, true, Claim::Ignore),
            (None, false, false, false, Claim::Ignore),
        ];
        for (i, (ctl, deleting, owner_deleting, belongs, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                decide("me", owner_deleting, &pod(ctl, deleting), belongs),
                want,
                "case {i}"
            );
        }
    }
}
