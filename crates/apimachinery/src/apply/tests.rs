//! Data-driven cases: a schema, then a sequence of writes (applies and updates by named
//! managers) against one object; each step prints the object and its managedFields, or the
//! error. `UPDATE_EXPECT=1 cargo test -p apimachinery --lib apply` rewrites expectations.

use expect_test::{expect, Expect};
use serde_json::{json, Value};

use super::test_meta::ApplyTestMeta;
use super::{
    apply, apply_with, conflict_message, track_update, track_update_with, Conflict, FieldSet,
    ManagedFields, PathElement, WriteOptions,
};

enum Op {
    Apply {
        force: bool,
    },
    /// A create or update: the value is the whole new object.
    Update {
        subresource: Option<&'static str>,
    },
}

struct Step {
    op: Op,
    manager: &'static str,
    api_version: &'static str,
    value: Value,
}

fn apply_by(manager: &'static str, config: Value) -> Step {
    Step {
        op: Op::Apply { force: false },
        manager,
        api_version: "v1",
        value: config,
    }
}

fn force_by(manager: &'static str, config: Value) -> Step {
    Step {
        op: Op::Apply { force: true },
        ..apply_by(manager, config)
    }
}

fn update_by(manager: &'static str, new: Value) -> Step {
    Step {
        op: Op::Update { subresource: None },
        ..apply_by(manager, new)
    }
}

fn status_update_by(manager: &'static str, new: Value) -> Step {
    Step {
        op: Op::Update {
            subresource: Some("status"),
        },
        ..apply_by(manager, new)
    }
}

/// Runs the steps from `start` (`Value::Null`: no object yet) and prints each result.
fn check(meta: Value, start: Value, steps: Vec<Step>, want: Expect) {
    let meta = ApplyTestMeta::from_json(&meta);
    let mut live = (!start.is_null()).then_some(start);
    let mut out = String::new();
    for (i, step) in steps.into_iter().enumerate() {
        let now = format!("2026-01-01T00:00:{:02}Z", i + 1);
        let result = match step.op {
            Op::Apply { force } => {
                out.push_str(&format!(
                    "# {} applies{}\n",
                    step.manager,
                    if force { " (force)" } else { "" }
                ));
                apply(
                    live.as_ref(),
                    &step.value,
                    step.manager,
                    force,
                    step.api_version,
                    &now,
                    &meta,
                )
            }
            Op::Update { subresource } => {
                out.push_str(&format!(
                    "# {} {}{}\n",
                    step.manager,
                    if live.is_some() { "updates" } else { "creates" },
                    subresource.map(|s| format!(" /{s}")).unwrap_or_default()
                ));
                Ok(track_update(
                    live.as_ref(),
                    step.value.clone(),
                    step.manager,
                    step.api_version,
                    &now,
                    &meta,
                    subresource,
                ))
            }
        };
        match result {
            Ok(obj) => {
                out.push_str(&show(&obj));
                live = Some(obj);
            }
            Err(e) => out.push_str(&format!("error ({}): {e}\n", e.status_code())),
        }
    }
    want.assert_eq(&out);
}

/// The object without managedFields on one line, then one line per entry.
fn show(obj: &Value) -> String {
    let mut plain = obj.clone();
    let entries = plain
        .pointer_mut("/metadata")
        .and_then(|m| m.as_object_mut())
        .and_then(|m| m.shift_remove("managedFields"));
    let mut s = format!("{plain}\n");
    for e in entries
        .iter()
        .flat_map(|e| e.as_array().into_iter().flatten())
    {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        s.push_str(&format!(
            "  {} {} {} {}{}: {}\n",
            text("manager"),
            text("operation"),
            text("apiVersion"),
            text("time"),
            e.get("subresource")
                .and_then(Value::as_str)
                .map(|s| format!(" /{s}"))
                .unwrap_or_default(),
            e["fieldsV1"]
        ));
    }
    s
}

fn deployment_meta() -> Value {
    json!({
        "metadata": {"$present": true, "finalizers": ["set"], "ownerReferences": ["map:uid"]},
        "spec": {
            "$present": true,
            "selector": {"$atomic": true},
            "template": {
                "$present": true,
                "metadata": {"$present": true},
                "spec": {
                    "$present": true,
                    "containers": ["map:name", {
                        "ports": ["map:containerPort,protocol=TCP"],
                        "env": ["map:name"],
                        "args": ["atomic"],
                        "resources": {"$present": true},
                    }],
                },
            },
        },
        "status": {"$present": true},
    })
}

fn nginx(replicas: u32, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    })
}

