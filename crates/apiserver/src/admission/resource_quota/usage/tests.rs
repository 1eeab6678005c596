use expect_test::{expect, Expect};
use serde_json::{json, Value};

use super::*;

fn quota(hard: Value, used: Value) -> Value {
    json!({"metadata": {"name": "q"}, "spec": {"hard": hard}, "status": {"hard": hard, "used": used}})
}

fn pod(containers: Value) -> Value {
    json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
}

fn check(quota: Value, group: &str, plural: &str, obj: Value, want: Expect) {
    let got = match admit(&quota, group, plural, &obj) {
        Ok(None) => "not constrained".to_string(),
        Ok(Some(used)) => format!("used: {}", serde_json::to_string(&used).unwrap_or_default()),
        Err(e) => format!("error: {e}"),
    };
    want.assert_eq(&got);
}

#[test]
fn counts() {
    let app = pod(json!([{"name": "app", "image": "i"}]));
    check(
        quota(json!({"pods": "2"}), json!({"pods": "1"})),
        "",
        "pods",
        app.clone(),
        expect![[r#"used: {"pods":"2"}"#]],
    );
    check(
        quota(json!({"pods": "2"}), json!({"pods": "2"})),
        "",
        "pods",
        app.clone(),
        expect!["error: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"],
    );
    check(
        quota(json!({"pods": "2"}), json!({})),
        "",
        "pods",
        app.clone(),
        expect!["error: status unknown for quota: q, resources: pods"],
    );
    // Before the controller has written status.hard, a quota binds nothing (as upstream).
    check(
        json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "0"}}}),
        "",
        "pods",
        app.clone(),
        expect!["not constrained"],
    );
    check(
        quota(json!({"services": "5"}), json!({"services": "0"})),
        "",
        "pods",
        app,
        expect!["not constrained"],
    );
    check(
        quota(json!({"count/deployments.apps": "1", "configmaps": "3"}), json!({"count/deployments.apps": "1", "configmaps": "0"})),
        "apps",
        "deployments",
        json!({}),
        expect!["error: exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"],
    );
    check(
        quota(
            json!({"configmaps": "3", "count/configmaps": "3"}),
            json!({"configmaps": "1", "count/configmaps": "1"}),
        ),
        "",
        "configmaps",
        json!({}),
        expect![[r#"used: {"configmaps":"2","count/configmaps":"2"}"#]],
    );
    check(
        quota(json!({"services.nodeports": "1", "services": "9"}), json!({"services.nodeports": "0", "services": "0"})),
        "",
        "services",
        json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}}),
        expect!["error: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"],
    );
}

#[test]
fn compute() {
    let q = quota(
        json!({"requests.cpu": "1", "limits.memory": "1Gi"}),
        json!({"requests.cpu": "700m", "limits.memory": "512Mi"}),
    );
    check(
        q.clone(),
        "",
        "pods",
        pod(
            json!([{"name": "app", "image": "i", "resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "256Mi"}}}]),
        ),
        expect![[r#"used: {"limits.memory":"768Mi","requests.cpu":"900m"}"#]],
    );
    check(
        q.clone(),
        "",
        "pods",
        pod(json!([{"name": "app", "image": "i", "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}}}])),
        expect!["error: exceeded quota: q, requested: limits.memory=1Gi,requests.cpu=500m, used: limits.memory=512Mi,requests.cpu=700m, limited: limits.memory=1Gi,requests.cpu=1"],
    );
    check(
        q.clone(),
        "",
        "pods",
        pod(
            json!([{"name": "app", "image": "i"}, {"name": "b", "image": "i", "resources": {"limits": {"cpu": "1m", "memory": "1Mi"}}}]),
        ),
        expect![
            "error: failed quota: q: must specify limits.memory for: app; requests.cpu for: app"
        ],
    );
}

#[test]
fn claims_and_scopes() {
    check(
        quota(
            json!({"requests.storage": "10Gi", "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1"}),
            json!({"requests.storage": "9Gi", "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "0"}),
        ),
        "",
        "persistentvolumeclaims",
        json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "2Gi"}}}}),
        expect!["error: exceeded quota: q, requested: requests.storage=2Gi, used: requests.storage=9Gi, limited: requests.storage=10Gi"],
    );
    let mut best_effort_only = quota(json!({"pods": "0"}), json!({"pods": "0"}));
    best_effort_only["spec"]["scopes"] = json!(["BestEffort"]);
    check(
        best_effort_only.clone(),
        "",
        "pods",
        pod(json!([{"name": "app", "image": "i", "resources": {"requests": {"cpu": "1"}}}])),
        expect!["not constrained"],
    );
    check(
        best_effort_only,
        "",
        "pods",
        pod(json!([{"name": "app", "image": "i"}])),
        expect!["error: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"],
    );
}

#[test]
fn updates_are_charged_what_they_add() {
    let svc = |kind: &str| json!({"spec": {"type": kind, "ports": [{"port": 80}]}});
    let claim = |size: &str| json!({"spec": {"resources": {"requests": {"storage": size}}}});
    let show = |d: BTreeMap<String, Amount>| -> String {
        d.iter()
            .map(|(k, a)| format!("{k}={}", a.canonical()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        show(update_delta(
            "",
            "services",
            &svc("NodePort"),
            &svc("ClusterIP")
        )),
        "services.nodeports=1"
    );
    assert_eq!(
        show(update_delta(
            "",
            "services",
            &svc("ClusterIP"),
            &svc("NodePort")
        )),
        ""
    );
    assert_eq!(
        show(update_delta(
            "",
            "persistentvolumeclaims",
            &claim("3Gi"),
            &claim("1Gi")
        )),
        "requests.storage=2Gi"
    );
    assert_eq!(
        show(update_delta(
            "",
            "configmaps",
            &json!({"data": {}}),
            &json!({})
        )),
        ""
    );
}
