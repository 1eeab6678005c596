use super::*;
use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use kube::api::ObjectMeta;

fn pod(name: &str, ready: bool, deleting: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        },
        status: Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn spec(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudgetSpec {
    PodDisruptionBudgetSpec {
        min_available: min,
        max_unavailable: max,
        ..Default::default()
    }
}

/// (spec, pods, scale) → (expected, desired)
type Case = (
    PodDisruptionBudgetSpec,
    i32,
    i32,
    Result<(i32, i32), String>,
);

#[test]
fn expected_and_desired_table() {
    let int = IntOrString::Int;
    let pct = |s: &str| IntOrString::String(s.into());
    // (spec, pods, scale) → (expected, desired)
    let cases: Vec<Case> = vec![
        (spec(Some(int(2)), None), 3, 0, Ok((3, 2))),
        (spec(Some(pct("50%")), None), 3, 3, Ok((3, 2))),
        (spec(Some(pct("100%")), None), 2, 4, Ok((4, 4))),
        (spec(None, Some(int(1))), 3, 3, Ok((3, 2))),
        (spec(None, Some(pct("30%"))), 3, 10, Ok((10, 7))),
        (spec(None, Some(int(5))), 3, 3, Ok((3, 0))),
        (spec(None, None), 3, 0, Ok((3, 0))),
        (
            spec(Some(pct("half")), None),
            3,
            3,
            Err("invalid value for IntOrString: invalid value \"half\"".into()),
        ),
    ];
    for (s, pods, scale, want) in cases {
        assert_eq!(expected_and_desired(&s, pods, scale), want, "{s:?}");
    }
    assert!(needs_scale(&spec(Some(pct("50%")), None)));
    assert!(needs_scale(&spec(None, Some(int(1)))));
    assert!(!needs_scale(&spec(Some(int(1)), None)));
}

#[test]
fn healthy_and_allowed() {
    let now = Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1000);
    let pods = vec![
        pod("a", true, false),
        pod("b", true, false),
        pod("c", true, true),
        pod("d", false, false),
        pod("e", true, false),
    ];
    let recorded: BTreeMap<String, Time> = [
        ("e".to_string(), Time(now - SignedDuration::from_secs(10))),
        ("b".to_string(), Time(now - SignedDuration::from_secs(500))),
        ("c".to_string(), Time(now)),
        ("gone".to_string(), Time(now)),
    ]
    .into();
    let (pending, recheck) = pending_disruptions(Some(&recorded), &pods, now);
    // b's eviction expired, c is being deleted, gone is gone: only e is still pending.
    assert_eq!(pending.keys().collect::<Vec<_>>(), vec!["e"]);
    assert_eq!(recheck, Some(now + SignedDuration::from_secs(110)));
    let healthy = current_healthy(&pods, &pending);
    assert_eq!(healthy, 2); // a, b
    for (current, desired, expected, want) in
        [(2, 1, 3, 1), (2, 2, 3, 0), (1, 2, 3, 0), (3, 0, 0, 0)]
    {
        let c = Counts {
            current_healthy: current,
            desired_healthy: desired,
            expected_pods: expected,
            disrupted: BTreeMap::new(),
        };
        assert_eq!(
            disruptions_allowed(&c),
            want,
            "{current} {desired} {expected}"
        );
    }
}

#[test]
fn status_conditions() {
    let t0 = Timestamp::UNIX_EPOCH;
    let t1 = t0 + SignedDuration::from_secs(60);
    let counts = |current| Counts {
        current_healthy: current,
        desired_healthy: 2,
        expected_pods: 3,
        disrupted: BTreeMap::new(),
    };
    let s = status(None, Some(1), Ok(counts(3)), t0);
    assert_eq!(s.disruptions_allowed, Some(1));
    assert_eq!(s.observed_generation, Some(1));
    let c = &s.conditions.as_ref().expect("conditions")[0];
    assert_eq!(
        (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
        (CONDITION, "True", SUFFICIENT)
    );
    // Same verdict later: the transition time stays.
    let s2 = status(Some(&s), Some(1), Ok(counts(3)), t1);
    assert_eq!(
        s2.conditions.as_ref().expect("c")[0].last_transition_time,
        Time(t0)
    );
    let s3 = status(Some(&s2), Some(2), Ok(counts(2)), t1);
    let c = &s3.conditions.as_ref().expect("c")[0];
    assert_eq!(
        (
            c.status.as_str(),
            c.reason.as_str(),
            c.last_transition_time.clone()
        ),
        ("False", INSUFFICIENT, Time(t1))
    );
    assert_eq!(s3.disruptions_allowed, Some(0));
    let s4 = status(Some(&s3), Some(2), Err("boom".into()), t1);
    let c = &s4.conditions.as_ref().expect("c")[0];
    assert_eq!(
        (c.reason.as_str(), c.message.as_str()),
        (SYNC_FAILED, "boom")
    );
}
