//! Data-driven tests of the controller's pure decisions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy, ReplicaSet, ReplicaSetSpec,
    ReplicaSetStatus, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::rolling::ScaleTo;
use super::*;

fn ios(s: &str) -> IntOrString {
    match s.parse::<i32>() {
        Ok(i) => IntOrString::Int(i),
        Err(_) => IntOrString::String(s.into()),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(&[("app", "web")])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// A RollingUpdate Deployment with the given replicas, maxSurge and maxUnavailable.
fn dep(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("d-uid".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            },
            template: template("nginx:2"),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(ios(surge)),
                    max_unavailable: Some(ios(unavailable)),
                }),
            }),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        },
        status: None,
    }
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).expect("timestamp")
}

/// A ReplicaSet `name` with spec/status replicas, available pods, age order and revision.
fn rs(name: &str, replicas: i32, available: i32, created: i64, revision: i64) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("{name}-uid")),
            labels: Some(labels(&[("app", "web")])),
            creation_timestamp: Some(Time(ts(created))),
            annotations: Some(labels(&[(rsinfo::REVISION, &revision.to_string())])),
            generation: Some(1),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                uid: "d-uid".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            template: Some(template("nginx:1")),
            ..Default::default()
        },
        status: Some(ReplicaSetStatus {
            replicas,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            observed_generation: Some(1),
            ..Default::default()
        }),
    }
}

fn ops(pairs: &[(&str, i32)]) -> Vec<ScaleTo> {
    pairs
        .iter()
        .map(|(n, r)| ScaleTo {
            name: n.to_string(),
            replicas: *r,
        })
        .collect()
}

#[test]
fn scaled_values_and_fenceposts() {
    // (value, total, round up, want)
    let values = [
        ("25%", 3, true, 1),
        ("25%", 3, false, 0),
        ("25%", 10, true, 3),
        ("25%", 10, false, 2),
        ("50%", 5, true, 3),
        ("100%", 7, false, 7),
        ("2", 10, true, 2),
        ("bogus", 10, true, 0),
    ];
    for (v, total, up, want) in values {
        assert_eq!(
            rolling::scaled_value(&ios(v), total, up),
            want,
            "{v} of {total}"
        );
    }
    // (replicas, surge, unavailable) -> (surge, unavailable, max_unavailable)
    let posts = [
        ((3, "25%", "25%"), (1, 0, 0)),
        ((5, "25%", "25%"), (2, 1, 1)),
        ((10, "25%", "25%"), (3, 2, 2)),
        ((1, "0", "10%"), (0, 1, 1)),
        ((2, "1", "5"), (1, 5, 2)),
        ((0, "25%", "25%"), (0, 1, 0)),
    ];
    for ((replicas, s, u), (ws, wu, wmax)) in posts {
        let d = dep(replicas, s, u);
        assert_eq!(rolling::fenceposts(&d), (ws, wu), "{replicas} {s} {u}");
        assert_eq!(rolling::max_unavailable(&d), wmax, "{replicas} {s} {u}");
    }
}

