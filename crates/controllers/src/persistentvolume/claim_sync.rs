//! What one sync of a claim does (upstream's `syncClaim`, `syncUnboundClaim`,
//! `syncBoundClaim`), decided from the claim, the cached volumes and its class.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::matching::{check_satisfies, claim_class, find_best_match, is_bound_to_claim};
use super::{annotation, Said, ANN_BIND_COMPLETED, ANN_SELECTED_NODE};

#[derive(Debug, PartialEq)]
pub enum ClaimStep {
    /// The claim waits; `Some` says why in an event.
    Pending(Option<Said>),
    /// Bind the claim and this volume to each other (idempotent: also completes a
    /// half-done binding and refreshes the claim's status).
    Bind(String),
    /// No volume fits: the class's provisioner is asked for one.
    Provision(String),
    /// The claim was bound and its volume is gone or taken.
    Lost(Said),
}

fn waits_for_first_consumer(class: Option<&StorageClass>) -> bool {
    class.is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
}

pub fn decide(
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    class: Option<&StorageClass>,
) -> ClaimStep {
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    let lookup = |name: &str| {
        volumes
            .iter()
            .find(|v| v.metadata.name.as_deref() == Some(name))
    };
    if annotation(&claim.metadata, ANN_BIND_COMPLETED).is_some() {
        return bound(claim, volume_name, lookup(volume_name).map(|v| &**v));
    }
    if !volume_name.is_empty() {
        return user_chose(claim, volume_name, lookup(volume_name).map(|v| &**v));
    }
    let delay = waits_for_first_consumer(class);
    if let Some(pv) = find_best_match(claim, volumes, delay) {
        return ClaimStep::Bind(pv.metadata.name.clone().unwrap_or_default());
    }
    let class_name = claim_class(claim);
    if delay && annotation(&claim.metadata, ANN_SELECTED_NODE).is_none() {
        return ClaimStep::Pending(Some(Said::normal(
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
        )));
    }
    if class_name.is_empty() {
        return ClaimStep::Pending(Some(Said::normal(
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set",
        )));
    }
    match class {
        None => ClaimStep::Pending(Some(Said::warning(
            "ProvisioningFailed",
            &format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
        ))),
        Some(c) => ClaimStep::Provision(c.provisioner.clone()),
    }
}

/// A claim whose binding completed once: keep it right, or say it is lost.
fn bound(claim: &PersistentVolumeClaim, name: &str, pv: Option<&PersistentVolume>) -> ClaimStep {
    if name.is_empty() {
        return ClaimStep::Lost(Said::warning(
            "ClaimLost",
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
        ));
    }
    let Some(pv) = pv else {
        return ClaimStep::Lost(Said::warning(
            "ClaimLost",
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        ));
    };
    let claim_ref = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    match claim_ref {
        None => ClaimStep::Bind(name.to_string()),
        Some(r) if r.uid.is_some() && r.uid == claim.metadata.uid => ClaimStep::Bind(name.into()),
        Some(_) => ClaimStep::Lost(Said::warning(
            "ClaimMisbound",
            "Two claims are bound to the same volume, this one is bound incorrectly",
        )),
    }
}

