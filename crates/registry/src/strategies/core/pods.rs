//! Pods: spec defaults, `status.phase: Pending` and the QoS class on create, and the short
//! list of spec fields an update may touch.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use super::pod_spec::{default_pod_only, default_pod_spec, qos_class, validate_pod_spec};
use crate::strategies::json::{array_at, get, i64_at, str_at};
use crate::Strategy;

pub struct PodStrategy;

fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

const UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

impl Strategy for PodStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec") {
            default_pod_spec(spec);
            default_pod_only(spec);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        let mut status = json!({"phase": "Pending", "qosClass": qos});
        // A gated pod says why it is not being scheduled, as upstream's strategy does.
        if !array_at(obj, &["spec", "schedulingGates"]).is_empty() {
            status["conditions"] = json!([{
                "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": null,
                "lastTransitionTime": now(),
            }]);
        }
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), status);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let mut errs = validate_pod_spec(spec, &Path::new("spec"));
        // Ephemeral containers join a running pod through their subresource only.
        if !array_at(spec, &["ephemeralContainers"]).is_empty() {
            errs.push(FieldError::forbidden(
                Path::new("spec").child("ephemeralContainers"),
                "cannot be set on create",
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs =
            validate_pod_spec(new.get("spec").unwrap_or(&Value::Null), &Path::new("spec"));
        let new_spec = new.get("spec").unwrap_or(&Value::Null);
        let old_spec = old.get("spec").unwrap_or(&Value::Null);
        errs.extend(validate_spec_update(new_spec, old_spec));
        errs
    }

    fn has_status(&self) -> bool {
        true
    }

    // Pods track generation since PodObservedGenerationTracking (on by default from 1.34).
    fn tracks_generation(&self) -> bool {
        true
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        let s = |path: &[&str]| Some(str_at(obj, path).to_string());
        match field {
            "spec.nodeName" => s(&["spec", "nodeName"]),
            "spec.restartPolicy" => s(&["spec", "restartPolicy"]),
            "spec.schedulerName" => s(&["spec", "schedulerName"]),
            "spec.serviceAccountName" => s(&["spec", "serviceAccountName"]),
            "spec.hostNetwork" => Some(
                get(obj, &["spec", "hostNetwork"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            ),
            "status.phase" => s(&["status", "phase"]),
            "status.podIP" => s(&["status", "podIP"]),
            "status.nominatedNodeName" => s(&["status", "nominatedNodeName"]),
            _ => None,
        }
    }
}

/// Everything but the updatable fields must stay as it was: we overwrite those in a copy of
/// the new spec with the old values and compare.
fn validate_spec_update(new: &Value, old: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    match (
        i64_at(new, &["activeDeadlineSeconds"]),
        i64_at(old, &["activeDeadlineSeconds"]),
    ) {
        (None, Some(_)) => errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (Some(n), Some(o)) if n > o => errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            n,
            "must be less than or equal to previous value",
        )),
        _ => {}
    }
    for (i, t) in array_at(old, &["tolerations"]).iter().enumerate() {
        let kept = array_at(new, &["tolerations"])
            .iter()
            .any(|n| same_toleration(n, t));
        if !kept {
            errs.push(FieldError::forbidden(
                path.child("tolerations").index(i),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
        }
    }
    errs.extend(only_deleted_gates(new, old, &path.child("schedulingGates")));
    let gated = !array_at(old, &["schedulingGates"]).is_empty();
    if gated {
        errs.extend(only_added_node_selector(
            new,
            old,
            &path.child("nodeSelector"),
        ));
    }
    let mut munged = new.clone();
    for list in ["containers", "initContainers"] {
        let old_list = array_at(old, &[list]);
        if let Some(items) = munged.get_mut(list).and_then(Value::as_array_mut) {
            for (c, o) in items.iter_mut().zip(old_list) {
                if let (Some(img), Some(obj)) = (o.get("image"), c.as_object_mut()) {
                    obj.insert("image".into(), img.clone());
                }
            }
        }
    }
    if let Some(m) = munged.as_object_mut() {
        let mut kept = vec!["activeDeadlineSeconds", "tolerations", "schedulingGates"];
        if gated {
            kept.push("nodeSelector");
        }
        for key in kept {
            match old.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
        let old_grace = i64_at(old, &["terminationGracePeriodSeconds"]);
        if old_grace.is_some_and(|g| g < 0)
            && i64_at(new, &["terminationGracePeriodSeconds"]) == Some(1)
        {
            m.insert("terminationGracePeriodSeconds".into(), json!(old_grace));
        }
    }
    if !same_ignoring_nulls(&munged, old) {
        errs.push(FieldError::forbidden(
            path,
            format!("pod updates may not change fields other than {UPDATABLE_FIELDS}"),
        ));
    }
    errs
}

/// Scheduling gates may only be removed: whoever holds a pod back releases it, never the
/// other way round.
fn only_deleted_gates(new: &Value, old: &Value, path: &Path) -> FieldErrors {
    let old_names: Vec<&str> = array_at(old, &["schedulingGates"])
        .iter()
        .map(|g| str_at(g, &["name"]))
        .collect();
    array_at(new, &["schedulingGates"])
        .iter()
        .enumerate()
        .filter(|(_, g)| !old_names.contains(&str_at(g, &["name"])))
        .map(|(i, g)| {
            FieldError::forbidden(
                path.index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    str_at(g, &["name"])
                ),
            )
        })
        .collect()
}

/// A gated pod's node selector may grow (queueing systems pick a place before releasing
/// it), but no entry may change or go.
fn only_added_node_selector(new: &Value, old: &Value, path: &Path) -> FieldErrors {
    let empty = serde_json::Map::new();
    let new_sel = get(new, &["nodeSelector"])
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let old_sel = get(old, &["nodeSelector"])
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if old_sel.iter().all(|(k, v)| new_sel.get(k) == Some(v)) {
        return Vec::new();
    }
    vec![FieldError::invalid(
        path.clone(),
        Value::Object(new_sel.clone()),
        "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
    )]
}

fn same_toleration(new: &Value, old: &Value) -> bool {
    ["key", "operator", "value", "effect"]
        .iter()
        .all(|k| get(new, &[k]) == get(old, &[k]))
}

/// Compares two JSON values treating absent and `null` alike (clients send either).
fn same_ignoring_nulls(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys());
            keys.into_iter().all(|k| {
                same_ignoring_nulls(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_ignoring_nulls(a, b))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::{messages, pretty};
    use expect_test::expect;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn create_defaults_and_status() {
        let mut obj = pod(
            json!({"hostNetwork": true, "containers": [{"name": "app", "image": "nginx",
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}),
        );
        PodStrategy.default(&mut obj);
        PodStrategy.prepare_for_create(&mut obj);
        expect![[r#"
            {
              "apiVersion": "v1",
              "kind": "Pod",
              "metadata": {
                "name": "p",
                "namespace": "default"
              },
              "spec": {
                "hostNetwork": true,
                "containers": [
                  {
                    "name": "app",
                    "image": "nginx",
                    "ports": [
                      {
                        "containerPort": 8080,
                        "protocol": "TCP",
                        "hostPort": 8080
                      }
                    ],
                    "resources": {
                      "limits": {
                        "cpu": "1",
                        "memory": "64Mi"
                      },
                      "requests": {
                        "cpu": "1",
                        "memory": "64Mi"
                      }
                    },
                    "imagePullPolicy": "Always",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File"
                  }
                ],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "enableServiceLinks": true
              },
              "status": {
                "phase": "Pending",
                "qosClass": "Guaranteed"
              }
            }"#]]
        .assert_eq(&pretty(&obj));
        assert!(PodStrategy.validate(&obj).is_empty());
        assert_eq!(
            PodStrategy.field_label(&obj, "spec.hostNetwork").as_deref(),
            Some("true")
        );
        assert_eq!(
            PodStrategy.field_label(&obj, "spec.nodeName").as_deref(),
            Some("")
        );
        assert_eq!(PodStrategy.field_label(&obj, "spec.unknown"), None);
    }

    #[test]
    fn updates() {
        let mut old = pod(
            json!({"activeDeadlineSeconds": 100, "tolerations": [{"key": "a", "operator": "Exists"}],
            "containers": [{"name": "app", "image": "nginx:1"}]}),
        );
        PodStrategy.default(&mut old);
        let change = |f: &dyn Fn(&mut Value)| {
            let mut new = old.clone();
            f(&mut new);
            messages(&PodStrategy.validate_update(&new, &old))
        };
        expect![""].assert_eq(&change(&|n| {
            n["spec"]["containers"][0]["image"] = json!("nginx:2");
            n["spec"]["activeDeadlineSeconds"] = json!(50);
            n["spec"]["tolerations"]
                .as_array_mut()
                .unwrap()
                .push(json!({"key": "b", "operator": "Exists"}));
            n["metadata"]["labels"] = json!({"x": "y"});
        }));
        expect!["spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"]
            .assert_eq(&change(&|n| n["spec"]["restartPolicy"] = json!("Never")));
        let mut gated = old.clone();
        gated["spec"]["schedulingGates"] = json!([{"name": "a"}, {"name": "b"}]);
        let mut ungated = gated.clone();
        ungated["spec"]["schedulingGates"] = json!([{"name": "b"}]);
        expect![""].assert_eq(&messages(&PodStrategy.validate_update(&ungated, &gated)));
        ungated["spec"]["schedulingGates"] = json!([{"name": "b"}, {"name": "c"}]);
        expect!["spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'c'"]
            .assert_eq(&messages(&PodStrategy.validate_update(&ungated, &gated)));
        expect![[r#"
            spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value
            spec.tolerations[0]: Forbidden: existing toleration can not be modified except its tolerationSeconds"#]]
        .assert_eq(&change(&|n| {
            n["spec"]["activeDeadlineSeconds"] = json!(200);
            n["spec"]["tolerations"] = json!([]);
        }));
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;
    use crate::strategies::testing::messages;

    fn gated(gates: &[&str], selector: Value) -> Value {
        let gates: Vec<Value> = gates.iter().map(|g| json!({"name": g})).collect();
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"schedulingGates": gates, "nodeSelector": selector, "containers": [{"name": "c", "image": "busybox"}]}});
        PodStrategy.default(&mut p);
        p
    }

    #[test]
    fn gates_may_only_be_removed() {
        let sel = json!({"a": "b"});
        let old = gated(&["g1", "g2"], sel.clone());
        let cases = [
            (gated(&["g1", "g2"], sel.clone()), ""),
            (gated(&["g2"], sel.clone()), ""),
            (gated(&[], sel.clone()), ""),
            (gated(&["g1", "g2", "g3"], sel.clone()), "spec.schedulingGates[2].name: Forbidden: only deletion is allowed, but found new scheduling gate 'g3'"),
            (gated(&["g1", "x"], sel.clone()), "spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'x'"),
            (gated(&["g1"], json!({"a": "b", "c": "d"})), ""),
            (gated(&["g1"], json!({"a": "z"})), "spec.nodeSelector: Invalid value: {\"a\":\"z\"}: only additions to spec.nodeSelector are allowed (no mutations or deletions)"),
        ];
        for (new, want) in cases {
            assert_eq!(
                messages(&PodStrategy.validate_update(&new, &old)),
                want,
                "{new}"
            );
        }
        // Without gates the node selector stays fixed, and gates cannot come back.
        let released = gated(&[], sel.clone());
        let more = gated(&[], json!({"a": "b", "c": "d"}));
        assert!(messages(&PodStrategy.validate_update(&more, &released))
            .starts_with("spec: Forbidden: pod updates may not change fields other than"));
        assert_eq!(
            messages(&PodStrategy.validate_update(&gated(&["g1"], sel.clone()), &released)),
            "spec.schedulingGates[0].name: Forbidden: only deletion is allowed, but found new scheduling gate 'g1'"
        );
    }
}