#[test]
fn rolling_update_steps() {
    struct Case {
        what: &'static str,
        d: Deployment,
        new: ReplicaSet,
        old: Vec<ReplicaSet>,
        want: Vec<ScaleTo>,
    }
    let cases = [
        Case {
            what: "fresh deployment: new takes every replica",
            d: dep(3, "25%", "25%"),
            new: rs("new", 0, 0, 10, 2),
            old: vec![],
            want: ops(&[("new", 3)]),
        },
        Case {
            what: "surge: new grows by maxSurge first",
            d: dep(5, "25%", "25%"),
            new: rs("new", 0, 0, 10, 2),
            old: vec![rs("old", 5, 5, 0, 1)],
            want: ops(&[("new", 2)]),
        },
        Case {
            what: "at surge limit: old shrinks to the availability floor",
            d: dep(5, "25%", "25%"),
            new: rs("new", 2, 0, 10, 2),
            old: vec![rs("old", 5, 5, 0, 1)],
            // 7 pods, min available 4, 2 new unavailable: may drop 1.
            want: ops(&[("old", 4)]),
        },
        Case {
            what: "new pods available: old shrinks further",
            d: dep(5, "25%", "25%"),
            new: rs("new", 2, 2, 10, 2),
            old: vec![rs("old", 3, 3, 0, 1)],
            want: ops(&[("new", 4)]),
        },
        Case {
            what: "unhealthy old pods go first",
            d: dep(4, "0", "1"),
            new: rs("new", 0, 0, 10, 3),
            old: vec![rs("mid", 2, 0, 5, 2), rs("oldest", 2, 2, 0, 1)],
            // 4 pods, min available 3: 1 may go, and it is an unavailable one.
            want: ops(&[("mid", 1)]),
        },
        Case {
            what: "no surge: the unavailable old pod goes",
            d: dep(3, "0", "1"),
            new: rs("new", 0, 0, 10, 2),
            old: vec![rs("old", 3, 2, 0, 1)],
            want: ops(&[("old", 2)]),
        },
        Case {
            what: "nothing to spare at all",
            d: dep(3, "1", "0"),
            new: rs("new", 1, 0, 10, 2),
            old: vec![rs("old", 3, 3, 0, 1)],
            want: vec![],
        },
        Case {
            what: "new larger than wanted is cut",
            d: dep(2, "25%", "25%"),
            new: rs("new", 4, 4, 10, 2),
            old: vec![],
            want: ops(&[("new", 2)]),
        },
        Case {
            what: "done",
            d: dep(3, "25%", "25%"),
            new: rs("new", 3, 3, 10, 2),
            old: vec![rs("old", 0, 0, 0, 1)],
            want: vec![],
        },
    ];
    for c in cases {
        let old: Vec<&ReplicaSet> = c.old.iter().collect();
        assert_eq!(rolling::step(&c.d, &c.new, &old), c.want, "{}", c.what);
    }
}

fn sized_for(mut r: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
    let ann = r.metadata.annotations.get_or_insert_with(BTreeMap::new);
    revision::set_replicas_annotations(ann, desired, max);
    r
}

#[test]
fn scaling_without_rollout() {
    struct Case {
        what: &'static str,
        d: Deployment,
        new: Option<ReplicaSet>,
        old: Vec<ReplicaSet>,
        want: Vec<ScaleTo>,
    }
    let cases = [
        Case {
            what: "one active set takes the new size",
            d: dep(5, "25%", "25%"),
            new: Some(sized_for(rs("new", 3, 3, 10, 2), 3, 4)),
            old: vec![rs("old", 0, 0, 0, 1)],
            want: ops(&[("new", 5)]),
        },
        Case {
            what: "none active: the new one grows",
            d: dep(2, "25%", "25%"),
            new: Some(rs("new", 0, 0, 10, 2)),
            old: vec![rs("old", 0, 0, 0, 1)],
            want: ops(&[("new", 2)]),
        },
        Case {
            what: "mid-rollout 10 -> 20: proportional, leftovers to the largest",
            d: dep(20, "3", "2"),
            new: Some(sized_for(rs("new", 5, 5, 10, 2), 10, 13)),
            old: vec![sized_for(rs("old", 8, 8, 0, 1), 10, 13)],
            // allowed 23, have 13: old 8*23/13 = 14.15 -> +6, new 5*23/13 = 8.8 -> +4.
            want: ops(&[("old", 14), ("new", 9)]),
        },
        Case {
            what: "mid-rollout scaled down to 0",
            d: dep(0, "3", "2"),
            new: Some(sized_for(rs("new", 5, 5, 10, 2), 10, 13)),
            old: vec![sized_for(rs("old", 8, 8, 0, 1), 10, 13)],
            want: ops(&[("old", 0), ("new", 0)]),
        },
        Case {
            what: "saturated new set: old ones to 0",
            d: dep(3, "1", "0"),
            new: Some(sized_for(rs("new", 3, 3, 10, 2), 3, 4)),
            old: vec![rs("old", 1, 1, 0, 1)],
            want: ops(&[("old", 0)]),
        },
    ];
    for c in cases {
        let old: Vec<&ReplicaSet> = c.old.iter().collect();
        assert_eq!(
            scale::plan(&c.d, c.new.as_ref(), &old),
            c.want,
            "{}",
            c.what
        );
    }

    let d = dep(5, "25%", "25%");
    let sized = sized_for(rs("a", 3, 3, 0, 1), 3, 4);
    assert!(scale::is_scaling_event(&d, &[&sized]));
    let right = sized_for(rs("a", 5, 5, 0, 1), 5, 7);
    assert!(!scale::is_scaling_event(&d, &[&right]));
    let inactive = sized_for(rs("a", 0, 0, 0, 1), 3, 4);
    assert!(!scale::is_scaling_event(&d, &[&inactive]));
}

