//! Pruning of unknown fields, and the paths reported for them.

use super::*;
use expect_test::{expect, Expect};
use serde_json::{json, Value};

fn check_prune(cases: &[(&str, Value, Value)], expect: Expect) {
    let mut out = String::new();
    for (label, schema, obj) in cases {
        let mut obj = obj.clone();
        let removed = Structural::from_openapi(schema).prune(&mut obj);
        out.push_str(&format!("{label}: {obj} removed {removed:?}\n"));
    }
    expect.assert_eq(&out);
}

#[test]
fn pruning() {
    let nested = spec(json!({"type": "object", "properties": {
        "a": {"type": "object", "properties": {"b": {"type": "string"}}},
        "l": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
        "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"k": {"type": "integer"}}}},
        "p": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "object", "properties": {"z": {"type": "string"}}}}},
        "e": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
        "ep": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
    }}));
    let cases = [
        (
            "root keeps type meta and metadata",
            json!({"type": "object"}),
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "bogus": 1}, "junk": 1}),
        ),
        (
            "nested object",
            nested.clone(),
            json!({"spec": {"a": {"b": "x", "c": 1}, "d": 2}}),
        ),
        (
            "array items",
            nested.clone(),
            json!({"spec": {"l": [{"n": "x", "o": 1}, {"o": 2}]}}),
        ),
        (
            "additionalProperties",
            nested.clone(),
            json!({"spec": {"m": {"one": {"k": 1, "q": 2}}}}),
        ),
        (
            "preserve-unknown-fields keeps unknown, prunes known",
            nested.clone(),
            json!({"spec": {"p": {"free": {"any": 1}, "known": {"z": "x", "y": 1}}}}),
        ),
        (
            "embedded resource",
            nested.clone(),
            json!({"spec": {"e": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": 1}, "spec": {"x": 1}, "status": {}}}}),
        ),
        (
            "embedded preserve",
            nested.clone(),
            json!({"spec": {"ep": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bogus": 1}, "other": 1}}}),
        ),
        (
            "root preserve",
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            json!({"anything": {"goes": 1}}),
        ),
        (
            "wrong type left alone",
            nested,
            json!({"spec": {"a": "not an object"}}),
        ),
        (
            "additionalProperties true keeps keys, empties object values",
            spec(
                json!({"type": "object", "properties": {"any": {"type": "object", "additionalProperties": true}}}),
            ),
            json!({"spec": {"any": {"s": "x", "o": {"deep": 1}, "l": [{"d": 1}, 2]}}}),
        ),
        (
            "meta fields below a resource are ordinary",
            spec(json!({"type": "object", "properties": {"inner": {"type": "object"}}})),
            json!({"spec": {"inner": {"kind": "K", "metadata": {}}}}),
        ),
        ("non-object root", json!({"type": "object"}), json!([1])),
    ];
    check_prune(
        &cases,
        expect![[r#"
            root keeps type meta and metadata: {"apiVersion":"x/v1","kind":"K","metadata":{"name":"n","bogus":1}} removed ["junk"]
            nested object: {"spec":{"a":{"b":"x"}}} removed ["spec.a.c", "spec.d"]
            array items: {"spec":{"l":[{"n":"x"},{}]}} removed ["spec.l[0].o", "spec.l[1].o"]
            additionalProperties: {"spec":{"m":{"one":{"k":1}}}} removed ["spec.m.one.q"]
            preserve-unknown-fields keeps unknown, prunes known: {"spec":{"p":{"free":{"any":1},"known":{"z":"x"}}}} removed ["spec.p.known.y"]
            embedded resource: {"spec":{"e":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{}}}} removed ["spec.e.metadata.bogus", "spec.e.spec.x", "spec.e.status"]
            embedded preserve: {"spec":{"ep":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"other":1}}} removed ["spec.ep.metadata.bogus"]
            root preserve: {"anything":{"goes":1}} removed []
            wrong type left alone: {"spec":{"a":"not an object"}} removed []
            additionalProperties true keeps keys, empties object values: {"spec":{"any":{"s":"x","o":{},"l":[{},2]}}} removed ["spec.any.l[0].d", "spec.any.o.deep"]
            meta fields below a resource are ordinary: {"spec":{"inner":{}}} removed ["spec.inner.kind", "spec.inner.metadata"]
            non-object root: [1] removed []
        "#]],
    );
}
