use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::plugins::testutil::{filter, node, pod, scores, snapshot};

fn plugin() -> Arc<dyn Plugin> {
    Arc::new(PodTopologySpread::new(&Handle::for_tests()))
}

fn web(name: &str) -> PodInfo {
    pod(name, "default", json!({"app": "web"}), Value::Null)
}

fn spread(key: &str, skew: i32, extra: Value) -> Value {
    let mut c = json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}}});
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            c[k] = v.clone();
        }
    }
    json!({"topologySpreadConstraints": [c]})
}

/// Zones a (2 web pods on a1), b (1 on b1), c (none), and a node without a zone.
fn cluster() -> Snapshot {
    snapshot(vec![
        (node("a1", json!({"zone": "a"})), vec![web("w1"), web("w2")]),
        (node("b1", json!({"zone": "b"})), vec![web("w3")]),
        (node("c1", json!({"zone": "c"})), vec![]),
        (node("x1", json!({})), vec![]),
    ])
}

#[test]
fn filter_by_skew() {
    let cases = [
        (
            spread("zone", 1, json!({})),
            vec![
                "a1: node(s) didn't match pod topology spread constraints",
                "b1: node(s) didn't match pod topology spread constraints",
                "c1: ok",
                "x1: node(s) didn't match pod topology spread constraints (missing required label)",
            ],
        ),
        (
            spread("zone", 2, json!({})),
            vec![
                "a1: node(s) didn't match pod topology spread constraints",
                "b1: ok",
                "c1: ok",
                "x1: node(s) didn't match pod topology spread constraints (missing required label)",
            ],
        ),
        // Four domains required but three exist: the minimum counts as zero.
        (
            spread("zone", 2, json!({"minDomains": 4})),
            vec![
                "a1: node(s) didn't match pod topology spread constraints",
                "b1: ok",
                "c1: ok",
                "x1: node(s) didn't match pod topology spread constraints (missing required label)",
            ],
        ),
        // Nodes outside the pod's node selector do not form domains (nodeAffinityPolicy Honor):
        // without zone c the minimum is b's 1.
        (
            {
                let mut s = spread("zone", 1, json!({}));
                s["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}});
                s
            },
            vec![
                "a1: node(s) didn't match pod topology spread constraints",
                "b1: ok",
                "c1: ok",
                "x1: node(s) didn't match pod topology spread constraints (missing required label)",
            ],
        ),
        (
            {
                let mut s = spread("zone", 1, json!({"nodeAffinityPolicy": "Ignore"}));
                s["nodeSelector"] = json!({"zone": "a"});
                s
            },
            vec![
                "a1: node(s) didn't match pod topology spread constraints",
                "b1: node(s) didn't match pod topology spread constraints",
                "c1: ok",
                "x1: node(s) didn't match pod topology spread constraints (missing required label)",
            ],
        ),
        // A selector the incoming pod does not match: no self count.
        (
            json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "db"}}}]}),
            vec![
                "a1: ok",
                "b1: ok",
                "c1: ok",
                "x1: node(s) didn't match pod topology spread constraints (missing required label)",
            ],
        ),
        // ScheduleAnyway does not filter.
        (
            json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "web"}}}]}),
            vec!["a1: ok", "b1: ok", "c1: ok", "x1: ok"],
        ),
    ];
    for (spec, want) in cases {
        let p = pod("new", "default", json!({"app": "web"}), spec.clone());
        assert_eq!(filter(plugin(), &p, &cluster()), want, "{spec}");
    }
}

#[test]
fn taints_policy_honor_leaves_out_tainted_domains() {
    let mut tainted = node("c1", json!({"zone": "c"}));
    let mut n = (*tainted.node).clone();
    n.spec = Some(
        serde_json::from_value(json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}))
            .expect("spec"),
    );
    tainted.set_node(Arc::new(n));
    let snap = snapshot(vec![
        (node("a1", json!({"zone": "a"})), vec![web("w1")]),
        (node("b1", json!({"zone": "b"})), vec![]),
        (tainted, vec![]),
    ]);
    let p = pod(
        "new",
        "default",
        json!({"app": "web"}),
        spread("zone", 1, json!({"nodeTaintsPolicy": "Honor"})),
    );
    assert_eq!(
        filter(plugin(), &p, &snap),
        [
            "a1: node(s) didn't match pod topology spread constraints",
            "b1: ok",
            "c1: ok"
        ]
    );
}