#[test]
fn revisions_and_annotations() {
    let mut d = dep(3, "25%", "25%");
    d.metadata.annotations = Some(labels(&[
        ("kubernetes.io/change-cause", "set image"),
        ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
        (rsinfo::REVISION, "7"),
    ]));
    type Pairs = Vec<(&'static str, &'static str)>;
    // (annotations before, next revision, RS exists) -> (changed, annotations after)
    let cases: Vec<(Pairs, i64, bool, bool, Pairs)> = vec![
        (
            vec![],
            1,
            false,
            true,
            vec![
                ("deployment.kubernetes.io/desired-replicas", "3"),
                ("deployment.kubernetes.io/max-replicas", "4"),
                ("deployment.kubernetes.io/revision", "1"),
                ("kubernetes.io/change-cause", "set image"),
            ],
        ),
        (
            vec![
                (rsinfo::REVISION, "1"),
                ("kubernetes.io/change-cause", "set image"),
            ],
            3,
            true,
            true,
            vec![
                ("deployment.kubernetes.io/revision", "3"),
                ("deployment.kubernetes.io/revision-history", "1"),
                ("kubernetes.io/change-cause", "set image"),
            ],
        ),
        (
            vec![
                (rsinfo::REVISION, "3"),
                (rsinfo::REVISION_HISTORY, "1"),
                ("kubernetes.io/change-cause", "set image"),
            ],
            5,
            true,
            true,
            vec![
                ("deployment.kubernetes.io/revision", "5"),
                ("deployment.kubernetes.io/revision-history", "1,3"),
                ("kubernetes.io/change-cause", "set image"),
            ],
        ),
        (
            vec![
                (rsinfo::REVISION, "4"),
                ("kubernetes.io/change-cause", "set image"),
            ],
            4,
            true,
            false,
            vec![
                ("deployment.kubernetes.io/revision", "4"),
                ("kubernetes.io/change-cause", "set image"),
            ],
        ),
    ];
    for (i, (before, next, exists, want_changed, after)) in cases.into_iter().enumerate() {
        let mut ann = labels(&before);
        let changed = revision::set_new_rs_annotations(&d, &mut ann, next, exists, 4);
        assert_eq!(changed, want_changed, "case {i}");
        assert_eq!(ann, labels(&after), "case {i}");
    }

    // The new set is the oldest one with the Deployment's template, hash label aside.
    let mut a = rs("a", 0, 0, 0, 1);
    let mut b = rs("b", 3, 3, 5, 2);
    let mut c = rs("c", 0, 0, 9, 3);
    let mut hashed = template("nginx:2");
    if let Some(l) = hashed.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.insert(rsinfo::POD_TEMPLATE_HASH.into(), "abc".into());
    }
    b.spec.template = Some(hashed.clone());
    c.spec.template = Some(hashed);
    a.spec.template = Some(template("nginx:1"));
    let d = dep(3, "25%", "25%");
    let found = revision::find_new(&d, &[&c, &a, &b]).map(rsinfo::name);
    assert_eq!(found, Some("b"));
    assert_eq!(revision::max_revision(&[&a, &c]), 3);
}

