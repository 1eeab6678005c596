use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::plugins::testutil::{filter, node, pod, scores, snapshot};

fn plugin() -> Arc<dyn Plugin> {
    Arc::new(InterPodAffinity::new(&Handle::for_tests()))
}

fn term(app: &str, key: &str) -> Value {
    json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
}

fn required(kind: &str, terms: Value) -> Value {
    json!({"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": terms}}})
}

fn preferred(kind: &str, weight: i32, t: Value) -> Value {
    json!({"affinity": {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": t}]}}})
}

/// Zone a: a1 (a db pod), a2 (empty); zone b: b1 (a web pod in namespace other),
/// b2 (a cache pod that refuses app=web on its host).
fn cluster() -> Snapshot {
    snapshot(vec![
        (
            node("a1", json!({"zone": "a"})),
            vec![pod("db", "default", json!({"app": "db"}), Value::Null)],
        ),
        (node("a2", json!({"zone": "a"})), vec![]),
        (
            node("b1", json!({"zone": "b"})),
            vec![pod("web0", "other", json!({"app": "web"}), Value::Null)],
        ),
        (
            node("b2", json!({"zone": "b"})),
            vec![pod(
                "cache",
                "default",
                json!({"app": "cache"}),
                required(
                    "podAntiAffinity",
                    json!([term("web", "kubernetes.io/hostname")]),
                ),
            )],
        ),
    ])
}

#[test]
fn required_terms() {
    let ok = |n: &str| format!("{n}: ok");
    let aff = |n: &str| format!("{n}: {ERR_REASON_AFFINITY}");
    let anti = |n: &str| format!("{n}: {ERR_REASON_ANTI_AFFINITY}");
    let existing = |n: &str| format!("{n}: {ERR_REASON_EXISTING_ANTI_AFFINITY}");
    let cases: Vec<(&str, Value, Value, Vec<String>)> = vec![
        (
            "no terms: only the existing pod's anti-affinity",
            json!({"app": "web"}),
            Value::Null,
            vec![ok("a1"), ok("a2"), ok("b1"), existing("b2")],
        ),
        (
            "existing anti-affinity does not select other labels",
            json!({"app": "api"}),
            Value::Null,
            vec![ok("a1"), ok("a2"), ok("b1"), ok("b2")],
        ),
        (
            "affinity to db by zone",
            json!({"app": "api"}),
            required("podAffinity", json!([term("db", "zone")])),
            vec![ok("a1"), ok("a2"), aff("b1"), aff("b2")],
        ),
        (
            "affinity to db by host",
            json!({"app": "api"}),
            required("podAffinity", json!([term("db", "kubernetes.io/hostname")])),
            vec![ok("a1"), aff("a2"), aff("b1"), aff("b2")],
        ),
        (
            "affinity to a label nobody has, pod not matching itself",
            json!({"app": "api"}),
            required("podAffinity", json!([term("nothing", "zone")])),
            vec![aff("a1"), aff("a2"), aff("b1"), aff("b2")],
        ),
        (
            "first pod of a self-affine group goes anywhere",
            json!({"app": "grp"}),
            required("podAffinity", json!([term("grp", "zone")])),
            vec![ok("a1"), ok("a2"), ok("b1"), ok("b2")],
        ),
        (
            "affinity needs the topology key on the node",
            json!({"app": "api"}),
            required("podAffinity", json!([term("db", "rack")])),
            vec![aff("a1"), aff("a2"), aff("b1"), aff("b2")],
        ),
        (
            "anti-affinity to db by zone",
            json!({"app": "api"}),
            required("podAntiAffinity", json!([term("db", "zone")])),
            vec![anti("a1"), anti("a2"), ok("b1"), ok("b2")],
        ),
        (
            "anti-affinity sees only its own namespace",
            json!({"app": "api"}),
            required(
                "podAntiAffinity",
                json!([term("web", "kubernetes.io/hostname")]),
            ),
            vec![ok("a1"), ok("a2"), ok("b1"), ok("b2")],
        ),
        (
            "anti-affinity with namespaces listed",
            json!({"app": "api"}),
            required(
                "podAntiAffinity",
                json!([{"labelSelector": {"matchLabels": {"app": "web"}},
                "topologyKey": "zone", "namespaces": ["other"]}]),
            ),
            vec![ok("a1"), ok("a2"), anti("b1"), anti("b2")],
        ),
        (
            "anti-affinity with an empty namespaceSelector: all namespaces",
            json!({"app": "api"}),
            required(
                "podAntiAffinity",
                json!([{"labelSelector": {"matchLabels": {"app": "web"}},
                "topologyKey": "kubernetes.io/hostname", "namespaceSelector": {}}]),
            ),
            vec![ok("a1"), ok("a2"), anti("b1"), ok("b2")],
        ),
    ];
    for (what, labels, spec, want) in cases {
        let p = pod("new", "default", labels, spec);
        assert_eq!(filter(plugin(), &p, &cluster()), want, "{what}");
    }
}

#[test]
fn preferred_terms_score() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "prefer the db's zone",
            preferred("podAffinity", 10, term("db", "zone")),
            vec!["a1=100", "a2=100", "b1=0", "b2=0"],
        ),
        (
            "avoid the db's host",
            preferred("podAntiAffinity", 10, term("db", "kubernetes.io/hostname")),
            vec!["a1=0", "a2=100", "b1=100", "b2=100"],
        ),
        (
            "no preferences: nothing to score",
            Value::Null,
            vec!["a1=0", "a2=0", "b1=0", "b2=0"],
        ),
    ];
    for (what, spec, want) in cases {
        let p = pod("new", "default", json!({"app": "api"}), spec);
        assert_eq!(scores(plugin(), &p, &cluster()), want, "{what}");
    }
}

