use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{reflector, watcher};
use serde_json::json;

use super::*;
use crate::framework::{Code, Stores, WaitingPods};

fn member(name: &str, group: &str, min: &str, extra: serde_json::Value) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "uid": name, "namespace": "default",
            "labels": {GROUP_LABEL: group}, "annotations": {MIN_MEMBERS_ANNOTATION: min}},
        "spec": {"containers": [{"name": "c"}]},
    });
    if let (Some(m), Some(e)) = (p["metadata"].as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(p).expect("pod")
}

/// A handle whose pod cache holds `pods`.
fn handle(pods: &[Pod]) -> Arc<Handle> {
    let (store, mut writer) = reflector::store::<Pod>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for p in pods {
        writer.apply_watcher_event(&watcher::Event::InitApply(p.clone()));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    Arc::new(Handle {
        client: None,
        stores: Stores {
            pods: store,
            ..Stores::empty()
        },
        waiting_pods: WaitingPods::default(),
        nominator: Arc::default(),
        activator: Default::default(),
    })
}

#[test]
fn gang_specs() {
    let info = |p: Pod| PodInfo::new(p);
    let cases = [
        (member("a", "g", "3", json!({})), Some(("g", 3, 10))),
        (
            member(
                "a",
                "g",
                "2",
                json!({"annotations": {MIN_MEMBERS_ANNOTATION: "2", TIMEOUT_ANNOTATION: "4"}}),
            ),
            Some(("g", 2, 4)),
        ),
        (member("a", "g", "zero", json!({})), None),
        (member("a", "g", "0", json!({})), None),
        (member("a", "", "3", json!({})), None),
        (member("a", "g", "3", json!({"annotations": {}})), None),
    ];
    for (p, want) in cases {
        let got =
            gang_of(&info(p.clone())).map(|g| (g.name.clone(), g.min_members, g.timeout.as_secs()));
        let want = want.map(|(n, m, t)| (n.to_string(), m, t));
        assert_eq!(got, want, "{:?}", p.metadata);
    }
}

#[test]
fn pre_filter_counts_live_members() {
    let gone = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
    let cases = [
        (
            vec![member("a", "g", "3", json!({}))],
            Some("waiting for gang g: 1/3 members exist"),
        ),
        (
            vec![
                member("a", "g", "3", json!({})),
                member("b", "g", "3", json!({})),
                member("c", "g", "3", gone.clone()),
            ],
            Some("waiting for gang g: 2/3 members exist"),
        ),
        (
            vec![
                member("a", "g", "3", json!({})),
                member("b", "g", "3", json!({})),
                member("c", "g", "3", json!({})),
            ],
            None,
        ),
        // Another gang's or another namespace's pods do not count.
        (
            vec![
                member("a", "g", "2", json!({})),
                member("b", "h", "2", json!({})),
                member("c", "g", "2", json!({"namespace": "other"})),
            ],
            Some("waiting for gang g: 1/2 members exist"),
        ),
    ];
    for (pods, want) in cases {
        let g = Gang::new(&handle(&pods));
        let (_, s) = g.pre_filter(
            &mut CycleState::new(),
            &PodInfo::new(pods[0].clone()),
            &Snapshot::default(),
        );
        match want {
            Some(msg) => {
                assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
                assert_eq!(s.message(), msg);
            }
            None => assert!(s.is_success(), "{s:?}"),
        }
    }
    let lone =
        PodInfo::new(serde_json::from_value(json!({"metadata": {"name": "x"}})).expect("pod"));
    let (_, s) =
        Gang::new(&handle(&[])).pre_filter(&mut CycleState::new(), &lone, &Snapshot::default());
    assert!(s.is_skip());
}

/// Reserve + Permit as the framework runs them, joining the waiting pods on Wait.
fn arrive(
    g: &Gang,
    h: &Handle,
    p: &Arc<PodInfo>,
) -> (Code, Option<tokio::sync::oneshot::Receiver<Status>>) {
    let mut st = CycleState::new();
    assert!(g.reserve(&mut st, p, "n").is_success());
    let (s, timeout) = g.permit(&mut st, p, "n");
    if s.is_wait() {
        let (rx, _, _) = h
            .waiting_pods
            .add(p.clone(), "n", BTreeMap::from([(NAME, timeout)]));
        return (s.code(), Some(rx));
    }
    (s.code(), None)
}

#[test]
fn permit_lets_the_whole_gang_go_at_once() {
    let pods: Vec<Pod> = ["a", "b", "c"]
        .iter()
        .map(|n| member(n, "g", "3", json!({})))
        .collect();
    let h = handle(&pods);
    let g = Gang::new(&h);
    let infos: Vec<Arc<PodInfo>> = pods
        .iter()
        .map(|p| Arc::new(PodInfo::new(p.clone())))
        .collect();
    let (c0, rx0) = arrive(&g, &h, &infos[0]);
    // The waiting member calls its siblings.
    let mut called: Vec<String> = h.activator.take().into_iter().collect();
    called.sort();
    assert_eq!(called, ["b", "c"]);
    let (c1, rx1) = arrive(&g, &h, &infos[1]);
    assert_eq!((c0, c1), (Code::Wait, Code::Wait));
    assert_eq!(h.activator.take().into_iter().collect::<Vec<_>>(), ["c"]);
    let (mut rx0, mut rx1) = (rx0.expect("a waits"), rx1.expect("b waits"));
    assert!(rx0.try_recv().is_err());
    let (c2, _) = arrive(&g, &h, &infos[2]);
    assert_eq!(c2, Code::Success);
    assert!(rx0.try_recv().expect("a allowed").is_success());
    assert!(rx1.try_recv().expect("b allowed").is_success());
}

#[test]
fn one_member_giving_up_sends_all_back() {
    let pods: Vec<Pod> = ["a", "b", "c"]
        .iter()
        .map(|n| member(n, "g", "3", json!({})))
        .collect();
    let h = handle(&pods);
    let g = Gang::new(&h);
    let infos: Vec<Arc<PodInfo>> = pods
        .iter()
        .map(|p| Arc::new(PodInfo::new(p.clone())))
        .collect();
    let (_, rx0) = arrive(&g, &h, &infos[0]);
    let (_, _rx1) = arrive(&g, &h, &infos[1]);
    // `b` times out: the framework drops it from the waiting pods and unreserves it.
    h.waiting_pods.remove(&infos[1].uid);
    g.unreserve(&CycleState::new(), &infos[1], "n");
    let s = rx0.expect("a waited").try_recv().expect("a rejected");
    assert_eq!(s.code(), Code::Unschedulable);
    assert_eq!(
        s.message(),
        "gang g: member b was rejected, the gang goes back to the queue"
    );
    assert!(h.waiting_pods.list().is_empty());
    // `a` is unreserved in turn; `c` alone now waits instead of completing the gang.
    g.unreserve(&CycleState::new(), &infos[0], "n");
    let (c2, _) = arrive(&g, &h, &infos[2]);
    assert_eq!(c2, Code::Wait);
}

#[test]
fn bound_members_count() {
    let mut bound = member("a", "g", "2", json!({}));
    if let Some(s) = bound.spec.as_mut() {
        s.node_name = Some("n".into());
    }
    let pods = vec![bound, member("b", "g", "2", json!({}))];
    let h = handle(&pods);
    let g = Gang::new(&h);
    let (c, _) = arrive(&g, &h, &Arc::new(PodInfo::new(pods[1].clone())));
    assert_eq!(c, Code::Success);
}