#[test]
fn history_limit_cleanup() {
    let mut d = dep(3, "25%", "25%");
    d.spec.revision_history_limit = Some(1);
    let mut busy = rs("busy", 1, 1, 0, 1);
    busy.spec.replicas = Some(1);
    let mut unsettled = rs("unsettled", 0, 0, 1, 2);
    unsettled.metadata.generation = Some(2);
    let r3 = rs("r3", 0, 0, 2, 3);
    let r4 = rs("r4", 0, 0, 3, 4);
    let r5 = rs("r5", 0, 0, 4, 5);
    let old = [&r5, &r4, &r3, &unsettled, &busy];
    let gone: Vec<&str> = revision::to_clean_up(&d, &old)
        .into_iter()
        .map(rsinfo::name)
        .collect();
    // 5 old, limit 1: the four lowest revisions are candidates, two of them deletable.
    assert_eq!(gone, vec!["r3", "r4"]);
    d.spec.revision_history_limit = None;
    assert!(revision::to_clean_up(&d, &old).is_empty());
}

fn cond(s: &DeploymentStatus, type_: &str) -> String {
    conditions::get(s, type_).map_or_else(String::new, |c| {
        format!(
            "{}/{}: {}",
            c.status.as_deref().unwrap_or(""),
            conditions::reason(c),
            c.message.as_deref().unwrap_or("")
        )
    })
}

