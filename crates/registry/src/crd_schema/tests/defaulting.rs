//! Defaulting, and the nulls dropped before it.

use super::*;
use expect_test::{expect, Expect};
use serde_json::{json, Value};

fn check_defaults(cases: &[(&str, Value, Value)], expect: Expect) {
    let mut out = String::new();
    for (label, schema, obj) in cases {
        let mut obj = obj.clone();
        Structural::from_openapi(schema).apply_defaults(&mut obj);
        out.push_str(&format!("{label}: {obj}\n"));
    }
    expect.assert_eq(&out);
}

#[test]
fn defaulting() {
    let s = spec(json!({"type": "object", "properties": {
        "replicas": {"type": "integer", "default": 1},
        "nullable": {"type": "string", "nullable": true, "default": "d"},
        "inner": {"type": "object", "properties": {"x": {"type": "string", "default": "x"}}},
        "withDefault": {"type": "object", "default": {}, "properties": {"y": {"type": "string", "default": "y"}}},
        "list": {"type": "array", "items": {"type": "object", "properties": {"z": {"type": "integer", "default": 7}}}},
        "nulls": {"type": "array", "items": {"type": "string", "default": "filled"}},
        "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"w": {"type": "boolean", "default": true}}}},
    }}));
    let cases = [
        ("absent spec gets nothing", s.clone(), json!({})),
        ("empty spec", s.clone(), json!({"spec": {}})),
        (
            "present values kept",
            s.clone(),
            json!({"spec": {"replicas": 3, "withDefault": {"y": "mine"}}}),
        ),
        (
            "null replaced unless nullable",
            s.clone(),
            json!({"spec": {"replicas": null, "nullable": null}}),
        ),
        (
            "null without default dropped",
            s.clone(),
            json!({"spec": {"inner": null, "list": [null], "map": {"a": null}}}),
        ),
        (
            "existing inner object",
            s.clone(),
            json!({"spec": {"inner": {}}}),
        ),
        (
            "array items",
            s.clone(),
            json!({"spec": {"list": [{}, {"z": 1}], "nulls": ["a", null]}}),
        ),
        (
            "additionalProperties",
            s,
            json!({"spec": {"map": {"a": {}, "b": {"w": false}}}}),
        ),
    ];
    check_defaults(
        &cases,
        expect![[r#"
            absent spec gets nothing: {}
            empty spec: {"spec":{"replicas":1,"nullable":"d","withDefault":{"y":"y"}}}
            present values kept: {"spec":{"replicas":3,"withDefault":{"y":"mine"},"nullable":"d"}}
            null replaced unless nullable: {"spec":{"replicas":1,"nullable":null,"withDefault":{"y":"y"}}}
            null without default dropped: {"spec":{"list":[null],"map":{},"replicas":1,"nullable":"d","withDefault":{"y":"y"}}}
            existing inner object: {"spec":{"inner":{"x":"x"},"replicas":1,"nullable":"d","withDefault":{"y":"y"}}}
            array items: {"spec":{"list":[{"z":7},{"z":1}],"nulls":["a","filled"],"replicas":1,"nullable":"d","withDefault":{"y":"y"}}}
            additionalProperties: {"spec":{"map":{"a":{"w":true},"b":{"w":false}},"replicas":1,"nullable":"d","withDefault":{"y":"y"}}}
        "#]],
    );
}