#[test]
fn first_apply_creates_and_reapply_removes_dropped_fields() {
    let mut v2 = nginx(3, "nginx:1.25");
    v2["spec"]
        .as_object_mut()
        .map(|s| s.shift_remove("replicas"));
    v2["metadata"]
        .as_object_mut()
        .map(|m| m.shift_remove("labels"));
    check(
        deployment_meta(),
        Value::Null,
        vec![
            apply_by("kubectl", nginx(3, "nginx:1.25")),
            apply_by("kubectl", v2),
        ],
        expect![[r##"
            # kubectl applies
            {"apiVersion":"v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80}]}]}}}}
              kubectl Apply v1 2026-01-01T00:00:01Z: {"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}
            # kubectl applies
            {"apiVersion":"v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80}]}]}}}}
              kubectl Apply v1 2026-01-01T00:00:02Z: {"f:spec":{"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}
        "##]],
    );
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
}

#[test]
fn equal_values_are_shared_and_survive_one_owner_leaving() {
    check(
        json!({}),
        Value::Null,
        vec![
            apply_by("a", cm(json!({"x": "1", "y": "2"}))),
            apply_by("b", cm(json!({"x": "1"}))),
            // a stops applying x: b still owns it, so it stays.
            apply_by("a", cm(json!({"y": "2"}))),
            // b stops too: now nobody owns x, and it goes.
            apply_by(
                "b",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            ),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{},"f:y":{}}}
            # b applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              b Apply v1 -: {"f:data":{"f:x":{}}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{},"f:y":{}}}
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              b Apply v1 -: {"f:data":{"f:x":{}}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:y":{}}}
            # b applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"y":"2"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:y":{}}}
        "##]],
    );
}

#[test]
fn conflicts_with_appliers_and_updaters() {
    check(
        json!({}),
        Value::Null,
        vec![
            apply_by("a", cm(json!({"x": "1", "y": "2"}))),
            update_by("ctl", cm(json!({"x": "1", "y": "2", "z": "3"}))),
            // One conflict with an applier: no "using".
            apply_by("b", cm(json!({"x": "changed"}))),
            // One with an updater: its version is named.
            apply_by("b", cm(json!({"z": "changed"}))),
            // Several: grouped per manager, managers sorted.
            apply_by("b", cm(json!({"x": "9", "y": "9", "z": "9"}))),
            // Forced: b takes the fields over, a and ctl lose them.
            force_by("b", cm(json!({"x": "9", "z": "9"}))),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{},"f:y":{}}}
            # ctl updates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2","z":"3"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{},"f:y":{}}}
              ctl Update v1 2026-01-01T00:00:02Z: {"f:data":{"f:z":{}}}
            # b applies
            error (409): Apply failed with 1 conflict: conflict with "a": .data.x
            # b applies
            error (409): Apply failed with 1 conflict: conflict with "ctl" using v1: .data.z
            # b applies
            error (409): Apply failed with 3 conflicts: conflicts with "a":
            - .data.x
            - .data.y
            conflicts with "ctl" using v1:
            - .data.z
            # b applies (force)
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"9","y":"2","z":"9"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:y":{}}}
              b Apply v1 2026-01-01T00:00:06Z: {"f:data":{"f:x":{},"f:z":{}}}
        "##]],
    );
}

#[test]
fn updates_take_what_they_change() {
    check(
        deployment_meta(),
        Value::Null,
        vec![
            update_by("kubectl-create", nginx(1, "nginx:1")),
            // The controller changes replicas: it takes that field alone.
            update_by("kube-controller-manager", nginx(5, "nginx:1")),
            // A status write through /status is a separate manager.
            status_update_by("kube-controller-manager", {
                let mut d = nginx(5, "nginx:1");
                d["status"] = json!({"replicas": 5});
                d
            }),
        ],
        expect![[r##"
            # kubectl-create creates
            {"apiVersion":"v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1","ports":[{"containerPort":80}]}]}}}}
              kubectl-create Update v1 2026-01-01T00:00:01Z: {"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}
            # kube-controller-manager updates
            {"apiVersion":"v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":5,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1","ports":[{"containerPort":80}]}]}}}}
              kubectl-create Update v1 2026-01-01T00:00:01Z: {"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}
              kube-controller-manager Update v1 2026-01-01T00:00:02Z: {"f:spec":{"f:replicas":{}}}
            # kube-controller-manager updates /status
            {"apiVersion":"v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":5,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1","ports":[{"containerPort":80}]}]}}},"status":{"replicas":5}}
              kubectl-create Update v1 2026-01-01T00:00:01Z: {"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}
              kube-controller-manager Update v1 2026-01-01T00:00:02Z: {"f:spec":{"f:replicas":{}}}
              kube-controller-manager Update v1 2026-01-01T00:00:03Z /status: {"f:status":{"f:replicas":{}}}
        "##]],
    );
}

#[test]
fn list_map_items_are_owned_per_key() {
    let pod = |containers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let meta = json!({"spec": {"containers": ["map:name", {"args": ["atomic"]}]}});
    check(
        meta,
        Value::Null,
        vec![
            apply_by(
                "a",
                pod(json!([{"name": "app", "image": "app:1", "args": ["-v"]}])),
            ),
            apply_by("b", pod(json!([{"name": "sidecar", "image": "proxy:1"}]))),
            // a changes its own container: no conflict with b.
            apply_by(
                "a",
                pod(json!([{"name": "app", "image": "app:2", "args": ["-v", "-x"]}])),
            ),
            // b changing a's atomic args conflicts on the whole list.
            apply_by(
                "b",
                pod(json!([{"name": "sidecar", "image": "proxy:1"}, {"name": "app", "args": []}])),
            ),
            // a drops its container: it goes; b's stays.
            apply_by("a", pod(json!([]))),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"app:1","args":["-v"]}]}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:args":{},"f:image":{},"f:name":{}}}}}
            # b applies
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"app:1","args":["-v"]},{"name":"sidecar","image":"proxy:1"}]}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:args":{},"f:image":{},"f:name":{}}}}}
              b Apply v1 2026-01-01T00:00:02Z: {"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}}}}
            # a applies
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"app:2","args":["-v","-x"]},{"name":"sidecar","image":"proxy:1"}]}}
              b Apply v1 2026-01-01T00:00:02Z: {"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}}}}
              a Apply v1 2026-01-01T00:00:03Z: {"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:args":{},"f:image":{},"f:name":{}}}}}
            # b applies
            error (409): Apply failed with 1 conflict: conflict with "a": .spec.containers[name="app"].args
            # a applies
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"sidecar","image":"proxy:1"}]}}
              b Apply v1 2026-01-01T00:00:02Z: {"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{},"f:image":{},"f:name":{}}}}}
        "##]],
    );
}