#[test]
fn status_and_conditions() {
    let now = ts(1000);
    // (replicas, new (spec, avail), old (spec, avail)) -> counts and Available
    let cases = [
        (
            3,
            (3, 3),
            (0, 0),
            (Some(3), Some(3), Some(3), None),
            "True/MinimumReplicasAvailable: Deployment has minimum availability.",
        ),
        (
            4,
            (2, 0),
            (3, 3),
            (Some(5), Some(2), Some(3), Some(2)),
            "True/MinimumReplicasAvailable: Deployment has minimum availability.",
        ),
        (
            4,
            (2, 0),
            (2, 2),
            (Some(4), Some(2), Some(2), Some(2)),
            "False/MinimumReplicasUnavailable: Deployment does not have minimum availability.",
        ),
    ];
    for (i, (replicas, (ns, na), (os, oa), (w_rep, w_upd, w_av, w_unav), avail)) in
        cases.into_iter().enumerate()
    {
        let d = dep(replicas, "25%", "25%");
        let new = rs("new", ns, na, 10, 2);
        let old = rs("old", os, oa, 0, 1);
        let s = status::calculate(
            &d,
            &DeploymentStatus::default(),
            &[&new, &old],
            Some(&new),
            now,
        );
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.available_replicas,
                s.unavailable_replicas
            ),
            (w_rep, w_upd, w_av, w_unav),
            "case {i}"
        );
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(cond(&s, conditions::AVAILABLE), avail, "case {i}");
    }

    // Progressing through a rollout.
    let d = dep(3, "25%", "25%");
    let old_status = DeploymentStatus {
        conditions: Some(vec![conditions::new(
            conditions::PROGRESSING,
            "True",
            conditions::NEW_RS_CREATED,
            "Created new replica set \"web-1\"".into(),
            ts(0),
        )]),
        ..Default::default()
    };
    let moving = rs("web-1", 3, 1, 0, 1);
    let mut s = status::calculate(&d, &old_status, &[&moving], Some(&moving), now);
    conditions::update_progressing(&d, &old_status, &mut s, Some("web-1"), now);
    assert_eq!(
        cond(&s, conditions::PROGRESSING),
        "True/ReplicaSetUpdated: ReplicaSet \"web-1\" is progressing."
    );
    assert_eq!(
        conditions::requeue_after(&d, &s, now),
        Some(std::time::Duration::from_secs(600))
    );

    let done = rs("web-1", 3, 3, 0, 1);
    let before = s.clone();
    let mut s = status::calculate(&d, &before, &[&done], Some(&done), now);
    conditions::update_progressing(&d, &before, &mut s, Some("web-1"), now);
    assert_eq!(
        cond(&s, conditions::PROGRESSING),
        "True/NewReplicaSetAvailable: ReplicaSet \"web-1\" has successfully progressed."
    );
    assert_eq!(conditions::requeue_after(&d, &s, now), None);

    // No movement for longer than the deadline.
    let stuck = rs("web-1", 3, 1, 0, 1);
    let later = ts(2000);
    let before = status::calculate(&d, &old_status, &[&stuck], Some(&stuck), ts(0));
    let mut s = status::calculate(&d, &before, &[&stuck], Some(&stuck), later);
    s.ready_replicas = before.ready_replicas;
    conditions::update_progressing(&d, &before, &mut s, Some("web-1"), later);
    assert_eq!(
        cond(&s, conditions::PROGRESSING),
        "False/ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing."
    );

    // ReplicaFailure: the new set's failure wins over an old set's; none clears it.
    let failing = |name: &str, reason: &str| {
        let mut r = rs(name, 2, 0, 0, 1);
        if let Some(st) = r.status.as_mut() {
            st.conditions = Some(vec![k8s_openapi::api::apps::v1::ReplicaSetCondition {
                type_: Some("ReplicaFailure".into()),
                status: Some("True".into()),
                reason: Some(reason.into()),
                message: Some("pods \"x\" is forbidden".into()),
                last_transition_time: Some(Time(ts(5))),
            }]);
        }
        r
    };
    let (old_bad, new_bad, fine) = (
        failing("old", "OldFailed"),
        failing("new", "FailedCreate"),
        rs("new", 2, 2, 0, 2),
    );
    let mut s = DeploymentStatus::default();
    conditions::update_replica_failure(&mut s, &[&old_bad, &new_bad], Some(&new_bad));
    assert_eq!(
        cond(&s, conditions::REPLICA_FAILURE),
        "True/FailedCreate: pods \"x\" is forbidden"
    );
    conditions::update_replica_failure(&mut s, &[&old_bad, &fine], Some(&fine));
    assert_eq!(
        cond(&s, conditions::REPLICA_FAILURE),
        "True/OldFailed: pods \"x\" is forbidden"
    );
    conditions::update_replica_failure(&mut s, &[&fine], Some(&fine));
    assert_eq!(cond(&s, conditions::REPLICA_FAILURE), "");

    // Terminating pods are summed only when every set reports them.
    let with_terminating = |n: Option<i32>| {
        let mut r = rs("t", 1, 1, 0, 1);
        if let Some(st) = r.status.as_mut() {
            st.terminating_replicas = n;
        }
        r
    };
    let (t1, t2, unknown) = (
        with_terminating(Some(1)),
        with_terminating(Some(2)),
        with_terminating(None),
    );
    let sum_of = |rss: &[&ReplicaSet]| {
        status::calculate(&d, &DeploymentStatus::default(), rss, None, now).terminating_replicas
    };
    assert_eq!(sum_of(&[&t1, &t2]), Some(3));
    assert_eq!(sum_of(&[&t1, &unknown]), None);

    // Pause and resume.
    let mut paused = dep(3, "25%", "25%");
    paused.spec.paused = Some(true);
    let mut s = DeploymentStatus::default();
    assert!(conditions::paused_conditions(&paused, &mut s, now));
    assert_eq!(
        cond(&s, conditions::PROGRESSING),
        "Unknown/DeploymentPaused: Deployment is paused"
    );
    assert!(!conditions::paused_conditions(&paused, &mut s, now));
    assert!(conditions::paused_conditions(&d, &mut s, now));
    assert_eq!(
        cond(&s, conditions::PROGRESSING),
        "Unknown/DeploymentResumed: Deployment is resumed"
    );
}

fn pod(owner_uid: &str, phase: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                uid: owner_uid.into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    }
}

