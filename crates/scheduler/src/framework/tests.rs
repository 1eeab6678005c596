use std::sync::Arc;

use serde_json::json;

use super::*;

fn node(name: &str, cpu: &str, taint: Option<&str>) -> NodeInfo {
    let mut n = json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "10"}}});
    if let Some(t) = taint {
        n["spec"] = json!({"taints": [{"key": t, "value": "x", "effect": "NoSchedule"}]});
    }
    NodeInfo::new(serde_json::from_value(n).expect("node"))
}

fn pod(cpu: &str) -> PodInfo {
    PodInfo::new(
        serde_json::from_value(json!({"metadata": {"name": "p", "uid": "p"}, "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
            .expect("pod"),
    )
}

fn framework() -> Framework {
    Framework::new(Handle::for_tests(), &crate::plugins::registry())
}

fn decide(fw: &Framework, pod: &PodInfo, nodes: Vec<NodeInfo>) -> Result<String, String> {
    let snapshot = Snapshot::new(nodes);
    let mut start = 0;
    fw.schedule_pod(&mut CycleState::new(), pod, &snapshot, &mut start)
        .map(|r| r.node)
        .map_err(|e| e.message())
}

#[test]
fn decisions() {
    let fw = framework();
    let cases = [
        (vec![node("a", "1", None), node("b", "4", None)], "2", Ok("b")),
        // Least allocated wins among nodes that fit.
        (vec![node("a", "2", None), node("b", "8", None)], "1", Ok("b")),
        (
            vec![node("a", "1", None), node("b", "1", None), node("c", "8", Some("gpu"))],
            "2",
            Err("0/3 nodes are available: 1 node(s) had untolerated taint {gpu: x}, 2 Insufficient cpu."),
        ),
        (vec![], "1", Err("no nodes available to schedule pods")),
    ];
    for (nodes, cpu, want) in cases {
        let want = want.map(str::to_string).map_err(str::to_string);
        assert_eq!(decide(&fw, &pod(cpu), nodes), want, "cpu {cpu}");
    }
}

#[test]
fn feasible_nodes_to_find() {
    let cases = [
        (0, 50, 50),
        (0, 99, 99),
        (0, 100, 100),
        (0, 1000, 420),
        (0, 5000, 500),
        (0, 6000, 300),
        (0, 10000, 500),
        (0, 200, 100),
        (30, 1000, 300),
        (100, 5000, 5000),
    ];
    for (pct, all, want) in cases {
        assert_eq!(
            num_feasible_nodes_to_find(pct, all),
            want,
            "{pct}% of {all}"
        );
    }
}

#[test]
fn sampling_rotates_through_the_nodes() {
    let fw = framework();
    let nodes: Vec<NodeInfo> = (0..1000)
        .map(|i| node(&format!("n{i:04}"), "8", None))
        .collect();
    let snapshot = Snapshot::new(nodes);
    let mut start = 0;
    let r = fw
        .schedule_pod(&mut CycleState::new(), &pod("1"), &snapshot, &mut start)
        .expect("fits");
    assert_eq!(
        (r.evaluated_nodes, r.feasible_nodes, start),
        (420, 420, 420)
    );
    fw.schedule_pod(&mut CycleState::new(), &pod("1"), &snapshot, &mut start)
        .expect("fits");
    assert_eq!(start, 840);
    fw.schedule_pod(&mut CycleState::new(), &pod("1"), &snapshot, &mut start)
        .expect("fits");
    assert_eq!(start, 260);
}

/// Nodes Filter rejected count as evaluated also when the pod fits elsewhere (their
/// statuses are then not kept).
#[test]
fn rejected_nodes_count_as_evaluated() {
    let fw = framework();
    let nodes: Vec<NodeInfo> = (0..10)
        .map(|i| node(&format!("n{i}"), if i < 7 { "1" } else { "8" }, None))
        .collect();
    let snapshot = Snapshot::new(nodes);
    let mut state = CycleState::new();
    let r = fw
        .schedule_pod(&mut state, &pod("2"), &snapshot, &mut 0)
        .expect("fits");
    assert_eq!((r.evaluated_nodes, r.feasible_nodes), (10, 3));
}

#[test]
fn nominated_pods_hold_their_room() {
    let fw = framework();
    let mut high = pod("3");
    high.uid = "high".into();
    high.priority = 10;
    fw.handle().nominator_mut().add(Arc::new(high), "a");
    let nodes = || vec![node("a", "4", None)];
    assert_eq!(
        decide(&fw, &pod("2"), nodes()),
        Err("0/1 nodes are available: 1 Insufficient cpu.".into())
    );
    let mut higher = pod("2");
    higher.priority = 20;
    assert_eq!(decide(&fw, &higher, nodes()), Ok("a".into()));
}

#[tokio::test]
async fn permit_wait_is_allowed_rejected_or_times_out() {
    use std::time::Duration;

    struct Waiter;
    impl Plugin for Waiter {
        fn name(&self) -> &'static str {
            "Waiter"
        }
        fn as_permit(&self) -> Option<&dyn PermitPlugin> {
            Some(self)
        }
    }
    impl PermitPlugin for Waiter {
        fn permit(&self, _: &mut CycleState, _: &PodInfo, _: &str) -> (Status, Duration) {
            (Status::wait(), Duration::from_millis(50))
        }
    }
    let fw = Framework::from_plugins(Handle::for_tests(), vec![(Arc::new(Waiter), 0)]);
    let p = Arc::new(pod("1"));

    let w = fw
        .run_permit(&mut CycleState::new(), &p, "a")
        .expect("not rejected")
        .expect("waits");
    assert!(fw.handle().waiting_pods.allow("p", "Waiter"));
    assert!(fw.wait_on_permit(&p, w).await.is_success());

    let w = fw
        .run_permit(&mut CycleState::new(), &p, "a")
        .expect("ok")
        .expect("waits");
    assert_eq!(
        fw.handle().waiting_pods.get("p").map(|w| w.node),
        Some("a".into())
    );
    fw.handle().waiting_pods.reject("p", "Gang", "no quorum");
    let s = fw.wait_on_permit(&p, w).await;
    assert_eq!(
        (s.code(), s.message()),
        (Code::Unschedulable, "no quorum".into())
    );

    let w = fw
        .run_permit(&mut CycleState::new(), &p, "a")
        .expect("ok")
        .expect("waits");
    let s = fw.wait_on_permit(&p, w).await;
    assert_eq!(
        (s.code(), s.message()),
        (
            Code::Unschedulable,
            "rejected due to timeout after waiting 50ms at plugin Waiter".into()
        )
    );
    assert!(fw.handle().waiting_pods.get("p").is_none());
}