#[test]
fn sets_unite_and_atomic_lists_replace() {
    let obj = |finalizers: Value, args: Value| json!({"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "t", "finalizers": finalizers}, "spec": {"args": args}});
    let meta = json!({"metadata": {"finalizers": ["set"]}, "spec": {"args": ["atomic"]}});
    check(
        meta,
        Value::Null,
        vec![
            apply_by("a", obj(json!(["a.example/f"]), json!(["1"]))),
            apply_by("b", obj(json!(["b.example/f", "<&>"]), json!(["1"]))),
            apply_by("a", obj(json!([]), json!(["1"]))),
            force_by("a", obj(json!([]), json!(["2"]))),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"Thing","metadata":{"name":"t","finalizers":["a.example/f"]},"spec":{"args":["1"]}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:metadata":{"f:finalizers":{"v:\"a.example/f\"":{}}},"f:spec":{"f:args":{}}}
            # b applies
            {"apiVersion":"v1","kind":"Thing","metadata":{"name":"t","finalizers":["a.example/f","b.example/f","<&>"]},"spec":{"args":["1"]}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:metadata":{"f:finalizers":{"v:\"a.example/f\"":{}}},"f:spec":{"f:args":{}}}
              b Apply v1 2026-01-01T00:00:02Z: {"f:metadata":{"f:finalizers":{"v:\"\\u003c\\u0026\\u003e\"":{},"v:\"b.example/f\"":{}}},"f:spec":{"f:args":{}}}
            # a applies
            {"apiVersion":"v1","kind":"Thing","metadata":{"name":"t","finalizers":["b.example/f","<&>"]},"spec":{"args":["1"]}}
              b Apply v1 2026-01-01T00:00:02Z: {"f:metadata":{"f:finalizers":{"v:\"\\u003c\\u0026\\u003e\"":{},"v:\"b.example/f\"":{}}},"f:spec":{"f:args":{}}}
              a Apply v1 2026-01-01T00:00:03Z: {"f:spec":{"f:args":{}}}
            # a applies (force)
            {"apiVersion":"v1","kind":"Thing","metadata":{"name":"t","finalizers":["b.example/f","<&>"]},"spec":{"args":["2"]}}
              b Apply v1 2026-01-01T00:00:02Z: {"f:metadata":{"f:finalizers":{"v:\"\\u003c\\u0026\\u003e\"":{},"v:\"b.example/f\"":{}}}}
              a Apply v1 2026-01-01T00:00:04Z: {"f:spec":{"f:args":{}}}
        "##]],
    );
}

