//! Which nodes a DaemonSet's pod belongs on, as upstream's `nodeShouldRunDaemonPod` decides
//! it: the template's node name, node selector and required node affinity must match, and
//! every NoSchedule/NoExecute taint must be tolerated (with the tolerations every daemon pod
//! gets). Also the pinning of each pod to its node through `matchFields metadata.name`.

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};

/// `should_run`: a pod should be created there. `should_continue`: a pod already there may
/// stay (only NoExecute taints evict).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    pub should_run: bool,
    pub should_continue: bool,
}

/// The tolerations upstream adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`), so
/// node conditions never keep or evict them.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let t = Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        };
        // Same key and effect replaces the user's toleration, as upstream's update does.
        match list
            .iter_mut()
            .find(|x| x.key.as_deref() == Some(key) && x.effect.as_deref() == Some(effect))
        {
            Some(existing) => *existing = t,
            None => list.push(t),
        }
    }
}

/// The affinity that pins a pod to `node`: every required term's `matchFields` become
/// `metadata.name In [node]` (a new single term when there were none); the rest is kept.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let pin = NodeSelectorRequirement {
        key: "metadata.name".into(),
        operator: "In".into(),
        values: Some(vec![node.into()]),
    };
    let mut affinity = affinity.unwrap_or_default();
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = na
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector {
            node_selector_terms: Vec::new(),
        });
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields = Some(vec![pin.clone()]);
    }
    affinity
}

/// The node a daemon pod is for: its `nodeName`, or before binding, the node its affinity
/// pins it to.
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n);
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first().map(String::as_str))
}

fn requirement_holds(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A term holds when all its expressions (labels) and fields (only `metadata.name`) do; an
/// empty term holds for no node.
fn term_holds(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs
        .iter()
        .all(|r| requirement_holds(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name" && requirement_holds(r, node.metadata.name.as_deref())
        })
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    if t.key
        .as_deref()
        .is_some_and(|k| !k.is_empty() && k != taint.key)
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            t.key.as_deref().is_some_and(|k| !k.is_empty())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// Whether the pod built from `spec` (tolerations already added) belongs on `node`.
pub fn fit(spec: &PodSpec, node: &Node) -> Fit {
    let node_name = node.metadata.name.as_deref().unwrap_or("");
    let name_ok = spec
        .node_name
        .as_deref()
        .is_none_or(|n| n.is_empty() || n == node_name);
    let labels = node.metadata.labels.as_ref();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok =
        required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_holds(t, node)));
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let untolerated = |effects: &[&str]| {
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter(|t| effects.contains(&t.effect.as_str()))
            .any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
    };
    let placed = name_ok && selector_ok && affinity_ok;
    Fit {
        should_run: placed && !untolerated(&["NoSchedule", "NoExecute"]),
        should_continue: placed && !untolerated(&["NoExecute"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).expect("node")
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut v = v;
        v["containers"] = json!([{"name": "c"}]);
        let mut s: PodSpec = serde_json::from_value(v).expect("spec");
        add_daemon_tolerations(&mut s);
        s
    }

    #[test]
    fn eligibility_table() {
        let n = node(json!({"metadata": {"name": "n1", "labels": {"disk": "ssd", "zone": "a"}}}));
        let tainted = |key: &str, effect: &str| {
            node(
                json!({"metadata": {"name": "n1", "labels": {"disk": "ssd"}},
                        "spec": {"taints": [{"key": key, "value": "v", "effect": effect}]}}),
            )
        };
        let term = |t: serde_json::Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [t]}}}});
        // (what, pod spec, node, should run, should continue)
        let cases = [
            ("plain", spec(json!({})), n.clone(), true, true),
            (
                "selector match",
                spec(json!({"nodeSelector": {"disk": "ssd"}})),
                n.clone(),
                true,
                true,
            ),
            (
                "selector miss",
                spec(json!({"nodeSelector": {"disk": "hdd"}})),
                n.clone(),
                false,
                false,
            ),
            (
                "nodeName elsewhere",
                spec(json!({"nodeName": "n2"})),
                n.clone(),
                false,
                false,
            ),
            (
                "affinity expression",
                spec(term(
                    json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}),
                )),
                n.clone(),
                true,
                true,
            ),
            (
                "affinity field",
                spec(term(
                    json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}),
                )),
                n.clone(),
                false,
                false,
            ),
            (
                "NoSchedule taint",
                spec(json!({})),
                tainted("dedicated", "NoSchedule"),
                false,
                true,
            ),
            (
                "NoExecute taint",
                spec(json!({})),
                tainted("dedicated", "NoExecute"),
                false,
                false,
            ),
            (
                "PreferNoSchedule ignored",
                spec(json!({})),
                tainted("dedicated", "PreferNoSchedule"),
                true,
                true,
            ),
            (
                "tolerated by key",
                spec(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]})),
                tainted("dedicated", "NoSchedule"),
                true,
                true,
            ),
            (
                "tolerated by value",
                spec(
                    json!({"tolerations": [{"key": "dedicated", "value": "v", "effect": "NoSchedule"}]}),
                ),
                tainted("dedicated", "NoSchedule"),
                true,
                true,
            ),
            (
                "wrong value",
                spec(json!({"tolerations": [{"key": "dedicated", "value": "x"}]})),
                tainted("dedicated", "NoSchedule"),
                false,
                true,
            ),
            (
                "tolerate everything",
                spec(json!({"tolerations": [{"operator": "Exists"}]})),
                tainted("x", "NoExecute"),
                true,
                true,
            ),
            (
                "not-ready is tolerated",
                spec(json!({})),
                tainted("node.kubernetes.io/not-ready", "NoExecute"),
                true,
                true,
            ),
            (
                "unschedulable is tolerated",
                spec(json!({})),
                tainted("node.kubernetes.io/unschedulable", "NoSchedule"),
                true,
                true,
            ),
            (
                "network-unavailable is not",
                spec(json!({})),
                tainted("node.kubernetes.io/network-unavailable", "NoSchedule"),
                false,
                true,
            ),
            (
                "network-unavailable with hostNetwork",
                spec(json!({"hostNetwork": true})),
                tainted("node.kubernetes.io/network-unavailable", "NoSchedule"),
                true,
                true,
            ),
        ];
        for (what, s, n, run, cont) in cases {
            assert_eq!(
                fit(&s, &n),
                Fit {
                    should_run: run,
                    should_continue: cont
                },
                "{what}"
            );
        }
    }

    #[test]
    fn pinning_replaces_match_fields_and_keeps_expressions() {
        let a: Affinity = serde_json::from_value(json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
             "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["old"]}]}
        ]}}}))
        .expect("affinity");
        let pinned = serde_json::to_value(pin_to_node(Some(a), "n1")).expect("json");
        assert_eq!(
            pinned["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"],
            json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                    "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])
        );
        let fresh = serde_json::to_value(pin_to_node(None, "n2")).expect("json");
        assert_eq!(
            fresh,
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}})
        );
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
            "spec": {"containers": [], "affinity": fresh}}))
        .expect("pod");
        assert_eq!(target_node(&pod), Some("n2"));
    }
}