#[test]
fn existing_pods_preferences_pull_the_incoming_pod() {
    let snap = snapshot(vec![
        (
            node("a1", json!({"zone": "a"})),
            vec![pod(
                "fe",
                "default",
                json!({"app": "fe"}),
                preferred("podAffinity", 50, term("be", "zone")),
            )],
        ),
        (node("b1", json!({"zone": "b"})), vec![]),
    ]);
    let p = pod("new", "default", json!({"app": "be"}), Value::Null);
    assert_eq!(scores(plugin(), &p, &snap), ["a1=100", "b1=0"]);
}

#[test]
fn nominated_pods_count_through_add_pod() {
    let snap = cluster();
    let fw = crate::framework::Framework::from_plugins(Handle::for_tests(), vec![(plugin(), 1)]);
    let p = pod(
        "new",
        "default",
        json!({"app": "api"}),
        required(
            "podAntiAffinity",
            json!([term("api", "kubernetes.io/hostname")]),
        ),
    );
    let mut state = CycleState::new();
    let (_, s) = fw.run_pre_filter(&mut state, &p, &snap);
    assert!(s.is_success());
    let a2 = snap.get("a2").expect("a2");
    assert!(fw.run_filter(&state, &p, a2).is_success());
    let other =
        Arc::new(pod("api-1", "default", json!({"app": "api"}), Value::Null).with_node("a2"));
    fw.run_pre_filter_add_pod(&mut state, &p, &other, a2);
    assert_eq!(
        fw.run_filter(&state, &p, a2).message(),
        ERR_REASON_ANTI_AFFINITY
    );
    fw.run_pre_filter_remove_pod(&mut state, &p, &other, a2);
    assert!(fw.run_filter(&state, &p, a2).is_success());
}

#[test]
fn counts_kept_across_cycles_follow_node_changes() {
    let plugin = plugin();
    let p = pod(
        "new",
        "default",
        json!({"app": "api"}),
        required(
            "podAntiAffinity",
            json!([term("api", "kubernetes.io/hostname")]),
        ),
    );
    let mut snap = cluster();
    assert_eq!(filter(plugin.clone(), &p, &snap)[1], "a2: ok");
    let mut a2 = (**snap.get("a2").expect("a2")).clone();
    a2.add_pod(Arc::new(
        pod("api-1", "default", json!({"app": "api"}), Value::Null).with_node("a2"),
    ));
    snap.replace(Arc::new(a2));
    assert_eq!(
        filter(plugin.clone(), &p, &snap)[1],
        format!("a2: {ERR_REASON_ANTI_AFFINITY}")
    );
    let mut a2 = (**snap.get("a2").expect("a2")).clone();
    a2.remove_pod("api-1");
    snap.replace(Arc::new(a2));
    assert_eq!(filter(plugin, &p, &snap)[1], "a2: ok");
}
