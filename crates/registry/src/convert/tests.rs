use serde_json::{json, Value};

use super::{convert, needs_conversion, ConvertError};

/// Each case: name, object in, version wanted, object out.
fn check(cases: &[(&str, Value, &str, Value)]) {
    for (name, input, to, want) in cases {
        let got = convert(input.clone(), to).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            &got,
            want,
            "{name}\n got: {}\nwant: {}",
            serde_json::to_string_pretty(&got).unwrap(),
            serde_json::to_string_pretty(want).unwrap()
        );
    }
}

/// Each case: name, object, the version it goes through. Converting there and back must give
/// the object again.
fn check_round_trip(cases: &[(&str, Value, &str)]) {
    for (name, input, via) in cases {
        let from = input["apiVersion"].as_str().unwrap();
        let there = convert(input.clone(), via).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(there["apiVersion"], *via, "{name}");
        let back = convert(there.clone(), from).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            &back,
            input,
            "{name}\nvia: {}\nback: {}",
            serde_json::to_string_pretty(&there).unwrap(),
            serde_json::to_string_pretty(&back).unwrap()
        );
    }
}

const BEHAVIOR_GO: &str = concat!(
    r#"{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":"#,
    r#"[{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,"PeriodSeconds":15}],"#,
    r#""Tolerance":null},"#,
    r#""ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max","Policies":"#,
    r#"[{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":"50m"}}"#
);

const CONDITIONS_V1: &str = concat!(
    r#"[{"type":"AbleToScale","status":"True","lastTransitionTime":"2025-01-01T00:00:00Z","#,
    r#""reason":"ReadyForNewScale","message":"recommended size matches current size"},"#,
    r#"{"type":"ScalingActive","status":"True","lastTransitionTime":"2025-01-01T00:00:00Z","#,
    r#""reason":"ValidMetricFound","message":"the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},"#,
    r#"{"type":"ScalingLimited","status":"False","lastTransitionTime":"2025-01-01T00:00:00Z","#,
    r#""reason":"DesiredWithinRange","message":"the desired count is within the acceptable range"}]"#
);

fn conditions_v2() -> Value {
    serde_json::from_str(CONDITIONS_V1).unwrap()
}

/// A v2 HPA as the controller leaves it: a memory target, then a CPU target (v1 reads the CPU
/// target back last, so this order survives the round trip), a behavior with a tolerance,
/// current metrics and conditions.
fn realistic_v2() -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "6f1c", "resourceVersion": "42",
            "generation": 2, "creationTimestamp": "2025-01-01T00:00:00Z",
            "annotations": {"team": "payments"},
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {"type": "Resource", "resource": {"name": "memory",
                    "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                {"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60}}},
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                    "tolerance": "50m"},
            },
        },
        "status": {
            "observedGeneration": 2,
            "lastScaleTime": "2025-01-01T00:05:00Z",
            "currentReplicas": 3,
            "desiredReplicas": 3,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "memory",
                    "current": {"averageValue": "412Mi", "averageUtilization": 40}}},
                {"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageValue": "120m", "averageUtilization": 48}}},
            ],
            "conditions": conditions_v2(),
        },
    })
}

fn realistic_v1() -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "6f1c", "resourceVersion": "42",
            "generation": 2, "creationTimestamp": "2025-01-01T00:00:00Z",
            "annotations": {
                "team": "payments",
                "autoscaling.alpha.kubernetes.io/metrics":
                    r#"[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"500Mi"}}]"#,
                "autoscaling.alpha.kubernetes.io/behavior": BEHAVIOR_GO,
                "autoscaling.alpha.kubernetes.io/current-metrics": concat!(
                    r#"[{"type":"Resource","resource":{"name":"memory","currentAverageUtilization":40,"currentAverageValue":"412Mi"}},"#,
                    r#"{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":48,"currentAverageValue":"120m"}}]"#),
                "autoscaling.alpha.kubernetes.io/conditions": CONDITIONS_V1,
            },
        },
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "targetCPUUtilizationPercentage": 60,
        },
        "status": {
            "observedGeneration": 2,
            "lastScaleTime": "2025-01-01T00:05:00Z",
            "currentReplicas": 3,
            "desiredReplicas": 3,
            "currentCPUUtilizationPercentage": 48,
        },
    })
}