#[test]
fn first_apply_to_untracked_object_conflicts_with_before_first_apply() {
    check(
        json!({}),
        cm(json!({"x": "1"})),
        vec![
            apply_by("a", cm(json!({"x": "2"}))),
            apply_by("a", cm(json!({"x": "1", "y": "2"}))),
        ],
        expect![[r##"
            # a applies
            error (409): Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .data.x
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              a Apply v1 2026-01-01T00:00:02Z: {"f:data":{"f:x":{},"f:y":{}}}
              before-first-apply Update v1 2026-01-01T00:00:02Z: {"f:data":{".":{},"f:x":{}}}
        "##]],
    );
}

#[test]
fn kubectl_takes_over_client_side_apply_fields() {
    let last = r#"{"apiVersion":"v1","data":{"x":"1","y":"2"},"kind":"ConfigMap","metadata":{"annotations":{},"name":"c"}}
"#;
    let csa = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last}}, "data": data});
    check(
        json!({}),
        Value::Null,
        vec![
            update_by(
                "kubectl-client-side-apply",
                csa(json!({"x": "1", "y": "2"})),
            ),
            update_by("editor", csa(json!({"x": "1", "y": "edited"}))),
            // y no longer has the annotation's value: that conflict stays.
            apply_by("kubectl", cm(json!({"x": "new", "y": "new"}))),
            // x alone is taken over without force; the annotation follows the applied config.
            apply_by("kubectl", cm(json!({"x": "new", "y": "edited"}))),
            // Another manager name gets no such help.
            apply_by("other", cm(json!({"x": "other"}))),
        ],
        expect![[r##"
            # kubectl-client-side-apply creates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"x\":\"1\",\"y\":\"2\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\"}}\n"}},"data":{"x":"1","y":"2"}}
              kubectl-client-side-apply Update v1 2026-01-01T00:00:01Z: {"f:data":{".":{},"f:x":{},"f:y":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}
            # editor updates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"x\":\"1\",\"y\":\"2\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\"}}\n"}},"data":{"x":"1","y":"edited"}}
              kubectl-client-side-apply Update v1 2026-01-01T00:00:01Z: {"f:data":{".":{},"f:x":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}
              editor Update v1 2026-01-01T00:00:02Z: {"f:data":{"f:y":{}}}
            # kubectl applies
            error (409): Apply failed with 1 conflict: conflict with "editor" using v1: .data.y
            # kubectl applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"x\":\"new\",\"y\":\"edited\"},\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}\n"}},"data":{"x":"new","y":"edited"}}
              kubectl Apply v1 2026-01-01T00:00:04Z: {"f:data":{"f:x":{},"f:y":{}}}
              kubectl-client-side-apply Update v1 2026-01-01T00:00:01Z: {"f:data":{},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}
              editor Update v1 2026-01-01T00:00:02Z: {"f:data":{"f:y":{}}}
            # other applies
            error (409): Apply failed with 1 conflict: conflict with "kubectl": .data.x
        "##]],
    );
}

#[test]
fn managed_fields_written_by_a_request() {
    let with_mf = |mf: Value| {
        let mut c = cm(json!({"x": "1"}));
        c["metadata"]["managedFields"] = mf;
        c
    };
    check(
        json!({}),
        Value::Null,
        vec![
            update_by("creator", cm(json!({"x": "1"}))),
            // No managedFields in the request: the stored ones stay.
            update_by("editor", cm(json!({"x": "1", "y": "2"}))),
            // Set explicitly (how kubectl moves ownership): kept as sent.
            update_by(
                "kubectl",
                with_mf(
                    json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}}]),
                ),
            ),
            // [{}] clears them, and an object without them stays untracked.
            update_by("kubectl", with_mf(json!([{}]))),
            update_by("editor", cm(json!({"x": "2"}))),
        ],
        expect![[r##"
            # creator creates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
              creator Update v1 2026-01-01T00:00:01Z: {"f:data":{".":{},"f:x":{}}}
            # editor updates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              creator Update v1 2026-01-01T00:00:01Z: {"f:data":{".":{},"f:x":{}}}
              editor Update v1 2026-01-01T00:00:02Z: {"f:data":{"f:y":{}}}
            # kubectl updates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
              kubectl Apply v1 -: {"f:data":{"f:x":{}}}
            # kubectl updates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
            # editor updates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"2"}}
        "##]],
    );
}

#[test]
fn invalid_requests() {
    let mut with_mf = cm(json!({}));
    with_mf["metadata"]["managedFields"] = json!([]);
    let mut bad_live = cm(json!({}));
    bad_live["metadata"]["managedFields"] = json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]);
    check(
        json!({"spec": {"items": ["map:name"]}}),
        Value::Null,
        vec![
            apply_by("a", with_mf),
            apply_by("a", json!({"apiVersion": "v2", "kind": "ConfigMap"})),
            apply_by(
                "a",
                json!({"apiVersion": "v1", "spec": {"items": [{"value": 1}]}}),
            ),
            apply_by(
                "a",
                json!({"apiVersion": "v1", "spec": {"items": [{"name": "n"}, {"name": "n"}]}}),
            ),
        ],
        expect![[r##"
            # a applies
            error (400): metadata.managedFields must be nil
            # a applies
            error (400): Incorrect version specified in apply patch. Specified patch version: v2, expected: v1
            # a applies
            error (400): .spec.items: element 0: associative list with keys has an element that omits key field "name" (and doesn't have default value)
            # a applies
            error (400): .spec.items: duplicate entries for key [name="n"]
        "##]],
    );
    check(
        json!({}),
        bad_live,
        vec![apply_by("a", cm(json!({})))],
        expect![[r#"
        # a applies
        error (500): failed to decode managed fields: operation must be `Apply` or `Update`
    "#]],
    );
}

#[test]
fn noop_apply_keeps_the_time() {
    check(
        json!({}),
        Value::Null,
        vec![
            apply_by("a", cm(json!({"x": "1"}))),
            apply_by("a", cm(json!({"x": "1"}))),
            apply_by("b", cm(json!({"x": "1"}))),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{}}}
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{}}}
            # b applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
              b Apply v1 -: {"f:data":{"f:x":{}}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{}}}
        "##]],
    );
}