/// A claim that names its volume in `spec.volumeName` before any binding.
fn user_chose(
    claim: &PersistentVolumeClaim,
    name: &str,
    pv: Option<&PersistentVolume>,
) -> ClaimStep {
    let Some(pv) = pv else {
        // The volume may be created later; the claim waits for it.
        return ClaimStep::Pending(None);
    };
    let claimed = pv
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_some();
    if !claimed {
        return match check_satisfies(claim, pv) {
            Some(why) => ClaimStep::Pending(Some(Said::warning(
                "VolumeMismatch",
                &format!("Cannot bind to requested volume \"{name}\": {why}"),
            ))),
            None => ClaimStep::Bind(name.into()),
        };
    }
    if is_bound_to_claim(pv, claim) {
        return ClaimStep::Bind(name.into());
    }
    ClaimStep::Pending(Some(Said::warning(
        "FailedBinding",
        &format!("volume \"{name}\" already bound to a different claim."),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn obj<T: k8s_openapi::serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn claim(meta: Value, spec: Value) -> PersistentVolumeClaim {
        let mut m = json!({"name": "data", "namespace": "ns", "uid": "u1"});
        m.as_object_mut()
            .unwrap()
            .extend(meta.as_object().unwrap().clone());
        let mut s = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                           "resources": {"requests": {"storage": "1Gi"}}});
        s.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        obj(json!({"metadata": m, "spec": s}))
    }

    fn volume(name: &str, claim_ref: Value, phase: &str) -> Arc<PersistentVolume> {
        Arc::new(obj(json!({
            "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "local", "claimRef": claim_ref},
            "status": {"phase": phase},
        })))
    }

    fn class(mode: &str) -> StorageClass {
        obj(
            json!({"metadata": {"name": "local"}, "provisioner": "rancher.io/local-path",
                   "volumeBindingMode": mode}),
        )
    }

    /// (what, claim, cached volumes, its class, the step).
    type Case<'a> = (
        &'a str,
        PersistentVolumeClaim,
        Vec<Arc<PersistentVolume>>,
        Option<&'a StorageClass>,
        expect_test::Expect,
    );

    #[test]
    fn steps() {
        let mine = json!({"namespace": "ns", "name": "data", "uid": "u1"});
        let other = json!({"namespace": "ns", "name": "other", "uid": "u2"});
        let completed = json!({"annotations": {ANN_BIND_COMPLETED: "yes"}});
        let selected = json!({"annotations": {ANN_SELECTED_NODE: "n1"}});
        let wffc = class("WaitForFirstConsumer");
        let immediate = class("Immediate");
        let cases: Vec<Case> = vec![
            (
                "free volume binds",
                claim(json!({}), json!({})),
                vec![volume("pv1", Value::Null, "Available")],
                Some(&immediate),
                expect_test::expect![[r#"Bind("pv1")"#]],
            ),
            (
                "waits for a consumer",
                claim(json!({}), json!({})),
                vec![volume("pv1", Value::Null, "Available")],
                Some(&wffc),
                expect_test::expect![[
                    r#"Pending(Some(Said { warning: false, reason: "WaitForFirstConsumer", message: "waiting for first consumer to be created before binding" }))"#
                ]],
            ),
            (
                "consumer scheduled: provision",
                claim(selected.clone(), json!({})),
                vec![],
                Some(&wffc),
                expect_test::expect![[r#"Provision("rancher.io/local-path")"#]],
            ),
            (
                "scheduler promised a volume",
                claim(json!({}), json!({})),
                vec![volume("pv1", mine.clone(), "Available")],
                Some(&wffc),
                expect_test::expect![[r#"Bind("pv1")"#]],
            ),
            (
                "immediate: provision",
                claim(json!({}), json!({})),
                vec![],
                Some(&immediate),
                expect_test::expect![[r#"Provision("rancher.io/local-path")"#]],
            ),
            (
                "no class",
                claim(json!({}), json!({"storageClassName": ""})),
                vec![],
                None,
                expect_test::expect![[
                    r#"Pending(Some(Said { warning: false, reason: "FailedBinding", message: "no persistent volumes available for this claim and no storage class is set" }))"#
                ]],
            ),
            (
                "missing class",
                claim(json!({}), json!({})),
                vec![],
                None,
                expect_test::expect![[
                    r#"Pending(Some(Said { warning: true, reason: "ProvisioningFailed", message: "storageclass.storage.k8s.io \"local\" not found" }))"#
                ]],
            ),
            (
                "named volume missing",
                claim(json!({}), json!({"volumeName": "pv9"})),
                vec![],
                Some(&immediate),
                expect_test::expect!["Pending(None)"],
            ),
            (
                "named volume free",
                claim(json!({}), json!({"volumeName": "pv1"})),
                vec![volume("pv1", Value::Null, "Available")],
                Some(&immediate),
                expect_test::expect![[r#"Bind("pv1")"#]],
            ),
            (
                "named volume too small",
                claim(
                    json!({}),
                    json!({"volumeName": "pv1", "resources": {"requests": {"storage": "5Gi"}}}),
                ),
                vec![volume("pv1", Value::Null, "Available")],
                Some(&immediate),
                expect_test::expect![[
                    r#"Pending(Some(Said { warning: true, reason: "VolumeMismatch", message: "Cannot bind to requested volume \"pv1\": requested PV is too small" }))"#
                ]],
            ),
            (
                "named volume taken",
                claim(json!({}), json!({"volumeName": "pv1"})),
                vec![volume("pv1", other.clone(), "Bound")],
                Some(&immediate),
                expect_test::expect![[
                    r#"Pending(Some(Said { warning: true, reason: "FailedBinding", message: "volume \"pv1\" already bound to a different claim." }))"#
                ]],
            ),
            (
                "bound and right",
                claim(completed.clone(), json!({"volumeName": "pv1"})),
                vec![volume("pv1", mine.clone(), "Bound")],
                Some(&immediate),
                expect_test::expect![[r#"Bind("pv1")"#]],
            ),
            (
                "bound, volume unbound since",
                claim(completed.clone(), json!({"volumeName": "pv1"})),
                vec![volume("pv1", Value::Null, "Available")],
                Some(&immediate),
                expect_test::expect![[r#"Bind("pv1")"#]],
            ),
            (
                "bound, volume gone",
                claim(completed.clone(), json!({"volumeName": "pv1"})),
                vec![],
                Some(&immediate),
                expect_test::expect![[
                    r#"Lost(Said { warning: true, reason: "ClaimLost", message: "Bound claim has lost its PersistentVolume. Data on the volume is lost!" })"#
                ]],
            ),
            (
                "bound, volume taken",
                claim(completed.clone(), json!({"volumeName": "pv1"})),
                vec![volume("pv1", other, "Bound")],
                Some(&immediate),
                expect_test::expect![[
                    r#"Lost(Said { warning: true, reason: "ClaimMisbound", message: "Two claims are bound to the same volume, this one is bound incorrectly" })"#
                ]],
            ),
        ];
        for (what, claim, volumes, class, want) in cases {
            let got = decide(&claim, &volumes, class);
            eprintln!("{what}");
            want.assert_eq(&format!("{got:?}"));
        }
    }
}
