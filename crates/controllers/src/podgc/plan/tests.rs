use super::*;
use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ObjectMeta;

fn pod(name: &str, node: &str, phase: &str, created: i64, deleting: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            creation_timestamp: Some(Time(
                Timestamp::UNIX_EPOCH + SignedDuration::from_secs(created),
            )),
            deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()).filter(|n: &String| !n.is_empty()),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    }
}

fn names(keys: &[PodKey]) -> Vec<&str> {
    keys.iter().map(|(_, n)| n.as_str()).collect()
}

#[test]
fn terminated_beyond_threshold_oldest_first() {
    let pods = vec![
        pod("new", "n1", "Succeeded", 30, false),
        pod("old", "n1", "Failed", 10, false),
        pod("mid", "n1", "Succeeded", 20, false),
        pod("running", "n1", "Running", 0, false),
        pod("going", "n1", "Failed", 0, true),
    ];
    let now = Timestamp::UNIX_EPOCH;
    for (threshold, want) in [
        (3, vec![]),
        (2, vec!["old"]),
        (1, vec!["old", "mid"]),
        (0, vec![]),
    ] {
        let p = plan(
            &pods,
            &BTreeMap::new(),
            SignedDuration::from_secs(40),
            threshold,
            now,
        );
        assert_eq!(names(&p.terminated), want, "threshold {threshold}");
    }
}

#[test]
fn orphans_after_quarantine_and_unscheduled_terminating() {
    let pods = vec![
        pod("a", "n1", "Running", 0, false),
        pod("b", "gone", "Running", 0, false),
        pod("c", "", "Pending", 0, true),
        pod("d", "", "Pending", 0, false),
    ];
    let nodes: BTreeSet<String> = ["n1".to_string(), "idle".to_string()].into();
    let t0 = Timestamp::UNIX_EPOCH;
    let q = SignedDuration::from_secs(40);
    let mut missing = BTreeMap::new();
    track_missing(&mut missing, &pods, &nodes, t0);
    assert_eq!(missing.keys().collect::<Vec<_>>(), vec!["gone"]);
    let p = plan(&pods, &missing, q, 100, t0 + SignedDuration::from_secs(38));
    assert!(p.orphaned.is_empty());
    assert_eq!(names(&p.unscheduled_terminating), vec!["c"]);
    // Seen again later: the first sighting counts.
    track_missing(
        &mut missing,
        &pods,
        &nodes,
        t0 + SignedDuration::from_secs(30),
    );
    let p = plan(&pods, &missing, q, 100, t0 + SignedDuration::from_secs(40));
    assert_eq!(
        p.orphaned,
        vec![(("ns".to_string(), "b".to_string()), "gone".to_string())]
    );
    // The node came back: forgotten.
    let back: BTreeSet<String> = ["n1".to_string(), "gone".to_string()].into();
    track_missing(
        &mut missing,
        &pods,
        &back,
        t0 + SignedDuration::from_secs(50),
    );
    assert!(missing.is_empty());
}