#[test]
fn conflict_message_text() {
    let c = |manager: &str, field: &str, op: super::Operation, sub: &str| Conflict {
        manager: manager.into(),
        field: field.into(),
        operation: op,
        api_version: "apps/v1".into(),
        subresource: sub.into(),
        identifier: format!("{manager}{sub}"),
        path: Vec::new(),
    };
    use super::Operation::{Apply, Update};
    let one = conflict_message(&[c("kubectl-client-side-apply", ".spec.replicas", Update, "")]);
    let scale = conflict_message(&[c(
        "kube-controller-manager",
        ".spec.replicas",
        Update,
        "scale",
    )]);
    let many = conflict_message(&[
        c("b", ".spec.replicas", Apply, ""),
        c("a", ".metadata.labels.app", Update, ""),
        c(
            "b",
            ".spec.template.spec.containers[name=\"x\"].image",
            Apply,
            "",
        ),
    ]);
    expect![[r#"
        Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas
        Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "scale" using apps/v1: .spec.replicas
        Apply failed with 3 conflicts: conflicts with "a" using apps/v1:
        - .metadata.labels.app
        conflicts with "b":
        - .spec.replicas
        - .spec.template.spec.containers[name="x"].image
    "#]].assert_eq(&format!("{one}\n{scale}\n{many}\n"));
}

#[test]
fn fields_v1_round_trip() {
    // What upstream wrote for `kubectl create deployment` and a server-side apply
    // (keys in upstream's order: ".", then fields, keys, values).
    let upstream = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#;
    let v: Value = serde_json::from_str(upstream).unwrap();
    let set = FieldSet::from_fields_v1(&v).unwrap();
    assert_eq!(set.to_fields_v1().to_string(), upstream);
    // Keys are re-sorted on the way out; `k:` key fields, `v:` values and `i:` indices decode.
    let unsorted = json!({"v:\"b\"": {}, "i:3": {}, "f:z": {}, "k:{\"protocol\":\"TCP\",\"port\":8080}": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {}, "f:a": {".": {}, "f:b": {}}, "v:\"a\"": {}, "v:1": {}});
    let set = FieldSet::from_fields_v1(&unsorted).unwrap();
    let paths: Vec<String> = set.paths().iter().map(|p| super::path_text(p)).collect();
    expect![[r#"
        {"f:a":{".":{},"f:b":{}},"f:z":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{},"k:{\"port\":8080,\"protocol\":\"TCP\"}":{},"v:1":{},"v:\"a\"":{},"v:\"b\"":{},"i:3":{}}
        .a
        .z
        [port=80,protocol="TCP"]
        [port=8080,protocol="TCP"]
        [=1]
        [="a"]
        [="b"]
        [3]
        .a.b
    "#]].assert_eq(&format!("{}\n{}\n", set.to_fields_v1(), paths.join("\n")));
    // The docs' ConfigMap example reads as a ManagedFields.
    let obj = json!({"metadata": {"managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "2010-10-10T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}, "f:data": {"f:key": {}}}}]}});
    let mf = ManagedFields::from_object(&obj).unwrap();
    let mut out = json!({"metadata": {}});
    mf.write_to(&mut out);
    expect![[r#"{"metadata":{"managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"v1","time":"2010-10-10T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:key":{}},"f:metadata":{"f:labels":{"f:test-label":{}}}}}]}}"#]].assert_eq(&out.to_string());
    for bad in [
        json!({"x:y": {}}),
        json!({"k:[1]": {}}),
        json!({"f:a": 1}),
        json!({"i:x": {}}),
    ] {
        assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
    }
}

/// The in-place set operations give what the copying ones give, for sets that overlap,
/// nest inside each other, hold members with children, and are empty.
#[test]
fn in_place_set_operations_match_the_copying_ones() {
    let sets = [
        json!({}),
        json!({"f:a": {}}),
        json!({"f:a": {".": {}, "f:b": {}}, "f:c": {}}),
        json!({"f:a": {"f:b": {}, "f:d": {"f:e": {}}}}),
        json!({"f:c": {"f:x": {}}, "k:{\"name\":\"n\"}": {".": {}, "f:name": {}}}),
        json!({"f:a": {"f:d": {".": {}, "f:e": {}}}, "k:{\"name\":\"n\"}": {}}),
    ];
    let sets: Vec<FieldSet> = sets
        .iter()
        .map(|v| FieldSet::from_fields_v1(v).unwrap())
        .collect();
    for a in &sets {
        for b in &sets {
            let mut u = a.clone();
            u.absorb(b.clone());
            assert_eq!(u, a.union(b), "{a:?} ∪ {b:?}");
            let mut d = a.clone();
            d.subtract(b);
            assert_eq!(d, a.difference(b), "{a:?} − {b:?}");
            let mut r = a.clone();
            r.subtract_recursive(b);
            assert_eq!(r, a.recursive_difference(b), "{a:?} −r {b:?}");
        }
    }
}

#[test]
fn pruning_keeps_what_others_own() {
    let d = |spec: Value| json!({"apiVersion": "v1", "kind": "D", "metadata": {"name": "d"}, "spec": spec});
    check(
        json!({"spec": {"items": ["map:name"]}}),
        Value::Null,
        vec![
            apply_by(
                "a",
                d(
                    json!({"strategy": {"type": "Rolling", "rolling": {"surge": 1}}, "items": [{"name": "i1", "v": 1}, {"name": "i2", "v": 2}]}),
                ),
            ),
            update_by(
                "b",
                d(
                    json!({"strategy": {"type": "Rolling", "rolling": {"surge": 1, "unavailable": 0}}, "items": [{"name": "i1", "v": 1}, {"name": "i2", "v": 2, "extra": true}], "other": 1}),
                ),
            ),
            // a drops strategy and i2: what b owns under them stays, and so do the fields
            // leading to it; b owns no item i2 itself, so the item goes.
            apply_by("a", d(json!({"items": [{"name": "i1", "v": 1}]}))),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"D","metadata":{"name":"d"},"spec":{"strategy":{"type":"Rolling","rolling":{"surge":1}},"items":[{"name":"i1","v":1},{"name":"i2","v":2}]}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:items":{"k:{\"name\":\"i1\"}":{".":{},"f:name":{},"f:v":{}},"k:{\"name\":\"i2\"}":{".":{},"f:name":{},"f:v":{}}},"f:strategy":{"f:rolling":{"f:surge":{}},"f:type":{}}}}
            # b updates
            {"apiVersion":"v1","kind":"D","metadata":{"name":"d"},"spec":{"strategy":{"type":"Rolling","rolling":{"surge":1,"unavailable":0}},"items":[{"name":"i1","v":1},{"name":"i2","v":2,"extra":true}],"other":1}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:items":{"k:{\"name\":\"i1\"}":{".":{},"f:name":{},"f:v":{}},"k:{\"name\":\"i2\"}":{".":{},"f:name":{},"f:v":{}}},"f:strategy":{"f:rolling":{"f:surge":{}},"f:type":{}}}}
              b Update v1 2026-01-01T00:00:02Z: {"f:spec":{"f:items":{"k:{\"name\":\"i2\"}":{"f:extra":{}}},"f:other":{},"f:strategy":{"f:rolling":{"f:unavailable":{}}}}}
            # a applies
            {"apiVersion":"v1","kind":"D","metadata":{"name":"d"},"spec":{"strategy":{"rolling":{"unavailable":0}},"items":[{"name":"i1","v":1}],"other":1}}
              a Apply v1 2026-01-01T00:00:03Z: {"f:spec":{"f:items":{"k:{\"name\":\"i1\"}":{".":{},"f:name":{},"f:v":{}}}}}
              b Update v1 2026-01-01T00:00:02Z: {"f:spec":{"f:other":{},"f:strategy":{"f:rolling":{"f:unavailable":{}}}}}
        "##]],
    );
}