#[test]
fn hpa_v2_to_v1() {
    check(&[
        (
            "realistic",
            realistic_v2(),
            "autoscaling/v1",
            realistic_v1(),
        ),
        (
            "cpu only: nothing to annotate",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
            "autoscaling/v1",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 50}}),
        ),
        (
            "stale round-trip annotations are replaced; a CPU AverageValue target is annotated",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a", "annotations": {
                    "autoscaling.alpha.kubernetes.io/conditions": "[]",
                    "autoscaling.alpha.kubernetes.io/scale-up-tolerance": "0.1"}},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "AverageValue", "averageValue": "200m"}}}]}}),
            "autoscaling/v1",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a", "annotations": {
                    "autoscaling.alpha.kubernetes.io/metrics":
                        r#"[{"type":"Resource","resource":{"name":"cpu","targetAverageValue":"200m"}}]"#}},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3}}),
        ),
        (
            "every metric source in its v1 shape; v1's non-pointer quantities read 0",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "a"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                "metrics": [
                    {"type": "Pods", "pods": {"metric": {"name": "rps",
                        "selector": {"matchLabels": {"x": "y"}}},
                        "target": {"type": "AverageValue", "averageValue": "1k"}}},
                    {"type": "Object", "object": {
                        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                        "metric": {"name": "hits"},
                        "target": {"type": "AverageValue", "averageValue": "10"}}},
                    {"type": "External", "external": {"metric": {"name": "queue"},
                        "target": {"type": "Value", "value": "30"}}},
                    {"type": "ContainerResource", "containerResource": {"name": "cpu",
                        "container": "app",
                        "target": {"type": "Utilization", "averageUtilization": 70}}},
                ]},
            "status": {"desiredReplicas": 1, "currentMetrics": [
                {"type": "External", "external": {"metric": {"name": "queue"},
                    "current": {"averageValue": "3"}}},
            ]}}),
            "autoscaling/v1",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a", "annotations": {
                    "autoscaling.alpha.kubernetes.io/metrics": concat!(
                        r#"[{"type":"Pods","pods":{"metricName":"rps","targetAverageValue":"1k","selector":{"matchLabels":{"x":"y"}}}},"#,
                        r#"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main","apiVersion":"networking.k8s.io/v1"},"metricName":"hits","targetValue":"0","averageValue":"10"}},"#,
                        r#"{"type":"External","external":{"metricName":"queue","targetValue":"30"}},"#,
                        r#"{"type":"ContainerResource","containerResource":{"name":"cpu","targetAverageUtilization":70,"container":"app"}}]"#),
                    "autoscaling.alpha.kubernetes.io/current-metrics":
                        r#"[{"type":"External","external":{"metricName":"queue","currentValue":"0","currentAverageValue":"3"}}]"#}},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3},
                "status": {"currentReplicas": 0, "desiredReplicas": 1}}),
        ),
        (
            "annotation text escapes <, > and & as Go does",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50}}}]},
                "status": {"currentReplicas": 1, "desiredReplicas": 1, "conditions": [
                    {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas",
                        "message": "the desired replica count is <1 & >0"}]}}),
            "autoscaling/v1",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a", "annotations": {
                    "autoscaling.alpha.kubernetes.io/conditions": concat!(
                        r#"[{"type":"ScalingLimited","status":"True","lastTransitionTime":null,"#,
                        r#""reason":"TooFewReplicas","message":"the desired replica count is \u003c1 \u0026 \u003e0"}]"#)}},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 50},
                "status": {"currentReplicas": 1, "desiredReplicas": 1}}),
        ),
    ]);
}