#[test]
fn recreate_steps() {
    let active = rs("old", 2, 2, 0, 1);
    let mut drained = rs("old", 0, 0, 0, 1);
    let cases = [
        (
            vec![active.clone()],
            vec![],
            recreate::Step::ScaleDownOld(ops(&[("old", 0)])),
        ),
        (
            vec![drained.clone()],
            vec![pod("old-uid", "Running")],
            recreate::Step::WaitForOldPods,
        ),
        (
            vec![drained.clone()],
            vec![pod("old-uid", "Succeeded")],
            recreate::Step::ScaleUpNew,
        ),
        (
            vec![drained.clone()],
            vec![pod("other", "Running")],
            recreate::Step::ScaleUpNew,
        ),
        (vec![], vec![], recreate::Step::ScaleUpNew),
    ];
    for (i, (old, pods, want)) in cases.into_iter().enumerate() {
        let old: Vec<&ReplicaSet> = old.iter().collect();
        assert_eq!(recreate::step(&old, &pods), want, "case {i}");
    }
    // The ReplicaSet still reporting pods is enough to wait.
    if let Some(s) = drained.status.as_mut() {
        s.replicas = 1;
    }
    assert_eq!(
        recreate::step(&[&drained], &[]),
        recreate::Step::WaitForOldPods
    );
}

#[test]
fn claiming_and_new_replica_sets() {
    let d = dep(3, "25%", "25%");
    let owned = rs("owned", 1, 1, 0, 1);
    let mut orphan = rs("orphan", 1, 1, 0, 1);
    orphan.metadata.owner_references = None;
    let mut foreign = rs("foreign", 1, 1, 0, 1);
    if let Some(r) = foreign.metadata.owner_references.as_mut() {
        r[0].uid = "other".into();
    }
    let mut unmatched = rs("unmatched", 1, 1, 0, 1);
    unmatched.metadata.labels = Some(labels(&[("app", "db")]));
    let mut unmatched_orphan = unmatched.clone();
    unmatched_orphan.metadata.owner_references = None;
    let cases = [
        (&owned, newrs::Claim::Keep),
        (&orphan, newrs::Claim::Adopt),
        (&foreign, newrs::Claim::Ignore),
        (&unmatched, newrs::Claim::Release),
        (&unmatched_orphan, newrs::Claim::Ignore),
    ];
    for (r, want) in cases {
        assert_eq!(newrs::claim(&d, r), want, "{}", rsinfo::name(r));
    }
    let mut deleting = d.clone();
    deleting.metadata.deletion_timestamp = Some(Time(ts(0)));
    assert_eq!(newrs::claim(&deleting, &orphan), newrs::Claim::Ignore);
    assert_eq!(newrs::claim(&deleting, &unmatched), newrs::Claim::Ignore);

    let built = newrs::build(&d);
    let h = hash::compute(&d.spec.template, None);
    assert_eq!(built.metadata.name, Some(format!("web-{h}")));
    let hash_label = |l: Option<&BTreeMap<String, String>>| {
        l.and_then(|l| l.get(rsinfo::POD_TEMPLATE_HASH)).cloned()
    };
    assert_eq!(hash_label(built.metadata.labels.as_ref()), Some(h.clone()));
    assert_eq!(
        hash_label(built.spec.selector.match_labels.as_ref()),
        Some(h.clone())
    );
    assert_eq!(
        hash_label(
            built
                .spec
                .template
                .as_ref()
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref())
        ),
        Some(h.clone())
    );
    assert!(built
        .spec
        .template
        .as_ref()
        .is_some_and(|t| revision::equal_ignore_hash(t, &d.spec.template)));
    let owner = built.metadata.owner_references.unwrap_or_default();
    assert_eq!(owner.len(), 1);
    assert_eq!(
        (
            owner[0].kind.as_str(),
            owner[0].controller,
            owner[0].block_owner_deletion
        ),
        ("Deployment", Some(true), Some(true))
    );
    // A collision changes the name.
    let mut collided = d.clone();
    collided.status = Some(DeploymentStatus {
        collision_count: Some(1),
        ..Default::default()
    });
    assert_ne!(
        newrs::build(&collided).metadata.name,
        Some(format!("web-{h}"))
    );
}
