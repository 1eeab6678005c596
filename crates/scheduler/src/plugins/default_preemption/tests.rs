use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::framework::{Framework, Handle, Snapshot};

/// `name:priority:cpu[:labels as k=v,...]`, started `start` seconds after the epoch.
fn pod(spec: &str, node: &str, start: i64) -> Arc<PodInfo> {
    let parts: Vec<&str> = spec.split(':').collect();
    let labels: serde_json::Map<String, Value> = parts
        .get(3)
        .into_iter()
        .flat_map(|l| l.split(','))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let start = Timestamp::from_second(start).expect("time").to_string();
    Arc::new(PodInfo::new(
        serde_json::from_value(json!({
            "metadata": {"name": parts[0], "uid": parts[0], "namespace": "default", "labels": labels},
            "spec": {"nodeName": node, "priority": parts[1].parse::<i32>().expect("priority"),
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": parts[2]}}}]},
            "status": {"startTime": start},
        }))
        .expect("pod"),
    ))
}

fn node(name: &str, cpu: &str, pods: &[&str]) -> NodeInfo {
    let mut n = NodeInfo::new(
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "10"}}}))
        .expect("node"),
    );
    for (i, p) in pods.iter().enumerate() {
        n.add_pod(pod(p, name, 1000 + i as i64));
    }
    n
}

fn pdb(selector: Value, allowed: i32, disrupted: &[&str]) -> Arc<PodDisruptionBudget> {
    let disrupted: serde_json::Map<String, Value> = disrupted
        .iter()
        .map(|p| (p.to_string(), json!("2026-01-01T00:00:00Z")))
        .collect();
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "default"},
            "spec": {"selector": selector},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1,
                       "expectedPods": 1, "disruptedPods": disrupted},
        }))
        .expect("pdb"),
    )
}

fn names(pods: &[Arc<PodInfo>]) -> Vec<&str> {
    pods.iter().map(|p| p.name.as_str()).collect()
}

fn framework() -> Framework {
    Framework::new(Handle::for_tests(), &crate::plugins::registry())
}

/// Runs a whole failed cycle: Filter on every node, then PostFilter.
fn preempt(fw: &Framework, preemptor: &PodInfo, nodes: Vec<NodeInfo>) -> Result<String, String> {
    let snapshot = Snapshot::new(nodes);
    let mut state = CycleState::new();
    let mut start = 0;
    let statuses = match fw.schedule_pod(&mut state, preemptor, &snapshot, &mut start) {
        Ok(r) => return Ok(format!("fits on {}", r.node)),
        Err(crate::framework::ScheduleError::Fit(fe)) => fe.diagnosis.node_to_status,
        Err(e) => return Err(e.message()),
    };
    let (res, s) = fw.run_post_filter(&mut state, preemptor, &snapshot, &statuses);
    match res.and_then(|r| r.nominated_node_name) {
        Some(n) if s.is_success() => Ok(n),
        _ => Err(s.message()),
    }
}

/// (what, preemptor, nodes, nominated node or PostFilter message).
type DecisionCase = (
    &'static str,
    &'static str,
    Vec<NodeInfo>,
    Result<&'static str, &'static str>,
);

