//! The `pods/ephemeralcontainers` subresource: the one way to add a container to a running
//! pod (`kubectl debug`). Only `spec.ephemeralContainers` comes from the request, and it
//! may only grow: an ephemeral container, once added, is neither changed nor removed.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

use super::pod_spec::{default_ephemeral_container, validate_pod_spec};
use crate::strategies::json::{array_at, str_at};

/// `old` with the request's ephemeral containers (defaulted) and its resourceVersion
/// precondition, and nothing else of the request.
pub fn prepare_update(req: &Value, old: &Value) -> Value {
    let mut out = old.clone();
    let mut list = req
        .pointer("/spec/ephemeralContainers")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(items) = list.as_array_mut() {
        items.iter_mut().for_each(default_ephemeral_container);
    }
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        match list {
            Value::Null => spec.remove("ephemeralContainers"),
            list => spec.insert("ephemeralContainers".into(), list),
        };
    }
    if let (Some(rv), Some(meta)) = (
        req.pointer("/metadata/resourceVersion"),
        out.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        meta.insert("resourceVersion".into(), rv.clone());
    }
    out
}

/// The whole pod must still be valid, and every ephemeral container it had must still be
/// there, unchanged.
pub fn validate_update(new: &Value, old: &Value) -> FieldErrors {
    let spec_path = Path::new("spec");
    let new_spec = new.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_pod_spec(new_spec, &spec_path);
    let list_path = spec_path.child("ephemeralContainers");
    let new_list = array_at(new_spec, &["ephemeralContainers"]);
    for o in array_at(old, &["spec", "ephemeralContainers"]) {
        let name = str_at(o, &["name"]);
        match new_list.iter().position(|n| str_at(n, &["name"]) == name) {
            None => errs.push(FieldError::forbidden(
                list_path.clone(),
                format!("existing ephemeral containers {name:?} may not be removed"),
            )),
            Some(i) if new_list[i] != *o => errs.push(FieldError::forbidden(
                list_path.index(i),
                "existing ephemeral containers may not be changed",
            )),
            Some(_) => {}
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use serde_json::json;

    fn pod(ephemeral: Value) -> Value {
        let mut spec = json!({
            "restartPolicy": "Always",
            "containers": [{"name": "app", "image": "app:1", "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File", "resources": {}}],
        });
        if !ephemeral.is_null() {
            spec["ephemeralContainers"] = ephemeral;
        }
        json!({"metadata": {"name": "p", "namespace": "ns", "resourceVersion": "7"}, "spec": spec})
    }

    #[test]
    fn updates() {
        let debugger =
            json!({"name": "debugger", "image": "busybox:1", "targetContainerName": "app"});
        let with_debugger = prepare_update(&pod(json!([debugger])), &pod(Value::Null));
        let cases = [
            ("adds one", pod(json!([debugger])), pod(Value::Null)),
            (
                "adds a second",
                pod(json!([debugger, {"name": "two", "image": "busybox:1"}])),
                with_debugger.clone(),
            ),
            ("removes one", pod(json!([])), with_debugger.clone()),
            (
                "changes one",
                pod(
                    json!([{"name": "debugger", "image": "busybox:2", "targetContainerName": "app"}]),
                ),
                with_debugger.clone(),
            ),
            (
                "forbidden fields and a missing target",
                pod(
                    json!([{"name": "bad", "image": "busybox:1", "targetContainerName": "nope",
                            "ports": [{"containerPort": 80}],
                            "readinessProbe": {"exec": {"command": ["true"]}},
                            "resources": {"limits": {"cpu": "1"}}}]),
                ),
                pod(Value::Null),
            ),
            (
                "a name already taken",
                pod(json!([{"name": "app", "image": "busybox:1"}])),
                pod(Value::Null),
            ),
            ("no image", pod(json!([{"name": "x"}])), pod(Value::Null)),
        ];
        let mut out = String::new();
        for (what, req, old) in cases {
            let new = prepare_update(&req, &old);
            out += &format!("{what}: {}\n", messages(&validate_update(&new, &old)));
        }
        expect_test::expect![[r#"
            adds one: 
            adds a second: 
            removes one: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be removed
            changes one: spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers may not be changed
            forbidden fields and a missing target: spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container
            spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container
            spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container
            spec.ephemeralContainers[0].targetContainerName: Not found: "nope"
            a name already taken: spec.ephemeralContainers[0].name: Duplicate value: "app"
            no image: spec.ephemeralContainers[0].image: Required value
        "#]].assert_eq(&out);
    }

    #[test]
    fn only_ephemeral_containers_come_from_the_request() {
        let mut req = pod(json!([{"name": "d", "image": "busybox:1"}]));
        req["spec"]["containers"][0]["image"] = json!("changed:1");
        req["metadata"]["labels"] = json!({"changed": "yes"});
        let new = prepare_update(&req, &pod(Value::Null));
        assert_eq!(new["spec"]["containers"][0]["image"], "app:1");
        assert!(new["metadata"].get("labels").is_none());
        assert_eq!(
            new["spec"]["ephemeralContainers"][0]["terminationMessagePolicy"],
            "File"
        );
        assert_eq!(new["metadata"]["resourceVersion"], "7");
    }
}