#[test]
fn hpa_v1_to_v2() {
    check(&[
        (
            "realistic",
            realistic_v1(),
            "autoscaling/v2",
            realistic_v2(),
        ),
        (
            "no target at all: the implicit CPU 80% target",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "minReplicas": 1,
                    "maxReplicas": 3},
                "status": {"currentReplicas": 0, "desiredReplicas": 0}}),
            "autoscaling/v2",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "minReplicas": 1,
                    "maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80}}}]},
                "status": {"desiredReplicas": 0}}),
        ),
        (
            "plain v1: the CPU percentages become metrics",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 50},
                "status": {"currentReplicas": 2, "desiredReplicas": 2,
                    "currentCPUUtilizationPercentage": 30}}),
            "autoscaling/v2",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50}}}]},
                "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "cpu",
                        "current": {"averageUtilization": 30}}}]}}),
        ),
        (
            "v1 metric shapes; keys matched without case, as Go does; bad annotations ignored",
            json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a", "annotations": {
                    "autoscaling.alpha.kubernetes.io/metrics": concat!(
                        r#"[{"type":"Pods","pods":{"metricName":"rps","targetAverageValue":"1k"}},"#,
                        r#"{"type":"Object","object":{"target":{"kind":"Ingress","name":"main"},"metricName":"hits","targetValue":"5"}},"#,
                        r#"{"type":"External","external":{"metricName":"queue","targetAverageValue":"30"}}]"#),
                    "autoscaling.alpha.kubernetes.io/behavior":
                        r#"{"scaleup":{"selectPolicy":"Disabled"},"ScaleDown":null}"#,
                    "autoscaling.alpha.kubernetes.io/conditions": "not json",
                    "keep": "me"}},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3}}),
            "autoscaling/v2",
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "a", "annotations": {"keep": "me"}},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 3,
                    "metrics": [
                        {"type": "Pods", "pods": {"metric": {"name": "rps"},
                            "target": {"type": "AverageValue", "averageValue": "1k"}}},
                        {"type": "Object", "object": {
                            "describedObject": {"kind": "Ingress", "name": "main"},
                            "metric": {"name": "hits"},
                            "target": {"type": "Value", "value": "5"}}},
                        {"type": "External", "external": {"metric": {"name": "queue"},
                            "target": {"type": "AverageValue", "averageValue": "30"}}},
                    ],
                    "behavior": {"scaleUp": {"selectPolicy": "Disabled"}}}}),
        ),
    ]);
}

#[test]
fn hpa_round_trips() {
    check_round_trip(&[
        ("realistic v2 through v1", realistic_v2(), "autoscaling/v1"),
        ("realistic v1 through v2", realistic_v1(), "autoscaling/v2"),
    ]);
}

/// Upstream appends v1's CPU target after the annotated metrics, so a v2 list with the CPU
/// target first comes back with it last.
#[test]
fn hpa_cpu_target_comes_back_last() {
    let mut v2 = realistic_v2();
    let metrics = v2["spec"]["metrics"].as_array_mut().unwrap();
    metrics.reverse();
    let back = convert(
        convert(v2.clone(), "autoscaling/v1").unwrap(),
        "autoscaling/v2",
    )
    .unwrap();
    assert_eq!(back["spec"]["metrics"], realistic_v2()["spec"]["metrics"]);
}

fn core_event() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web-7d4b9.17f2a", "namespace": "default", "uid": "e1",
            "resourceVersion": "77", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-7d4b9",
            "uid": "p1", "apiVersion": "v1", "resourceVersion": "70",
            "fieldPath": "spec.containers{app}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container app",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:10:00Z",
        "count": 12,
        "type": "Warning",
        "eventTime": "2025-01-01T00:00:00.123456Z",
        "series": {"count": 12, "lastObservedTime": "2025-01-01T00:10:00.000001Z"},
        "action": "Restarting",
        "related": {"kind": "Node", "name": "node-1", "apiVersion": "v1"},
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    })
}

