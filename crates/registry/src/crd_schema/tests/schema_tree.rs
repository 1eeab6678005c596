//! Looking schema nodes up, and schemas that are not even JSON objects.

use super::*;
use expect_test::expect;
use serde_json::json;

use apimachinery::field::Path;
#[test]
fn schema_navigation() {
    let s = Structural::from_openapi(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"], "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
    }}));
    let lookups = [
        ".spec.replicas",
        "spec.replicas",
        ".spec",
        ".spec.ports[0].port",
        ".spec.ports[*]",
        ".spec.labels.app",
        ".spec.missing",
        ".status",
    ];
    let mut out = String::new();
    for p in lookups {
        let found = s
            .at_path(p)
            .map(|n| format!("{:?} list={:?}", n.type_name(), n.list_type()));
        out.push_str(&format!("{p}: {found:?}\n"));
    }
    expect![[r#"
        .spec.replicas: Some("\"integer\" list=None")
        spec.replicas: Some("\"integer\" list=None")
        .spec: Some("\"object\" list=None")
        .spec.ports[0].port: Some("\"integer\" list=None")
        .spec.ports[*]: Some("\"object\" list=None")
        .spec.labels.app: Some("\"string\" list=None")
        .spec.missing: None
        .status: None
    "#]]
    .assert_eq(&out);
}

#[test]
fn bad_schemas_do_not_panic() {
    for schema in [
        json!(null),
        json!(5),
        json!({"type": 5, "properties": [], "items": [1], "required": "x", "enum": {}, "pattern": "(", "maxLength": -1, "x-kubernetes-validations": [1, {"rule": 2}]}),
    ] {
        let s = Structural::from_openapi(&schema);
        let mut obj = json!({"spec": {"a": [1, {"b": null}]}});
        s.prune(&mut obj);
        s.apply_defaults(&mut obj);
        let _ = s.validate(&obj, Some(&obj), &FakeCel);
        let _ = check_structural(&schema, &Path::new("s"));
    }
}
