use serde_json::{json, Value};

use super::*;
use crate::framework::Code;

#[derive(Default)]
struct Fake {
    claims: Vec<Arc<PersistentVolumeClaim>>,
    volumes: Vec<Arc<PersistentVolume>>,
    classes: Vec<Arc<StorageClass>>,
}

impl VolumeLister for Fake {
    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims
            .iter()
            .find(|c| {
                c.metadata.namespace.as_deref() == Some(namespace)
                    && c.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }
    fn volume(&self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes
            .iter()
            .find(|v| v.metadata.name.as_deref() == Some(name))
            .cloned()
    }
    fn class(&self, name: &str) -> Option<Arc<StorageClass>> {
        self.classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .cloned()
    }
    fn volumes(&self) -> Vec<Arc<PersistentVolume>> {
        self.volumes.clone()
    }
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).expect("object"))
}

fn claim(name: &str, class: &str, volume: &str, extra: Value) -> Arc<PersistentVolumeClaim> {
    let mut spec =
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
    if !class.is_empty() {
        spec["storageClassName"] = json!(class);
    }
    if !volume.is_empty() {
        spec["volumeName"] = json!(volume);
    }
    let mut meta = json!({"name": name, "namespace": "default", "uid": name});
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    from(json!({"metadata": meta, "spec": spec}))
}

fn class(name: &str, mode: &str, provisioner: &str) -> Arc<StorageClass> {
    from(json!({"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode}))
}

/// A volume of `size` in `class`, reachable only from nodes labelled zone=`zone` (if any).
fn volume(name: &str, class: &str, size: &str, zone: &str) -> Arc<PersistentVolume> {
    let mut spec = json!({"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
        "storageClassName": class, "hostPath": {"path": "/x"}});
    if !zone.is_empty() {
        spec["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": [zone]}]}]}});
    }
    from(json!({"metadata": {"name": name}, "spec": spec, "status": {"phase": "Available"}}))
}

fn pod_with(claims: &[&str]) -> PodInfo {
    let volumes: Vec<Value> = claims
        .iter()
        .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
        .collect();
    PodInfo::new(
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"volumes": volumes, "containers": [{"name": "c"}]}}))
        .expect("pod"),
    )
}

fn node(zone: &str) -> Node {
    serde_json::from_value(
        json!({"metadata": {"name": format!("n-{zone}"), "labels": {"zone": zone}}}),
    )
    .expect("node")
}

fn world() -> Fake {
    Fake {
        claims: vec![
            claim("bound", "", "pv-a", json!({})),
            claim("dangling", "", "pv-gone", json!({})),
            claim("plain", "", "", json!({})),
            claim("immediate", "fast", "", json!({})),
            claim("late", "wffc", "", json!({})),
            claim("local", "local", "", json!({})),
            claim("made", "wffc", "", json!({})),
            claim("orphan", "nope", "", json!({})),
            claim(
                "going",
                "",
                "pv-a",
                json!({"deletionTimestamp": "2026-01-01T00:00:00Z"}),
            ),
        ],
        volumes: vec![
            volume("pv-a", "", "5Gi", "a"),
            volume("lv-b", "local", "2Gi", "b"),
            {
                // Provisioned in zone a for "made", not bound yet.
                let mut pv = (*volume("pvc-made", "wffc", "1Gi", "a")).clone();
                if let Some(s) = pv.spec.as_mut() {
                    s.claim_ref = serde_json::from_value(
                        json!({"namespace": "default", "name": "made", "uid": "made"}),
                    )
                    .ok();
                }
                pv.status = serde_json::from_value(json!({"phase": "Pending"})).ok();
                Arc::new(pv)
            },
        ],
        classes: vec![
            class("fast", "Immediate", "csi.example.com"),
            class("wffc", "WaitForFirstConsumer", "csi.example.com"),
            class("local", "WaitForFirstConsumer", NO_PROVISIONER),
        ],
    }
}

/// (claims, bound volumes / a missing volume / delayed claims, or the rejection).
type SortCase = (
    &'static [&'static str],
    Result<(usize, bool, usize), (Code, &'static str)>,
);

/// (claims, node zone, matched volumes and claims to provision, or the reason).
type NodeCase = (
    &'static [&'static str],
    &'static str,
    Result<(Vec<&'static str>, Vec<&'static str>), &'static str>,
);

