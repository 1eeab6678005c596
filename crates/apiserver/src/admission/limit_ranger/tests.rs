use expect_test::{expect, Expect};
use serde_json::{json, Value};

use super::*;

fn range(limits: Value) -> Value {
    json!({"metadata": {"name": "lr"}, "spec": {"limits": limits}})
}

/// The pod after admission (its annotation and each container's resources), or the error.
fn check(limits: Value, containers: Value, want: Expect) {
    let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": containers}});
    let got = match admit_pod_create(&mut pod, &[range(limits)]) {
        Ok(()) => {
            let mut lines = vec![format!(
                "annotation: {}",
                pod.pointer("/metadata/annotations/kubernetes.io~1limit-ranger")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
            )];
            for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "{}: {}",
                    c["name"].as_str().unwrap_or(""),
                    c["resources"]
                ));
            }
            lines.join("\n")
        }
        Err(e) => format!("error: {e}"),
    };
    want.assert_eq(&got);
}

#[test]
fn defaults() {
    check(
        json!([{"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"}, "defaultRequest": {"cpu": "100m", "memory": "64Mi"}}]),
        json!([{"name": "app", "image": "i"}, {"name": "side", "image": "i", "resources": {"requests": {"cpu": "50m"}}}]),
        expect![[r#"
            annotation: LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app; memory request for container side; cpu, memory limit for container side
            app: {"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}
            side: {"requests":{"cpu":"50m","memory":"64Mi"},"limits":{"cpu":"500m","memory":"128Mi"}}"#]],
    );
    // Only a default limit: the default request follows it (LimitRange defaulting); a
    // limit the client set is also its request (pod defaulting), not the range's default.
    check(
        json!([{"type": "Container", "default": {"cpu": "1"}}]),
        json!([{"name": "a", "image": "i"}, {"name": "b", "image": "i", "resources": {"limits": {"cpu": "200m"}}}]),
        expect![[r#"
            annotation: LimitRanger plugin set: cpu request for container a; cpu limit for container a
            a: {"limits":{"cpu":"1"},"requests":{"cpu":"1"}}
            b: {"limits":{"cpu":"200m"},"requests":{"cpu":"200m"}}"#]],
    );
    check(
        json!([{"type": "Container", "default": {"cpu": "1"}}]),
        json!([{"name": "a", "image": "i", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]),
        expect![[r#"
            annotation: -
            a: {"limits":{"cpu":"1"},"requests":{"cpu":"1"}}"#]],
    );
}

#[test]
fn container_bounds() {
    check(
        json!([{"type": "Container", "max": {"cpu": "500m"}}]),
        json!([{"name": "app", "image": "i", "resources": {"limits": {"cpu": "1"}}}]),
        expect!["error: maximum cpu usage per Container is 500m, but limit is 1"],
    );
    check(
        json!([{"type": "Container", "min": {"cpu": "100m", "memory": "1Gi"}, "max": {"memory": "2Gi"}}]),
        json!([{"name": "app", "image": "i", "resources": {"requests": {"cpu": "50m", "memory": "1536Mi"}, "limits": {"memory": "3Gi"}}}]),
        expect!["error: [minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 2Gi, but limit is 3Gi]"],
    );
    check(
        json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
        json!([{"name": "app", "image": "i", "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "300m"}}}]),
        expect!["error: cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"],
    );
    // A limit alone is also the request, so a minimum is checked against it.
    check(
        json!([{"type": "Container", "min": {"cpu": "500m"}}]),
        json!([{"name": "app", "image": "i", "resources": {"limits": {"cpu": "200m"}}}]),
        expect!["error: minimum cpu usage per Container is 500m, but request is 200m"],
    );
    check(
        json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
        json!([{"name": "app", "image": "i"}]),
        expect!["error: cpu max limit to request ratio per Container is 2, but no request or limit is specified"],
    );
}

#[test]
fn pod_bounds() {
    check(
        json!([{"type": "Pod", "max": {"cpu": "1"}}]),
        json!([{"name": "a", "image": "i", "resources": {"limits": {"cpu": "600m"}}}, {"name": "b", "image": "i", "resources": {"limits": {"cpu": "600m"}}}]),
        expect!["error: maximum cpu usage per Pod is 1, but limit is 1200m"],
    );
}

#[test]
fn claims() {
    let lr = [range(
        json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "2Gi"}}]),
    )];
    let claim = |size: &str| json!({"spec": {"resources": {"requests": {"storage": size}}}});
    assert_eq!(admit_claim_create(&claim("1Gi"), &lr), Ok(()));
    assert_eq!(
        admit_claim_create(&claim("5Gi"), &lr),
        Err("maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi".into())
    );
    assert_eq!(
        admit_claim_create(&claim("500Mi"), &lr),
        Err("minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi".into())
    );
}
