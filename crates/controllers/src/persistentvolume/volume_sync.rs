//! What one sync of a volume does (upstream's `syncVolume` and `reclaimVolume`), decided
//! from the volume and the claim its `claimRef` names, as the cache has it.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::{annotation, Said, ANN_BOUND_BY_CONTROLLER, ANN_PROVISIONED_BY};

#[derive(Debug, PartialEq)]
pub enum VolumeStep {
    /// Make the phase say this (Available, Bound).
    Phase(&'static str),
    /// Nothing to do now: the claim's sync finishes or undoes the binding.
    Wait,
    /// The claim is gone: the volume is Released and reclaimed by its policy.
    Release,
    /// The controller promised this volume to a claim that got another: take it back.
    Unbind,
}

/// What a Released volume's reclaim policy asks for.
#[derive(Debug, PartialEq)]
pub enum Reclaim {
    /// Retain: it stays Released until an administrator acts.
    Keep,
    /// The external provisioner that made it deletes it (the local-path provisioner too).
    Provisioner,
    /// Nothing here can do what the policy asks: the volume is Failed.
    Fail(Said),
}

pub fn decide(pv: &PersistentVolume, claim: Option<&PersistentVolumeClaim>) -> VolumeStep {
    let spec = pv.spec.as_ref();
    let Some(claim_ref) = spec.and_then(|s| s.claim_ref.as_ref()) else {
        return VolumeStep::Phase("Available");
    };
    let uid = claim_ref.uid.as_deref().unwrap_or("");
    if uid.is_empty() {
        // Reserved by name for a claim that has not bound yet.
        return VolumeStep::Phase("Available");
    }
    // A claim of the same name but another uid is a new claim: the old one is gone.
    let Some(claim) = claim.filter(|c| c.metadata.uid.as_deref() == Some(uid)) else {
        return VolumeStep::Release;
    };
    let name = pv.metadata.name.as_deref().unwrap_or("");
    let claim_volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    if claim_volume.is_empty() {
        // Half bound: the claim's sync completes it.
        return VolumeStep::Wait;
    }
    if claim_volume == name {
        return VolumeStep::Phase("Bound");
    }
    // The claim is bound to another volume.
    let delete = spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) == Some("Delete");
    if annotation(&pv.metadata, ANN_PROVISIONED_BY).is_some() && delete {
        // Made for this claim, which no longer needs it.
        return VolumeStep::Release;
    }
    if annotation(&pv.metadata, ANN_BOUND_BY_CONTROLLER).is_some() {
        return VolumeStep::Unbind;
    }
    // An administrator pre-bound it; leave it for them.
    VolumeStep::Wait
}

pub fn reclaim(pv: &PersistentVolume) -> Reclaim {
    let name = pv.metadata.name.as_deref().unwrap_or("");
    let policy = pv
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    match policy {
        "Delete" if annotation(&pv.metadata, ANN_PROVISIONED_BY).is_some() => Reclaim::Provisioner,
        "Delete" => Reclaim::Fail(Said::warning(
            "VolumeFailedDelete",
            &format!("error getting deleter volume plugin for volume \"{name}\": no deletable volume plugin matched"),
        )),
        "Recycle" => Reclaim::Fail(Said::warning(
            "VolumeFailedRecycle",
            "No recycler plugin found for the volume!",
        )),
        _ => Reclaim::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn volume(annotations: Value, claim_ref: Value, policy: &str) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": "pv1", "annotations": annotations},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "claimRef": claim_ref, "persistentVolumeReclaimPolicy": policy},
        }))
        .unwrap()
    }

    fn claim(uid: &str, volume_name: Option<&str>) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": uid},
            "spec": {"volumeName": volume_name},
        }))
        .unwrap()
    }

    #[test]
    fn steps() {
        let mine = json!({"namespace": "ns", "name": "data", "uid": "u1"});
        let by_name = json!({"namespace": "ns", "name": "data"});
        let ctl = json!({ANN_BOUND_BY_CONTROLLER: "yes"});
        let provisioned = json!({ANN_PROVISIONED_BY: "rancher.io/local-path"});
        let cases = [
            (
                "unclaimed",
                volume(json!({}), Value::Null, "Retain"),
                None,
                VolumeStep::Phase("Available"),
            ),
            (
                "reserved by name",
                volume(json!({}), by_name, "Retain"),
                None,
                VolumeStep::Phase("Available"),
            ),
            (
                "bound both ways",
                volume(json!({}), mine.clone(), "Retain"),
                Some(claim("u1", Some("pv1"))),
                VolumeStep::Phase("Bound"),
            ),
            (
                "claim not yet bound",
                volume(json!({}), mine.clone(), "Retain"),
                Some(claim("u1", None)),
                VolumeStep::Wait,
            ),
            (
                "claim deleted",
                volume(json!({}), mine.clone(), "Retain"),
                None,
                VolumeStep::Release,
            ),
            (
                "claim recreated",
                volume(json!({}), mine.clone(), "Retain"),
                Some(claim("u9", None)),
                VolumeStep::Release,
            ),
            (
                "claim took another, ours",
                volume(ctl.clone(), mine.clone(), "Retain"),
                Some(claim("u1", Some("pv2"))),
                VolumeStep::Unbind,
            ),
            (
                "claim took another, admin's",
                volume(json!({}), mine.clone(), "Retain"),
                Some(claim("u1", Some("pv2"))),
                VolumeStep::Wait,
            ),
            (
                "claim took another, provisioned",
                volume(provisioned, mine, "Delete"),
                Some(claim("u1", Some("pv2"))),
                VolumeStep::Release,
            ),
        ];
        for (what, pv, claim, want) in cases {
            assert_eq!(decide(&pv, claim.as_ref()), want, "{what}");
        }
    }

    #[test]
    fn reclaims() {
        let provisioned = json!({ANN_PROVISIONED_BY: "rancher.io/local-path"});
        let cases = [
            (
                volume(json!({}), Value::Null, "Retain"),
                expect_test::expect!["Keep"],
            ),
            (
                volume(provisioned.clone(), Value::Null, "Retain"),
                expect_test::expect!["Keep"],
            ),
            (
                volume(provisioned, Value::Null, "Delete"),
                expect_test::expect!["Provisioner"],
            ),
            (
                volume(json!({}), Value::Null, "Delete"),
                expect_test::expect![[
                    r#"Fail(Said { warning: true, reason: "VolumeFailedDelete", message: "error getting deleter volume plugin for volume \"pv1\": no deletable volume plugin matched" })"#
                ]],
            ),
            (
                volume(json!({}), Value::Null, "Recycle"),
                expect_test::expect![[
                    r#"Fail(Said { warning: true, reason: "VolumeFailedRecycle", message: "No recycler plugin found for the volume!" })"#
                ]],
            ),
        ];
        for (pv, want) in cases {
            want.assert_eq(&format!("{:?}", reclaim(&pv)));
        }
    }
}
