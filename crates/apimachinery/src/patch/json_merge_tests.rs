//! Data-driven cases for JSON patch and JSON merge patch.

use serde_json::{json, Value};

use super::{json_patch, merge_patch};

fn doc() -> Value {
    json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1, "items": ["p", "q"]}})
}

/// (name, patch, expected result or (status code, message))
type JsonPatchCase = (&'static str, Value, Result<Value, (u16, &'static str)>);

#[test]
fn json_patch_cases() {
    let cases: Vec<JsonPatchCase> = vec![
        (
            "replace",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]),
            Ok(json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 3, "items": ["p", "q"]}})),
        ),
        (
            "test then add",
            json!([{"op": "test", "path": "/spec/replicas", "value": 1}, {"op": "add", "path": "/metadata/labels/b", "value": "2"}]),
            Ok(json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "items": ["p", "q"]}})),
        ),
        (
            "add to end of list, remove, move, copy",
            json!([
                {"op": "add", "path": "/spec/items/-", "value": "r"},
                {"op": "remove", "path": "/spec/items/0"},
                {"op": "copy", "from": "/metadata/name", "path": "/spec/name"},
                {"op": "move", "from": "/metadata/labels", "path": "/spec/labels"},
            ]),
            Ok(json!({"metadata": {"name": "x"}, "spec": {"replicas": 1, "items": ["q", "r"], "name": "x", "labels": {"a": "1"}}})),
        ),
        ("null patch changes nothing", Value::Null, Ok(doc())),
        ("empty patch changes nothing", json!([]), Ok(doc())),
        (
            "failed test",
            json!([{"op": "test", "path": "/spec/replicas", "value": 2}]),
            Err((422, "testing value /spec/replicas failed: test failed")),
        ),
        (
            "failed test leaves nothing applied",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 9}, {"op": "test", "path": "/spec/replicas", "value": 2}]),
            Err((422, "testing value /spec/replicas failed: test failed")),
        ),
        (
            "replace of a missing key",
            json!([{"op": "replace", "path": "/spec/paused", "value": true}]),
            Err((422, "replace operation does not apply: doc is missing key: /spec/paused: missing value")),
        ),
        (
            "replace under a missing parent",
            json!([{"op": "replace", "path": "/status/phase", "value": "x"}]),
            Err((422, "replace operation does not apply: doc is missing path: /status/phase: missing value")),
        ),
        (
            "add under a missing parent",
            json!([{"op": "add", "path": "/status/phase", "value": "x"}]),
            Err((422, "add operation does not apply: doc is missing path: \"/status/phase\": missing value")),
        ),
        (
            "remove of a missing key",
            json!([{"op": "remove", "path": "/metadata/labels/zz"}]),
            Err((422, "error in remove for path: '/metadata/labels/zz': Unable to remove nonexistent key: zz: missing value")),
        ),
        (
            "unknown op",
            json!([{"op": "frob", "path": "/a"}]),
            Err((422, "Unexpected kind: frob")),
        ),
        (
            "not a list",
            json!({"op": "add"}),
            Err((400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")),
        ),
    ];
    let mut failures = Vec::new();
    for (name, patch, want) in cases {
        let got = json_patch(&doc(), &patch).map_err(|e| (e.status_code(), e.to_string()));
        let want = want.map_err(|(c, m)| (c, m.to_string()));
        if got != want {
            failures.push(format!("case {name:?}\n  got:  {got:?}\n  want: {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn too_many_operations() {
    let ops = vec![json!({"op": "test", "path": "/spec", "value": null}); 10001];
    let err = json_patch(&doc(), &Value::Array(ops)).unwrap_err();
    assert_eq!(err.status_code(), 413);
    assert_eq!(err.status_message(), "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001");
}

#[test]
fn merge_patch_cases() {
    let cases: Vec<(&str, Value, Result<Value, &str>)> = vec![
        (
            "null deletes, objects merge, lists replace",
            json!({"metadata": {"labels": {"a": null, "b": "2"}}, "spec": {"items": ["z"]}}),
            Ok(
                json!({"metadata": {"name": "x", "labels": {"b": "2"}}, "spec": {"replicas": 1, "items": ["z"]}}),
            ),
        ),
        ("empty patch", json!({}), Ok(doc())),
        (
            "deleting an absent field",
            json!({"status": null}),
            Ok(doc()),
        ),
        ("not an object", json!(["x"]), Err("Invalid JSON Patch")),
    ];
    for (name, patch, want) in cases {
        let got = merge_patch(&doc(), &patch).map_err(|e| e.to_string());
        assert_eq!(got, want.map_err(str::to_string), "case {name:?}");
    }
}