#[test]
fn merged_list_keeps_live_only_items_in_place() {
    let pod = |containers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    check(
        json!({"spec": {"containers": ["map:name"]}}),
        Value::Null,
        vec![
            update_by(
                "creator",
                pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            ),
            // Shared items take the configuration's order, new ones come where it puts them.
            force_by(
                "x",
                pod(
                    json!([{"name": "c", "image": "c"}, {"name": "d"}, {"name": "a", "image": "a"}]),
                ),
            ),
        ],
        expect![[r##"
            # creator creates
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}}
              creator Update v1 2026-01-01T00:00:01Z: {"f:spec":{".":{},"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:name":{}},"k:{\"name\":\"b\"}":{".":{},"f:name":{}},"k:{\"name\":\"c\"}":{".":{},"f:name":{}}}}}
            # x applies (force)
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"b"},{"name":"c","image":"c"},{"name":"d"},{"name":"a","image":"a"}]}}
              x Apply v1 2026-01-01T00:00:02Z: {"f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:image":{},"f:name":{}},"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}},"k:{\"name\":\"d\"}":{".":{},"f:name":{}}}}}
              creator Update v1 2026-01-01T00:00:01Z: {"f:spec":{".":{},"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:name":{}},"k:{\"name\":\"b\"}":{".":{},"f:name":{}},"k:{\"name\":\"c\"}":{".":{},"f:name":{}}}}}
        "##]],
    );
}