fn events_event() -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web-7d4b9.17f2a", "namespace": "default", "uid": "e1",
            "resourceVersion": "77", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "eventTime": "2025-01-01T00:00:00.123456Z",
        "series": {"count": 12, "lastObservedTime": "2025-01-01T00:10:00.000001Z"},
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
        "action": "Restarting",
        "reason": "BackOff",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-7d4b9",
            "uid": "p1", "apiVersion": "v1", "resourceVersion": "70",
            "fieldPath": "spec.containers{app}"},
        "related": {"kind": "Node", "name": "node-1", "apiVersion": "v1"},
        "note": "Back-off restarting failed container app",
        "type": "Warning",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z",
        "deprecatedLastTimestamp": "2025-01-01T00:10:00Z",
        "deprecatedCount": 12,
    })
}

#[test]
fn events() {
    check(&[
        (
            "core to events",
            core_event(),
            "events.k8s.io/v1",
            events_event(),
        ),
        ("events to core", events_event(), "v1", core_event()),
        (
            "legacy event: no reportingController is made up from source.component",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Pulled",
                "message": "pulled", "source": {"component": "kubelet"}, "count": 1}),
            "events.k8s.io/v1",
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                "reason": "Pulled", "regarding": {"kind": "Pod", "name": "p"}, "note": "pulled",
                "deprecatedSource": {"component": "kubelet"}, "deprecatedCount": 1}),
        ),
    ]);
    check_round_trip(&[
        ("core through events", core_event(), "events.k8s.io/v1"),
        ("events through core", events_event(), "v1"),
    ]);
}

#[test]
fn lists_convert_item_by_item() {
    check(&[(
        "event list; items keep having no apiVersion",
        json!({"apiVersion": "v1", "kind": "EventList", "metadata": {"resourceVersion": "9"},
        "items": [
            {"metadata": {"name": "a"}, "message": "m"},
            {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "b"}, "count": 2},
        ]}),
        "events.k8s.io/v1",
        json!({"apiVersion": "events.k8s.io/v1", "kind": "EventList",
        "metadata": {"resourceVersion": "9"},
        "items": [
            {"metadata": {"name": "a"}, "note": "m"},
            {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "b"},
                "deprecatedCount": 2},
        ]}),
    )]);
}

#[test]
fn same_version_is_unchanged() {
    let odd = json!({"apiVersion": "v1", "kind": "Whatever", "x": [1, 2]});
    assert_eq!(convert(odd.clone(), "v1"), Ok(odd));
    assert_eq!(convert(core_event(), "v1"), Ok(core_event()));
}

#[test]
fn errors() {
    let cases: &[(Value, &str, ConvertError)] = &[
        (json!([]), "v1", ConvertError::NotAnObject),
        (
            json!({"kind": "Event"}),
            "v1",
            ConvertError::MissingApiVersion,
        ),
        (
            json!({"apiVersion": "v1"}),
            "events.k8s.io/v1",
            ConvertError::MissingKind,
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod"}),
            "events.k8s.io/v1",
            ConvertError::Unsupported {
                kind: "Pod".into(),
                from: "v1".into(),
                to: "events.k8s.io/v1".into(),
            },
        ),
        (
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}),
            "autoscaling/v2beta2",
            ConvertError::Unsupported {
                kind: "HorizontalPodAutoscaler".into(),
                from: "autoscaling/v2".into(),
                to: "autoscaling/v2beta2".into(),
            },
        ),
    ];
    for (input, to, want) in cases {
        assert_eq!(
            convert(input.clone(), to).as_ref(),
            Err(want),
            "{input} -> {to}"
        );
    }
    assert_eq!(
        ConvertError::Unsupported {
            kind: "Pod".into(),
            from: "v1".into(),
            to: "v2".into()
        }
        .to_string(),
        "converting Pod from v1 to v2: unknown conversion"
    );
}

#[test]
fn needs_conversion_when_versions_differ() {
    let cases = [
        ("v1", "v1", false),
        ("v1", "events.k8s.io/v1", true),
        ("autoscaling/v1", "autoscaling/v2", true),
        ("autoscaling/v2", "autoscaling/v2", false),
    ];
    for (stored, wanted, want) in cases {
        assert_eq!(
            needs_conversion(stored, wanted),
            want,
            "{stored} -> {wanted}"
        );
    }
}
