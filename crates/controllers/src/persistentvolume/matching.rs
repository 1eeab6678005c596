//! Which PersistentVolume a claim gets (upstream's `findBestMatchForClaim` over the volume
//! index): a volume already promised to the claim wins outright; otherwise the smallest
//! available volume of the claim's class whose access modes, size, volume mode and labels
//! fit, looking first at volumes offering the fewest access modes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use crate::selector;

/// Annotation that predates `storageClassName` and still wins over it.
pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

fn beta_class(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .map(String::as_str)
}

/// The claim's class name; "" asks for volumes without a class.
pub fn claim_class(pvc: &PersistentVolumeClaim) -> &str {
    beta_class(&pvc.metadata)
        .or_else(|| pvc.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or("")
}

pub fn volume_class(pv: &PersistentVolume) -> &str {
    beta_class(&pv.metadata)
        .or_else(|| pv.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or("")
}

fn bytes(q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> f64 {
    q.and_then(|q| apimachinery::quantity::parse_str(&q.0))
        .unwrap_or(0.0)
}

pub fn requested_bytes(pvc: &PersistentVolumeClaim) -> f64 {
    bytes(
        pvc.spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage")),
    )
}

pub fn capacity_bytes(pv: &PersistentVolume) -> f64 {
    bytes(
        pv.spec
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage")),
    )
}

fn claim_modes(pvc: &PersistentVolumeClaim) -> &[String] {
    pvc.spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
}

fn volume_modes(pv: &PersistentVolume) -> &[String] {
    pv.spec
        .as_ref()
        .and_then(|s| s.access_modes.as_deref())
        .unwrap_or(&[])
}

/// Unset volume modes mean `Filesystem` on both sides.
pub fn volume_mode_mismatch(pvc: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let claim = pvc.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    let volume = pv.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    claim.unwrap_or("Filesystem") != volume.unwrap_or("Filesystem")
}

/// Whether the volume's `claimRef` names this claim (a missing uid is a reservation by
/// name, as an administrator pre-binds a volume).
pub fn is_bound_to_claim(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    let uid = r.uid.as_deref().unwrap_or("");
    r.namespace == pvc.metadata.namespace
        && r.name == pvc.metadata.name
        && (uid.is_empty() || Some(uid) == pvc.metadata.uid.as_deref())
}

fn phase(pv: &PersistentVolume) -> &str {
    pv.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Why a volume cannot take a claim (for a claim that names its volume), `None` if it can.
pub fn check_satisfies(pvc: &PersistentVolumeClaim, pv: &PersistentVolume) -> Option<String> {
    if capacity_bytes(pv) < requested_bytes(pvc) {
        return Some("requested PV is too small".into());
    }
    if volume_class(pv) != claim_class(pvc) {
        return Some("storageClassName does not match".into());
    }
    if volume_mode_mismatch(pvc, pv) {
        return Some("incompatible volumeMode".into());
    }
    let have = volume_modes(pv);
    if !claim_modes(pvc).iter().all(|m| have.contains(m)) {
        return Some("incompatible accessMode".into());
    }
    None
}

/// The best volume for the claim among `volumes`. With `delay_binding` (the claim's class
/// waits for its first consumer) only a volume already promised to the claim is returned:
/// choosing one is the scheduler's job, which knows the node.
pub fn find_best_match<'a>(
    pvc: &PersistentVolumeClaim,
    volumes: &'a [std::sync::Arc<PersistentVolume>],
    delay_binding: bool,
) -> Option<&'a std::sync::Arc<PersistentVolume>> {
    let wanted = claim_modes(pvc);
    // Volumes grouped by their access-mode set, fewest modes first (upstream's index),
    // so a claim for RWO does not take a volume that could also serve RWX claims.
    let mut groups: BTreeMap<(usize, Vec<String>), Vec<&'a std::sync::Arc<PersistentVolume>>> =
        BTreeMap::new();
    for pv in volumes {
        let mut modes = volume_modes(pv).to_vec();
        modes.sort();
        modes.dedup();
        groups.entry((modes.len(), modes)).or_default().push(pv);
    }
    for ((_, modes), group) in groups {
        if !wanted.iter().all(|m| modes.contains(m)) {
            continue;
        }
        if let Some(pv) = find_in(pvc, &group, delay_binding) {
            return Some(pv);
        }
    }
    None
}

fn find_in<'a>(
    pvc: &PersistentVolumeClaim,
    volumes: &[&'a std::sync::Arc<PersistentVolume>],
    delay_binding: bool,
) -> Option<&'a std::sync::Arc<PersistentVolume>> {
    let requested = requested_bytes(pvc);
    let selector = pvc.spec.as_ref().and_then(|s| s.selector.as_ref());
    let no_labels = BTreeMap::new();
    let mut best: Option<&'a std::sync::Arc<PersistentVolume>> = None;
    for &pv in volumes {
        if volume_mode_mismatch(pvc, pv) || pv.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if is_bound_to_claim(pv, pvc) {
            return Some(pv);
        }
        if delay_binding {
            continue;
        }
        let labels = pv.metadata.labels.as_ref().unwrap_or(&no_labels);
        // Only Available volumes: others will be, and taking them now only makes conflicts.
        let free = phase(pv) == "Available"
            && pv.spec.as_ref().is_some_and(|s| s.claim_ref.is_none())
            && selector.is_none_or(|s| selector::matches(s, labels));
        if !free || volume_class(pv) != claim_class(pvc) {
            continue;
        }
        let size = capacity_bytes(pv);
        if size < requested {
            continue;
        }
        if best.is_none_or(|b| capacity_bytes(b) > size) {
            best = Some(pv);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn pv(name: &str, extra: Value) -> Arc<PersistentVolume> {
        let mut v = json!({
            "metadata": {"name": name, "labels": {"tier": "fast"}},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "manual", "volumeMode": "Filesystem"},
            "status": {"phase": "Available"},
        });
        merge(&mut v, extra);
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn pvc(extra: Value) -> PersistentVolumeClaim {
        let mut v = json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                     "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(into: &mut Value, patch: Value) {
        match (into, patch) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (slot, v) => *slot = v,
        }
    }

    /// (what, claim, volumes, delayed binding, the volume chosen).
    type Case = (
        &'static str,
        PersistentVolumeClaim,
        Vec<Arc<PersistentVolume>>,
        bool,
        Option<&'static str>,
    );

    #[test]
    fn best_match() {
        let small = || pv("small", json!({"spec": {"capacity": {"storage": "1Gi"}}}));
        let big = || pv("big", json!({"spec": {"capacity": {"storage": "10Gi"}}}));
        let rwx = || {
            pv(
                "rwx",
                json!({"spec": {"accessModes": ["ReadWriteOnce", "ReadWriteMany"]}}),
            )
        };
        let cases: Vec<Case> = vec![
            (
                "smallest that fits",
                pvc(json!({})),
                vec![big(), small()],
                false,
                Some("small"),
            ),
            (
                "too small",
                pvc(json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}})),
                vec![small(), big()],
                false,
                Some("big"),
            ),
            (
                "nothing big enough",
                pvc(json!({"spec": {"resources": {"requests": {"storage": "20Gi"}}}})),
                vec![small(), big()],
                false,
                None,
            ),
            (
                "fewest modes first",
                pvc(json!({})),
                vec![rwx(), big()],
                false,
                Some("big"),
            ),
            (
                "modes must be offered",
                pvc(json!({"spec": {"accessModes": ["ReadWriteMany"]}})),
                vec![small(), rwx()],
                false,
                Some("rwx"),
            ),
            (
                "other class",
                pvc(json!({"spec": {"storageClassName": "gold"}})),
                vec![small()],
                false,
                None,
            ),
            (
                "classless claim, classless volume",
                pvc(json!({"spec": {"storageClassName": ""}})),
                vec![
                    small(),
                    pv("plain", json!({"spec": {"storageClassName": null}})),
                ],
                false,
                Some("plain"),
            ),
            (
                "beta annotation wins",
                pvc(json!({"metadata": {"annotations": {BETA_STORAGE_CLASS: "gold"}}})),
                vec![
                    small(),
                    pv("gold", json!({"spec": {"storageClassName": "gold"}})),
                ],
                false,
                Some("gold"),
            ),
            (
                "selector",
                pvc(json!({"spec": {"selector": {"matchLabels": {"tier": "slow"}}}})),
                vec![
                    small(),
                    pv(
                        "slow",
                        json!({"metadata": {"labels": {"tier": "slow"}}, "spec": {"capacity": {"storage": "5Gi"}}}),
                    ),
                ],
                false,
                Some("slow"),
            ),
            (
                "selector expression",
                pvc(
                    json!({"spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fast"]}]}}}),
                ),
                vec![small()],
                false,
                None,
            ),
            (
                "volume mode",
                pvc(json!({"spec": {"volumeMode": "Block"}})),
                vec![
                    small(),
                    pv("block", json!({"spec": {"volumeMode": "Block"}})),
                ],
                false,
                Some("block"),
            ),
            (
                "not available yet",
                pvc(json!({})),
                vec![pv("new", json!({"status": {"phase": "Pending"}}))],
                false,
                None,
            ),
            (
                "released",
                pvc(json!({})),
                vec![pv("old", json!({"status": {"phase": "Released"}}))],
                false,
                None,
            ),
            (
                "claimed by another",
                pvc(json!({})),
                vec![pv(
                    "other",
                    json!({"spec": {"claimRef": {"namespace": "ns", "name": "x"}}}),
                )],
                false,
                None,
            ),
            (
                "promised to this claim beats a smaller one",
                pvc(json!({})),
                vec![
                    small(),
                    pv(
                        "mine",
                        json!({"spec": {"capacity": {"storage": "9Gi"}, "claimRef": {"namespace": "ns", "name": "data", "uid": "u1"}}, "status": {"phase": "Pending"}}),
                    ),
                ],
                false,
                Some("mine"),
            ),
            (
                "promised by name only",
                pvc(json!({})),
                vec![pv(
                    "mine",
                    json!({"spec": {"claimRef": {"namespace": "ns", "name": "data"}}}),
                )],
                false,
                Some("mine"),
            ),
            (
                "promised to an older claim of that name",
                pvc(json!({})),
                vec![pv(
                    "stale",
                    json!({"spec": {"claimRef": {"namespace": "ns", "name": "data", "uid": "u0"}}}),
                )],
                false,
                None,
            ),
            (
                "being deleted",
                pvc(json!({})),
                vec![pv(
                    "gone",
                    json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
                )],
                false,
                None,
            ),
            (
                "delayed binding leaves free volumes to the scheduler",
                pvc(json!({})),
                vec![small()],
                true,
                None,
            ),
            (
                "delayed binding takes what the scheduler promised",
                pvc(json!({})),
                vec![
                    small(),
                    pv(
                        "mine",
                        json!({"spec": {"claimRef": {"namespace": "ns", "name": "data", "uid": "u1"}}}),
                    ),
                ],
                true,
                Some("mine"),
            ),
        ];
        for (what, claim, volumes, delay, want) in cases {
            let got =
                find_best_match(&claim, &volumes, delay).and_then(|v| v.metadata.name.clone());
            assert_eq!(got.as_deref(), want, "{what}");
        }
    }

    #[test]
    fn satisfies() {
        let cases = [
            (pvc(json!({})), None),
            (
                pvc(json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}})),
                Some("requested PV is too small"),
            ),
            (
                pvc(json!({"spec": {"storageClassName": "x"}})),
                Some("storageClassName does not match"),
            ),
            (
                pvc(json!({"spec": {"volumeMode": "Block"}})),
                Some("incompatible volumeMode"),
            ),
            (
                pvc(json!({"spec": {"accessModes": ["ReadOnlyMany"]}})),
                Some("incompatible accessMode"),
            ),
        ];
        let volume = pv("v", json!({}));
        for (claim, want) in cases {
            assert_eq!(check_satisfies(&claim, &volume).as_deref(), want);
        }
    }
}