#[test]
fn updates_by_one_manager_accumulate_and_versions_are_separate() {
    let mut v2 = Step {
        api_version: "v2",
        ..update_by(
            "ctl",
            json!({"apiVersion": "v2", "kind": "K", "metadata": {"name": "k"}, "data": {"a": "1", "b": "2", "c": "3"}}),
        )
    };
    v2.value["metadata"]["labels"] = json!({"l": "1"});
    let mut applied_v2 = Step {
        api_version: "v2",
        ..apply_by(
            "app",
            json!({"apiVersion": "v2", "kind": "K", "data": {"a": "1"}}),
        )
    };
    applied_v2.value["metadata"] = json!({"name": "k"});
    check(
        json!({}),
        Value::Null,
        vec![
            apply_by(
                "app",
                json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "k"}, "data": {"a": "1"}}),
            ),
            update_by(
                "ctl",
                json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "k"}, "data": {"a": "1", "b": "2"}}),
            ),
            update_by(
                "ctl",
                json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "k"}, "data": {"a": "1", "b": "2", "c": "3"}}),
            ),
            // Same manager through another version: a separate entry.
            v2,
            // An applier keeps one entry; it takes the version it last applied with.
            applied_v2,
        ],
        expect![[r##"
            # app applies
            {"apiVersion":"v1","kind":"K","metadata":{"name":"k"},"data":{"a":"1"}}
              app Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:a":{}}}
            # ctl updates
            {"apiVersion":"v1","kind":"K","metadata":{"name":"k"},"data":{"a":"1","b":"2"}}
              app Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:a":{}}}
              ctl Update v1 2026-01-01T00:00:02Z: {"f:data":{"f:b":{}}}
            # ctl updates
            {"apiVersion":"v1","kind":"K","metadata":{"name":"k"},"data":{"a":"1","b":"2","c":"3"}}
              app Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:a":{}}}
              ctl Update v1 2026-01-01T00:00:03Z: {"f:data":{"f:b":{},"f:c":{}}}
            # ctl updates
            {"apiVersion":"v2","kind":"K","metadata":{"name":"k","labels":{"l":"1"}},"data":{"a":"1","b":"2","c":"3"}}
              app Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:a":{}}}
              ctl Update v1 2026-01-01T00:00:03Z: {"f:data":{"f:b":{},"f:c":{}}}
              ctl Update v2 2026-01-01T00:00:04Z: {"f:metadata":{"f:labels":{".":{},"f:l":{}}}}
            # app applies
            {"apiVersion":"v2","kind":"K","metadata":{"name":"k","labels":{"l":"1"}},"data":{"a":"1","b":"2","c":"3"}}
              app Apply v2 2026-01-01T00:00:01Z: {"f:data":{"f:a":{}}}
              ctl Update v1 2026-01-01T00:00:03Z: {"f:data":{"f:b":{},"f:c":{}}}
              ctl Update v2 2026-01-01T00:00:04Z: {"f:metadata":{"f:labels":{".":{},"f:l":{}}}}
        "##]],
    );
}