#[test]
fn pre_filter_sorts_claims() {
    let w = world();
    let cases: Vec<SortCase> = vec![
        (&[], Ok((0, false, 0))),
        (&["bound"], Ok((1, false, 0))),
        (&["dangling"], Ok((0, true, 0))),
        (&["late", "local"], Ok((0, false, 2))),
        (
            &["missing"],
            Err((
                Code::UnschedulableAndUnresolvable,
                "persistentvolumeclaim \"missing\" not found",
            )),
        ),
        (
            &["going"],
            Err((
                Code::UnschedulableAndUnresolvable,
                "persistentvolumeclaim \"going\" is being deleted",
            )),
        ),
        (
            &["plain"],
            Err((Code::UnschedulableAndUnresolvable, UNBOUND_IMMEDIATE)),
        ),
        (
            &["late", "immediate"],
            Err((Code::UnschedulableAndUnresolvable, UNBOUND_IMMEDIATE)),
        ),
        (
            &["orphan"],
            Err((
                Code::UnschedulableAndUnresolvable,
                "storageclass.storage.k8s.io \"nope\" not found",
            )),
        ),
    ];
    for (claims, want) in cases {
        let got = pre_filter(&pod_with(claims), &w)
            .map(|v| {
                v.map(|v| (v.bound.len(), v.missing_volume, v.delayed.len()))
                    .unwrap_or((0, false, 0))
            })
            .map_err(|s| (s.code(), s.message()));
        let want = want.map_err(|(c, m)| (c, m.to_string()));
        assert_eq!(got, want, "{claims:?}");
    }
}

#[test]
fn nodes_for_claims() {
    let w = world();
    let cases: Vec<NodeCase> = vec![
        (&["bound"], "a", Ok((vec![], vec![]))),
        (&["bound"], "b", Err(NODE_CONFLICT)),
        (&["dangling"], "a", Err(PV_NOT_EXIST)),
        (&["late"], "a", Ok((vec![], vec!["late"]))),
        (&["local"], "b", Ok((vec!["lv-b"], vec![]))),
        (&["local"], "a", Err(BIND_CONFLICT)),
        (&["made"], "a", Ok((vec!["pvc-made"], vec![]))),
        (&["made"], "b", Err(NODE_CONFLICT)),
    ];
    for (claims, zone, want) in cases {
        let vols = pre_filter(&pod_with(claims), &w)
            .expect("prefilter")
            .expect("claims");
        let got = decide(&vols, &w.volumes, &node(zone))
            .map(|d| {
                (
                    d.matched
                        .iter()
                        .map(|(_, pv)| pv.metadata.name.clone().unwrap_or_default())
                        .collect::<Vec<_>>(),
                    d.provision
                        .iter()
                        .map(|c| c.metadata.name.clone().unwrap_or_default())
                        .collect::<Vec<_>>(),
                )
            })
            .map_err(|s| s.message());
        let want = want
            .map(|(m, p)| {
                (
                    m.iter().map(|s| s.to_string()).collect(),
                    p.iter().map(|s| s.to_string()).collect(),
                )
            })
            .map_err(str::to_string);
        assert_eq!(got, want, "{claims:?} on zone {zone}");
    }
}

#[test]
fn static_matches() {
    let c = claim("c", "local", "", json!({}));
    let taken_by_other: Arc<PersistentVolume> = {
        let mut pv = (*volume("claimed", "local", "9Gi", "")).clone();
        if let Some(s) = pv.spec.as_mut() {
            s.claim_ref = Some(
                serde_json::from_value(json!({"namespace": "default", "name": "other"}))
                    .expect("ref"),
            );
        }
        Arc::new(pv)
    };
    // Provisioned for this claim a moment ago: still Pending, larger, yet it is the one.
    let promised: Arc<PersistentVolume> = {
        let mut pv = (*volume("promised", "local", "9Gi", "")).clone();
        if let Some(s) = pv.spec.as_mut() {
            s.claim_ref = Some(
                serde_json::from_value(json!({"namespace": "default", "name": "c", "uid": "c"}))
                    .expect("ref"),
            );
        }
        pv.status = serde_json::from_value(json!({"phase": "Pending"})).expect("status");
        Arc::new(pv)
    };
    let cases = [
        (
            vec![volume("small", "local", "1Gi", ""), promised],
            Some("promised"),
        ),
        // The smallest volume that is large enough.
        (
            vec![
                volume("big", "local", "10Gi", ""),
                volume("small", "local", "1Gi", ""),
                volume("tiny", "local", "100Mi", ""),
            ],
            Some("small"),
        ),
        (vec![volume("other-class", "wffc", "1Gi", "")], None),
        (vec![taken_by_other], None),
    ];
    for (vols, want) in cases {
        let got = find_match(&c, &vols, &BTreeSet::new(), &node("a"))
            .and_then(|pv| pv.metadata.name.clone());
        assert_eq!(got.as_deref(), want);
    }
}

#[test]
fn provisioning_topology() {
    let zoned: StorageClass = serde_json::from_value(
        json!({"metadata": {"name": "z"}, "provisioner": "csi.example.com",
        "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}]}),
    )
    .expect("class");
    assert!(can_provision(&zoned, &node("a")));
    assert!(!can_provision(&zoned, &node("b")));
    assert!(!can_provision(
        &class("l", "WaitForFirstConsumer", NO_PROVISIONER),
        &node("a")
    ));
}

#[test]
fn claim_names_include_ephemeral_volumes() {
    let p: Pod = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"containers": [], "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "cfg", "configMap": {"name": "x"}},
        ]}}),
    )
    .expect("pod");
    assert_eq!(claim_names(&p), ["data-0", "web-scratch"]);
}