/// (what, node, budgets, victims and budget violations or why none).
type VictimCase = (
    &'static str,
    NodeInfo,
    Vec<Arc<PodDisruptionBudget>>,
    Result<(Vec<&'static str>, usize), &'static str>,
);

#[test]
fn post_filter_decisions() {
    let fw = framework();
    let cases: Vec<DecisionCase> = vec![
        (
            "the node whose most important victim matters least",
            "p:10:1",
            vec![
                node("n1", "2", &["a:5:2"]),
                node("n2", "2", &["b:1:1", "c:2:1"]),
            ],
            Ok("n2"),
        ),
        (
            "fewer victims when priorities tie",
            "p:10:2",
            vec![
                node("n1", "2", &["a:1:1", "b:1:1"]),
                node("n2", "2", &["c:1:2"]),
            ],
            Ok("n2"),
        ),
        (
            "nothing of lower priority",
            "p:10:2",
            vec![node("n1", "2", &["a:10:2"]), node("n2", "2", &["b:20:1"])],
            Err("preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod"),
        ),
        (
            "too big even for an empty node",
            "p:10:4",
            vec![node("n1", "2", &["a:1:1"])],
            Err("preemption: 0/1 nodes are available: 1 Insufficient cpu"),
        ),
    ];
    for (what, preemptor, nodes, want) in cases {
        let got = preempt(&fw, &pod(preemptor, "", 0), nodes);
        assert_eq!(
            got,
            want.map(str::to_string).map_err(str::to_string),
            "{what}"
        );
    }
}

#[test]
fn never_does_not_preempt() {
    let fw = framework();
    let mut p = (*pod("p:10:2", "", 0).pod).clone();
    if let Some(s) = p.spec.as_mut() {
        s.preemption_policy = Some("Never".into());
    }
    let got = preempt(&fw, &PodInfo::new(p), vec![node("n1", "2", &["a:1:2"])]);
    assert_eq!(
        got,
        Err("preemption: not eligible due to preemptionPolicy=Never".into())
    );
}

#[test]
fn victims_on_a_node() {
    let fw = framework();
    let snapshot = Snapshot::new(vec![]);
    let ctx = PostFilterContext {
        framework: &fw,
        snapshot: &snapshot,
    };
    let protect = pdb(json!({"matchLabels": {"app": "db"}}), 0, &[]);
    let cases: Vec<VictimCase> = vec![
        (
            "add back the most important first",
            node("n", "3", &["lo:1:1", "mid:5:1", "hi:50:1"]),
            vec![],
            Ok((vec!["lo"], 0)),
        ),
        (
            "equal priorities: the one started earlier stays",
            node("n", "2", &["old:1:1", "new:1:1"]),
            vec![],
            Ok((vec!["new"], 0)),
        ),
        (
            "a protected pod is added back before others",
            node("n", "2", &["old:1:1", "new:1:1:app=db"]),
            vec![protect.clone()],
            Ok((vec!["old"], 0)),
        ),
        (
            "protected pods go when nothing else helps",
            node("n", "2", &["a:1:1:app=db", "b:1:1:app=db"]),
            vec![protect.clone()],
            Ok((vec!["b"], 1)),
        ),
        (
            "no victims",
            node("n", "1", &["a:10:1"]),
            vec![],
            Err("No preemption victims found for incoming pod"),
        ),
    ];
    for (what, n, pdbs, want) in cases {
        // PostFilter runs after PreFilter: plugins' cycle state is there.
        let preemptor = pod("p:10:1", "", 0);
        let mut state = CycleState::new();
        let snap = Snapshot::new(vec![n.clone()]);
        let (_, s) = fw.run_pre_filter(&mut state, &preemptor, &snap);
        assert!(s.is_success(), "{what}: {s:?}");
        let got = select_victims_on_node(&ctx, &state, &preemptor, &n, &pdbs)
            .map(|(v, n)| {
                (
                    names(&v).iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    n,
                )
            })
            .map_err(|s| s.message());
        let want = want
            .map(|(v, n)| (v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), n))
            .map_err(str::to_string);
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn how_many_candidates() {
    let cases = [
        (0, 0),
        (3, 3),
        (100, 100),
        (500, 100),
        (1000, 100),
        (5000, 500),
    ];
    for (nodes, want) in cases {
        assert_eq!(candidates_to_find(nodes), want, "{nodes} nodes");
    }
}

#[test]
fn pdb_split() {
    let pods = vec![
        pod("a:1:1:app=db", "n", 1),
        pod("b:1:1:app=db", "n", 2),
        pod("c:1:1:app=web", "n", 3),
        pod("d:1:1", "n", 4),
    ];
    let cases = [
        (
            vec![pdb(json!({"matchLabels": {"app": "db"}}), 1, &[])],
            vec!["b"],
        ),
        (
            vec![pdb(json!({"matchLabels": {"app": "db"}}), 0, &[])],
            vec!["a", "b"],
        ),
        // Already disrupted pods are not charged again.
        (
            vec![pdb(json!({"matchLabels": {"app": "db"}}), 0, &["a"])],
            vec!["b"],
        ),
        // An empty selector protects nothing.
        (vec![pdb(json!({}), 0, &[])], vec![]),
        (
            vec![pdb(
                json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
                2,
                &[],
            )],
            vec!["c"],
        ),
    ];
    for (pdbs, want) in cases {
        let (violating, fine) = split_by_pdb(&pods, &pdbs);
        assert_eq!(names(&violating), want);
        assert_eq!(violating.len() + fine.len(), pods.len());
    }
}

#[test]
fn candidate_order() {
    let c = |node: &str, victims: &[&str], pdb_violations: usize| Candidate {
        node: node.into(),
        victims: victims
            .iter()
            .map(|v| {
                let (spec, start) = v.split_once('@').unwrap_or((v, "0"));
                pod(spec, node, start.parse().unwrap_or(0))
            })
            .collect(),
        pdb_violations,
    };
    let cases = [
        (vec![c("a", &["x:1:1"], 0), c("b", &[], 0)], "b"),
        (vec![c("a", &["x:1:1"], 1), c("b", &["y:5:1"], 0)], "b"),
        (
            vec![c("a", &["x:5:1"], 0), c("b", &["y:1:1", "z:1:1"], 0)],
            "b",
        ),
        (
            vec![
                c("a", &["x:5:1", "y:3:1"], 0),
                c("b", &["z:5:1", "w:1:1"], 0),
            ],
            "b",
        ),
        (
            vec![c("a", &["x:5:1", "y:1:1"], 0), c("b", &["z:5:1"], 0)],
            "b",
        ),
        (
            vec![c("a", &["x:-5:1", "y:-5:1"], 0), c("b", &["z:-5:1"], 0)],
            "b",
        ),
        // Everything equal: the node whose victims started last.
        (
            vec![c("a", &["x:1:1@100"], 0), c("b", &["y:1:1@200"], 0)],
            "b",
        ),
        (
            vec![c("a", &["x:1:1@300"], 0), c("b", &["y:1:1@200"], 0)],
            "a",
        ),
    ];
    for (cands, want) in cases {
        let got = pick_one(&cands).map(|i| cands[i].node.as_str());
        assert_eq!(got, Some(want), "{cands:?}");
    }
    assert_eq!(pick_one(&[]), None);
}