#[test]
fn subresource_writes_cannot_set_managed_fields() {
    let mut status = cm(json!({"x": "1"}));
    status["status"] = json!({"ok": true});
    status["metadata"]["managedFields"] = json!([{}]);
    check(
        json!({}),
        Value::Null,
        vec![
            update_by("creator", cm(json!({"x": "1"}))),
            status_update_by("kubelet", status),
        ],
        expect![[r##"
            # creator creates
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}
              creator Update v1 2026-01-01T00:00:01Z: {"f:data":{".":{},"f:x":{}}}
            # kubelet updates /status
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"},"status":{"ok":true}}
              creator Update v1 2026-01-01T00:00:01Z: {"f:data":{".":{},"f:x":{}}}
              kubelet Update v1 2026-01-01T00:00:02Z /status: {"f:status":{".":{},"f:ok":{}}}
        "##]],
    );
}

#[test]
fn the_oldest_updaters_merge_into_ancient_changes() {
    let names = [
        "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10", "u11",
    ];
    let mut data = serde_json::Map::new();
    let mut steps = Vec::new();
    for name in names {
        data.insert(name.to_string(), json!("1"));
        steps.push(update_by(name, cm(Value::Object(data.clone()))));
    }
    let meta = ApplyTestMeta::from_json(&json!({}));
    let mut live: Option<Value> = None;
    for (i, s) in steps.iter().enumerate() {
        let now = format!("2026-01-01T00:00:{:02}Z", i + 1);
        live = Some(track_update(
            live.as_ref(),
            s.value.clone(),
            s.manager,
            "v1",
            &now,
            &meta,
            None,
        ));
    }
    let obj = live.unwrap_or_default();
    expect![[r#"
        {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"u01":"1","u02":"1","u03":"1","u04":"1","u05":"1","u06":"1","u07":"1","u08":"1","u09":"1","u10":"1","u11":"1"}}
          ancient-changes Update v1 2026-01-01T00:00:02Z: {"f:data":{".":{},"f:u01":{},"f:u02":{}}}
          u03 Update v1 2026-01-01T00:00:03Z: {"f:data":{"f:u03":{}}}
          u04 Update v1 2026-01-01T00:00:04Z: {"f:data":{"f:u04":{}}}
          u05 Update v1 2026-01-01T00:00:05Z: {"f:data":{"f:u05":{}}}
          u06 Update v1 2026-01-01T00:00:06Z: {"f:data":{"f:u06":{}}}
          u07 Update v1 2026-01-01T00:00:07Z: {"f:data":{"f:u07":{}}}
          u08 Update v1 2026-01-01T00:00:08Z: {"f:data":{"f:u08":{}}}
          u09 Update v1 2026-01-01T00:00:09Z: {"f:data":{"f:u09":{}}}
          u10 Update v1 2026-01-01T00:00:10Z: {"f:data":{"f:u10":{}}}
          u11 Update v1 2026-01-01T00:00:11Z: {"f:data":{"f:u11":{}}}
    "#]].assert_eq(&show(&obj));
}

#[test]
fn applied_null_removes_the_field_but_is_owned() {
    check(
        json!({}),
        Value::Null,
        vec![
            apply_by("a", cm(json!({"x": "1", "y": "2"}))),
            apply_by("a", cm(json!({"x": null, "y": "2"}))),
        ],
        expect![[r##"
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}}
              a Apply v1 2026-01-01T00:00:01Z: {"f:data":{"f:x":{},"f:y":{}}}
            # a applies
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"y":"2"}}
              a Apply v1 2026-01-01T00:00:02Z: {"f:data":{"f:x":{},"f:y":{}}}
        "##]],
    );
}

#[test]
fn reset_fields_are_not_owned_and_subresource_appliers_are_separate() {
    let field = |n: &str| PathElement::Field(n.to_string());
    let mut status_only = FieldSet::new();
    status_only.insert(&[field("status")]);
    let mut spec_only = FieldSet::new();
    spec_only.insert(&[field("spec")]);
    let meta = ApplyTestMeta::from_json(&json!({}));
    let obj = |replicas: u32, ready: u32| json!({"apiVersion": "v1", "kind": "D", "metadata": {"name": "d"}, "spec": {"replicas": replicas}, "status": {"ready": ready}});
    let main = WriteOptions {
        subresource: None,
        ignored: Some(&status_only),
    };
    let status = WriteOptions {
        subresource: Some("status"),
        ignored: Some(&spec_only),
    };
    let now = "2026-01-01T00:00:01Z";
    let mut out = String::new();
    // The main resource's applier names status too: it does not own it.
    let created = apply_with(None, &obj(1, 0), "a", false, "v1", now, &meta, main).unwrap();
    out.push_str(&show(&created));
    // The status writer's spec change is not its own (the strategy would undo it).
    let written = track_update_with(Some(&created), obj(2, 1), "ctl", "v1", now, &meta, status);
    out.push_str(&show(&written));
    // An applier through /status conflicts with the status updater, not with "a".
    let err = apply_with(
        Some(&written),
        &obj(2, 2),
        "s",
        false,
        "v1",
        now,
        &meta,
        status,
    )
    .unwrap_err();
    out.push_str(&format!("{err}\n"));
    let forced = apply_with(
        Some(&written),
        &obj(2, 2),
        "s",
        true,
        "v1",
        now,
        &meta,
        status,
    )
    .unwrap();
    out.push_str(&show(&forced));
    expect![[r#"
        {"apiVersion":"v1","kind":"D","metadata":{"name":"d"},"spec":{"replicas":1},"status":{"ready":0}}
          a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:replicas":{}}}
        {"apiVersion":"v1","kind":"D","metadata":{"name":"d"},"spec":{"replicas":2},"status":{"ready":1}}
          a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:replicas":{}}}
          ctl Update v1 2026-01-01T00:00:01Z /status: {"f:status":{"f:ready":{}}}
        Apply failed with 1 conflict: conflict with "ctl" with subresource "status" using v1: .status.ready
        {"apiVersion":"v1","kind":"D","metadata":{"name":"d"},"spec":{"replicas":2},"status":{"ready":2}}
          a Apply v1 2026-01-01T00:00:01Z: {"f:spec":{"f:replicas":{}}}
          s Apply v1 2026-01-01T00:00:01Z /status: {"f:status":{"f:ready":{}}}
    "#]].assert_eq(&out);
}