/// A web pod spread over zones (maxSkew 1), and its DoNotSchedule constraints.
fn zone_spread_pod() -> (PodInfo, Vec<Constraint>) {
    let p = pod(
        "new",
        "default",
        json!({"app": "web"}),
        spread("zone", 1, json!({})),
    );
    let constraints = pod_constraints(&p, "DoNotSchedule");
    (p, constraints)
}

#[test]
fn cached_counts_follow_changes() {
    let cache = CountCache::default();
    let (p, constraints) = zone_spread_pod();
    let mut snap = cluster();
    let got = cache.counts("k".into(), &constraints, &p, &snap);
    assert_eq!(
        got.view(),
        counts::counts_from_scratch(&constraints, &p, &snap).view()
    );
    // A pod lands on c1; another namespace's pod on b1 does not count.
    let mut c1 = (**snap.get("c1").expect("c1")).clone();
    c1.add_pod(Arc::new(web("w4").with_node("c1")));
    snap.replace(Arc::new(c1));
    let mut b1 = (**snap.get("b1").expect("b1")).clone();
    b1.add_pod(Arc::new(
        pod("o", "other", json!({"app": "web"}), Value::Null).with_node("b1"),
    ));
    snap.replace(Arc::new(b1));
    let got = cache.counts("k".into(), &constraints, &p, &snap);
    assert_eq!(
        got.view(),
        counts::counts_from_scratch(&constraints, &p, &snap).view()
    );
    let zone_c = got.view()[0].get("c").copied();
    assert_eq!(zone_c, Some((1, 1)));
}

#[test]
fn soft_spread_scores_emptier_domains_higher() {
    let spec = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}}}]});
    let p = pod("new", "default", json!({"app": "web"}), spec);
    assert_eq!(
        scores(plugin(), &p, &cluster()),
        ["a1=0", "b1=33", "c1=100", "x1=0"]
    );
}

#[test]
fn relabelled_nodes_move_between_domains() {
    let cache = CountCache::default();
    let (p, constraints) = zone_spread_pod();
    let mut snap = cluster();
    cache.counts("k".into(), &constraints, &p, &snap);
    // b1 (zone b's only node, one web pod) moves to zone c; x1 gains a zone.
    let mut b1 = node("b1", json!({"zone": "c"}));
    b1.add_pod(Arc::new(web("w3").with_node("b1")));
    snap.replace(Arc::new(b1));
    snap.replace(Arc::new(node("x1", json!({"zone": "d"}))));
    let got = cache.counts("k".into(), &constraints, &p, &snap);
    let scratch = counts::counts_from_scratch(&constraints, &p, &snap);
    assert_eq!(got.view(), scratch.view());
    assert_eq!(
        format!("{:?}", got.view()[0]),
        r#"{"a": (2, 1), "c": (1, 2), "d": (0, 1)}"#
    );
    assert_eq!(got.domains(0), 3);
}

/// Nodes the counts have not seen (copies with other Node objects) find their domain by
/// label, with the same answers.
#[test]
fn domains_of_uncounted_nodes_come_from_labels() {
    let (p, constraints) = zone_spread_pod();
    let snap = cluster();
    let counts = counts::counts_from_scratch(&constraints, &p, &snap);
    let cases = [
        (node("a2", json!({"zone": "a"})), "Id(0) 2"),
        (node("z1", json!({"zone": "z"})), "Other(\"z\") 0"),
        (node("n1", json!({})), "Missing 0"),
    ];
    for (n, want) in cases {
        let d = counts.domain(0, "zone", &n);
        assert_eq!(format!("{d:?} {}", counts.pods_in(0, d)), want);
    }
    // A counted node answers from its Node object.
    let a1 = snap.get("a1").expect("a1");
    assert_eq!(format!("{:?}", counts.domain(0, "zone", a1)), "Id(0)");
}
