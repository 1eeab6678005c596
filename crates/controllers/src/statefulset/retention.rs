//! `persistentVolumeClaimRetentionPolicy` as upstream enforces it: through plain (non
//! controller) owner references on the claims, which the garbage collector then follows.
//! `whenDeleted: Delete` makes the StatefulSet an owner; `whenScaled: Delete` makes a
//! scaled-down pod (ordinal out of range) the owner, so the claim goes with the pod.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub delete_when_deleted: bool,
    pub delete_when_scaled: bool,
}

/// A plain owner reference, as upstream's `setOwnerRef` writes it.
pub fn plain_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// The claim's owner references under `policy`, or `None` when they are already right.
pub fn desired_refs(
    current: &[OwnerReference],
    set_ref: &OwnerReference,
    pod_ref: &OwnerReference,
    pod_in_range: bool,
    policy: Policy,
) -> Option<Vec<OwnerReference>> {
    let want_set = policy.delete_when_deleted && (pod_in_range || !policy.delete_when_scaled);
    let want_pod = policy.delete_when_scaled && !pod_in_range;
    let mut refs: Vec<OwnerReference> = current.to_vec();
    let mut changed = false;
    for (owner, want) in [(set_ref, want_set), (pod_ref, want_pod)] {
        let has = refs.iter().any(|r| r.uid == owner.uid);
        if want && !has {
            refs.push(owner.clone());
            changed = true;
        } else if !want && has {
            refs.retain(|r| r.uid != owner.uid);
            changed = true;
        }
    }
    changed.then_some(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_per_policy() {
        let set = plain_ref("apps/v1", "StatefulSet", "web", "s");
        let pod = plain_ref("v1", "Pod", "web-2", "p");
        let other = plain_ref("v1", "ConfigMap", "x", "o");
        let uids = |r: Option<Vec<OwnerReference>>| {
            r.map(|v| v.into_iter().map(|r| r.uid).collect::<Vec<_>>().join(","))
        };
        // (whenDeleted Delete, whenScaled Delete, in range, current uids, expected)
        type Case<'a> = (bool, bool, bool, Vec<&'a OwnerReference>, Option<&'a str>);
        let cases: [Case; 9] = [
            (false, false, true, vec![], None),
            (false, false, true, vec![&other, &set, &pod], Some("o")),
            (true, false, true, vec![], Some("s")),
            (true, false, false, vec![&set], None),
            (false, true, true, vec![&pod], Some("")),
            (false, true, false, vec![], Some("p")),
            (true, true, true, vec![], Some("s")),
            (true, true, false, vec![&set], Some("p")),
            (true, true, false, vec![&pod], None),
        ];
        for (i, (wd, ws, in_range, current, want)) in cases.into_iter().enumerate() {
            let current: Vec<OwnerReference> = current.into_iter().cloned().collect();
            let policy = Policy {
                delete_when_deleted: wd,
                delete_when_scaled: ws,
            };
            let got = desired_refs(&current, &set, &pod, in_range, policy);
            assert_eq!(uids(got).as_deref(), want, "case {i}");
        }
    }
}
