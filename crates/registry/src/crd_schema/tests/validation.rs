//! Validation: kube-openapi keywords, value validations, list types, embedded resources,
//! CEL rules, updates and ratcheting.

use super::*;
use expect_test::expect;
use serde_json::{json, Value};

#[test]
fn type_errors() {
    let cases = [
        (
            "integer gets string",
            field(json!({"type": "integer"})),
            obj_f(json!("x")),
        ),
        (
            "integer gets 1.5",
            field(json!({"type": "integer"})),
            obj_f(json!(1.5)),
        ),
        (
            "integer gets 2.0",
            field(json!({"type": "integer"})),
            obj_f(json!(2.0)),
        ),
        (
            "number gets 2",
            field(json!({"type": "number"})),
            obj_f(json!(2)),
        ),
        (
            "string gets bool",
            field(json!({"type": "string"})),
            obj_f(json!(true)),
        ),
        (
            "object gets array",
            field(json!({"type": "object"})),
            obj_f(json!([1])),
        ),
        (
            "array gets object",
            field(json!({"type": "array", "items": {"type": "string"}})),
            obj_f(json!({})),
        ),
        (
            "boolean gets null",
            field(json!({"type": "boolean"})),
            obj_f(Value::Null),
        ),
        (
            "nullable gets null",
            field(json!({"type": "boolean", "nullable": true})),
            obj_f(Value::Null),
        ),
        (
            "int-or-string gets 3",
            field(json!({"x-kubernetes-int-or-string": true})),
            obj_f(json!(3)),
        ),
        (
            "int-or-string gets bool",
            field(json!({"x-kubernetes-int-or-string": true})),
            obj_f(json!(false)),
        ),
        (
            "untyped preserve gets anything",
            field(json!({"x-kubernetes-preserve-unknown-fields": true})),
            obj_f(json!({"a": [1]})),
        ),
        (
            "integer with stripped format int32 gets bool",
            field(json!({"type": "integer", "format": "int32"})),
            obj_f(json!(true)),
        ),
        (
            "string with format gets number",
            field(json!({"type": "string", "format": "date-time"})),
            obj_f(json!(5)),
        ),
        ("root not object", json!({"type": "object"}), json!("x")),
        (
            "array item wrong",
            spec(
                json!({"type": "object", "properties": {"l": {"type": "array", "items": {"type": "integer"}}}}),
            ),
            json!({"spec": {"l": [1, "two"]}}),
        ),
    ];
    check_errors(
        &cases,
        expect![[r#"
            integer gets string: spec.f: Invalid value: "string": spec.f in body must be of type integer: "string"
            integer gets 1.5: spec.f: Invalid value: "number": spec.f in body must be of type integer: "number"
            integer gets 2.0: ok
            number gets 2: ok
            string gets bool: spec.f: Invalid value: "boolean": spec.f in body must be of type string: "boolean"
            object gets array: spec.f: Invalid value: "array": spec.f in body must be of type object: "array"
            array gets object: spec.f: Invalid value: "object": spec.f in body must be of type array: "object"
            boolean gets null: spec.f: Invalid value: "null": spec.f in body must be of type boolean: "null"
            nullable gets null: ok
            int-or-string gets 3: ok
            int-or-string gets bool: spec.f: Invalid value: "boolean": spec.f in body must be of type integer,string: "boolean"
            untyped preserve gets anything: ok
            integer with stripped format int32 gets bool: spec.f: Invalid value: "boolean": spec.f in body must be of type integer: "boolean"
            string with format gets number: spec.f: Invalid value: "int64": spec.f in body must be of type date-time: "int64"
            root not object: <nil>: Invalid value: "string":  in body must be of type object: "string"
            array item wrong: spec.l[1]: Invalid value: "string": spec.l[1] in body must be of type integer: "string"
        "#]],
    );
}

#[test]
fn value_keywords() {
    let cases = [
        (
            "maximum",
            field(json!({"type": "integer", "maximum": 10})),
            obj_f(json!(20)),
        ),
        (
            "maximum ok",
            field(json!({"type": "integer", "maximum": 10})),
            obj_f(json!(10)),
        ),
        (
            "exclusiveMaximum",
            field(json!({"type": "integer", "maximum": 10, "exclusiveMaximum": true})),
            obj_f(json!(10)),
        ),
        (
            "minimum",
            field(json!({"type": "number", "minimum": 1.5})),
            obj_f(json!(1)),
        ),
        (
            "exclusiveMinimum",
            field(json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true})),
            obj_f(json!(0)),
        ),
        (
            "multipleOf",
            field(json!({"type": "integer", "multipleOf": 3})),
            obj_f(json!(7)),
        ),
        (
            "multipleOf ok",
            field(json!({"type": "number", "multipleOf": 0.5})),
            obj_f(json!(2.5)),
        ),
        (
            "pattern",
            field(json!({"type": "string", "pattern": "^[a-z]+$"})),
            obj_f(json!("Ab")),
        ),
        (
            "maxLength",
            field(json!({"type": "string", "maxLength": 5})),
            obj_f(json!("abcdefg")),
        ),
        (
            "maxLength counts chars",
            field(json!({"type": "string", "maxLength": 2})),
            obj_f(json!("éé")),
        ),
        (
            "minLength",
            field(json!({"type": "string", "minLength": 3})),
            obj_f(json!("ab")),
        ),
        (
            "enum",
            field(json!({"type": "string", "enum": ["red", "green"]})),
            obj_f(json!("purple")),
        ),
        (
            "enum of numbers",
            field(json!({"type": "integer", "enum": [1, 2]})),
            obj_f(json!(3)),
        ),
        (
            "enum 1 == 1.0",
            field(json!({"type": "number", "enum": [1, 2]})),
            obj_f(json!(1.0)),
        ),
        (
            "minItems",
            field(json!({"type": "array", "items": {"type": "string"}, "minItems": 2})),
            obj_f(json!(["a"])),
        ),
        (
            "maxItems",
            field(json!({"type": "array", "items": {"type": "string"}, "maxItems": 1})),
            obj_f(json!(["a", "b", "c"])),
        ),
        (
            "uniqueItems",
            field(json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true})),
            obj_f(json!(["a", "a"])),
        ),
        (
            "minProperties",
            field(
                json!({"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2}),
            ),
            obj_f(json!({"a": "1"})),
        ),
        (
            "maxProperties",
            field(
                json!({"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1}),
            ),
            obj_f(json!({"a": "1", "b": "2"})),
        ),
        (
            "required",
            spec(
                json!({"type": "object", "required": ["foo", "bar"], "properties": {"foo": {"type": "string"}, "bar": {"type": "string"}}}),
            ),
            json!({"spec": {"bar": "x"}}),
        ),
        (
            "required root",
            json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}}),
            json!({}),
        ),
        (
            "additionalProperties values",
            field(
                json!({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}),
            ),
            obj_f(json!({"a": -1, "b": 2})),
        ),
        (
            "additionalProperties false",
            field(json!({"type": "object", "additionalProperties": false})),
            obj_f(json!({"zz": 1})),
        ),
        (
            "properties before required",
            spec(
                json!({"type": "object", "required": ["b"], "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "additionalProperties": {"type": "string"}}),
            ),
            json!({"spec": {"a": 1, "x": 2}}),
        ),
        (
            "format date-time",
            field(json!({"type": "string", "format": "date-time"})),
            obj_f(json!("yesterday")),
        ),
        (
            "format date-time ok",
            field(json!({"type": "string", "format": "date-time"})),
            obj_f(json!("2024-01-01T00:00:00Z")),
        ),
        (
            "format uuid",
            field(json!({"type": "string", "format": "uuid"})),
            obj_f(json!("nope")),
        ),
        (
            "format unknown",
            field(json!({"type": "string", "format": "whatever"})),
            obj_f(json!("x")),
        ),
        (
            "several at once",
            spec(
                json!({"type": "object", "properties": {"a": {"type": "integer", "maximum": 1}, "b": {"type": "string", "enum": ["x"]}}}),
            ),
            json!({"spec": {"a": 2, "b": "y"}}),
        ),
    ];
    check_errors(
        &cases,
        expect![[r#"
            maximum: spec.f: Invalid value: 20: spec.f in body should be less than or equal to 10
            maximum ok: ok
            exclusiveMaximum: spec.f: Invalid value: 10: spec.f in body should be less than 10
            minimum: spec.f: Invalid value: 1: spec.f in body should be greater than or equal to 1.5
            exclusiveMinimum: spec.f: Invalid value: 0: spec.f in body should be greater than 0
            multipleOf: spec.f: Invalid value: 7: spec.f in body should be a multiple of 3
            multipleOf ok: ok
            pattern: spec.f: Invalid value: "Ab": spec.f in body should match '^[a-z]+$'
            maxLength: spec.f: Too long: may not be more than 5 bytes
            maxLength counts chars: ok
            minLength: spec.f: Invalid value: "ab": spec.f in body should be at least 3 chars long
            enum: spec.f: Unsupported value: "purple": supported values: "red", "green"
            enum of numbers: spec.f: Unsupported value: 3: supported values: "1", "2"
            enum 1 == 1.0: ok
            minItems: spec.f: Invalid value: 1: spec.f in body should have at least 2 items
            maxItems: spec.f: Too many: 3: must have at most 1 items
            uniqueItems: spec.f: Invalid value: "": spec.f in body shouldn't contain duplicates
            minProperties: spec.f: Invalid value: 2: spec.f in body should have at least 2 properties
            maxProperties: spec.f: Too many: 1: must have at most 1 items
            required: spec.foo: Required value
            required root: spec: Required value
            additionalProperties values: spec.f.a: Invalid value: -1: spec.f.a in body should be greater than or equal to 0
            additionalProperties false: spec.f: Invalid value: "zz": spec.f.zz in body is a forbidden property
            properties before required: spec.x: Invalid value: "integer": spec.x in body must be of type string: "integer" | spec.a: Invalid value: "integer": spec.a in body must be of type string: "integer" | spec.b: Required value
            format date-time: spec.f: Invalid value: "yesterday": spec.f in body must be of type date-time: "yesterday"
            format date-time ok: ok
            format uuid: spec.f: Invalid value: "nope": spec.f in body must be of type uuid: "nope"
            format unknown: ok
            several at once: spec.a: Invalid value: 2: spec.a in body should be less than or equal to 1 | spec.b: Unsupported value: "y": supported values: "x"
        "#]],
    );
}

#[test]
fn value_validations() {
    let one_of = field(
        json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}),
    );
    let cases = [
        ("oneOf none", one_of.clone(), obj_f(json!({}))),
        ("oneOf one", one_of.clone(), obj_f(json!({"a": "x"}))),
        ("oneOf both", one_of, obj_f(json!({"a": "x", "b": "y"}))),
        (
            "anyOf none",
            field(json!({"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]})),
            obj_f(json!(5)),
        ),
        (
            "anyOf one",
            field(json!({"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]})),
            obj_f(json!(-1)),
        ),
        (
            "allOf",
            field(json!({"type": "string", "allOf": [{"minLength": 2}, {"pattern": "^a"}]})),
            obj_f(json!("b")),
        ),
        (
            "allOf one fails",
            field(json!({"type": "string", "allOf": [{"minLength": 2}, {"pattern": "^a"}]})),
            obj_f(json!("bb")),
        ),
        (
            "not",
            field(json!({"type": "string", "not": {"enum": ["x"]}})),
            obj_f(json!("x")),
        ),
        (
            "not ok",
            field(json!({"type": "string", "not": {"enum": ["x"]}})),
            obj_f(json!("y")),
        ),
    ];
    check_errors(
        &cases,
        expect![[r#"
            oneOf none: <nil>: Invalid value: "": "spec.f" must validate one and only one schema (oneOf). Found none valid | spec.f.a: Required value
            oneOf one: ok
            oneOf both: <nil>: Invalid value: "": "spec.f" must validate one and only one schema (oneOf). Found 2 valid alternatives
            anyOf none: <nil>: Invalid value: "": "spec.f" must validate at least one schema (anyOf) | spec.f: Invalid value: 5: spec.f in body should be greater than or equal to 10
            anyOf one: ok
            allOf: spec.f: Invalid value: "b": spec.f in body should be at least 2 chars long | spec.f: Invalid value: "b": spec.f in body should match '^a' | <nil>: Invalid value: "": "spec.f" must validate all the schemas (allOf). None validated
            allOf one fails: spec.f: Invalid value: "bb": spec.f in body should match '^a' | <nil>: Invalid value: "": "spec.f" must validate all the schemas (allOf)
            not: <nil>: Invalid value: "": "spec.f" must not validate the schema (not)
            not ok: ok
        "#]],
    );
}

#[test]
fn list_types_and_embedded() {
    let set = field(
        json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}),
    );
    let map = field(
        json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "proto"],
        "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "proto": {"type": "string", "default": "TCP"}, "port": {"type": "integer"}}}}),
    );
    let embedded = field(
        json!({"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}),
    );
    let cases = [
        (
            "set duplicate",
            set.clone(),
            obj_f(json!(["a", "b", "a", "a"])),
        ),
        ("set ok", set, obj_f(json!(["a", "b"]))),
        (
            "map duplicate",
            map.clone(),
            obj_f(
                json!([{"name": "a", "proto": "TCP", "port": 1}, {"name": "a", "proto": "TCP", "port": 2}, {"name": "b"}, {"port": 3}, null, {"name": "b"}]),
            ),
        ),
        (
            "map ok",
            map.clone(),
            obj_f(json!([{"name": "a"}, {"name": "a", "proto": "UDP"}])),
        ),
        (
            "map item not an object",
            map.clone(),
            obj_f(json!([{"name": "a"}, "x"])),
        ),
        (
            "set of objects compares JSON",
            field(
                json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object", "x-kubernetes-map-type": "atomic"}}),
            ),
            obj_f(json!([{"a": 1}, {"a": 1.0}, {"a": 2}])),
        ),
        (
            "set inside a map value",
            field(
                json!({"type": "object", "additionalProperties": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}}}),
            ),
            obj_f(json!({"k": [1, 1]})),
        ),
        (
            "embedded missing type meta",
            embedded.clone(),
            obj_f(json!({"metadata": {}})),
        ),
        (
            "embedded ok",
            embedded.clone(),
            obj_f(json!({"apiVersion": "v1", "kind": "Pod"})),
        ),
        (
            "embedded bad type meta",
            embedded.clone(),
            obj_f(json!({"apiVersion": "a/b/c", "kind": "My_Kind"})),
        ),
        (
            "embedded empty and mistyped",
            embedded.clone(),
            obj_f(json!({"apiVersion": "", "kind": 5})),
        ),
        (
            "embedded metadata",
            embedded.clone(),
            obj_f(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a/b", "labels": {"k": "bad value!"}}}),
            ),
        ),
        (
            "embedded in a list",
            field(
                json!({"type": "array", "items": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}),
            ),
            obj_f(json!([{"kind": "Pod"}])),
        ),
    ];
    check_errors(
        &cases,
        expect![[r#"
            set duplicate: spec.f[2]: Duplicate value: "a"
            set ok: ok
            map duplicate: spec.f[3].name: Required value | spec.f[4]: Invalid value: "null": spec.f[4] in body must be of type object: "null" | spec.f[1]: Duplicate value: {"name":"a","proto":"TCP"} | spec.f[4]: Duplicate value: {} | spec.f[5]: Duplicate value: {"name":"b"}
            map ok: ok
            map item not an object: spec.f[1]: Invalid value: "string": spec.f[1] in body must be of type object: "string" | spec.f[1]: Invalid value: "x": must be an object for an array of list-type map
            set of objects compares JSON: spec.f[1]: Duplicate value: {"a":1.0}
            set inside a map value: spec.f[k][1]: Duplicate value: 1
            embedded missing type meta: spec.f.apiVersion: Required value | spec.f.kind: Required value
            embedded ok: ok
            embedded bad type meta: spec.f.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c | spec.f.kind: Invalid value: "My_Kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')
            embedded empty and mistyped: spec.f.apiVersion: Invalid value: "": must not be empty | spec.f.kind: Invalid value: 5: must be a string
            embedded metadata: spec.f.metadata.name: Invalid value: "a/b": may not contain '/' | spec.f.metadata.labels: Invalid value: "bad value!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')
            embedded in a list: spec.f[0].apiVersion: Required value
        "#]],
    );
}

#[test]
fn cel_rules() {
    let rule = |r: Value| field(json!({"type": "string", "x-kubernetes-validations": [r]}));
    let cases = [
        ("holds", rule(json!({"rule": "ok"})), obj_f(json!("a"))),
        (
            "default message",
            rule(json!({"rule": "fail"})),
            obj_f(json!("a")),
        ),
        (
            "message",
            rule(json!({"rule": "fail", "message": "must be nice"})),
            obj_f(json!("a")),
        ),
        (
            "messageExpression",
            rule(json!({"rule": "fail", "message": "m", "messageExpression": "'got ' + self"})),
            obj_f(json!("b")),
        ),
        (
            "messageExpression fails",
            rule(json!({"rule": "fail", "message": "m", "messageExpression": "boom"})),
            obj_f(json!("b")),
        ),
        (
            "messageExpression empty",
            rule(json!({"rule": "fail", "messageExpression": "''"})),
            obj_f(json!("b")),
        ),
        (
            "eval error",
            rule(json!({"rule": "self.nope"})),
            obj_f(json!("b")),
        ),
        (
            "reason forbidden",
            rule(json!({"rule": "fail", "reason": "FieldValueForbidden", "message": "no"})),
            obj_f(json!("b")),
        ),
        (
            "reason required",
            rule(json!({"rule": "fail", "reason": "FieldValueRequired", "message": "need"})),
            obj_f(json!("b")),
        ),
        (
            "fieldPath",
            spec(
                json!({"type": "object", "properties": {"x": {"type": "integer"}}, "x-kubernetes-validations": [{"rule": "self.x > 0", "fieldPath": ".x"}]}),
            ),
            json!({"spec": {"x": 0}}),
        ),
        (
            "fieldPath quoted",
            spec(
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-validations": [{"rule": "fail", "fieldPath": "['a.b'].c"}]}),
            ),
            json!({"spec": {}}),
        ),
        (
            "fieldPath into a map",
            spec(
                json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}}, "x-kubernetes-validations": [{"rule": "fail", "fieldPath": ".m['k.1']"}]}),
            ),
            json!({"spec": {"m": {}}}),
        ),
        (
            "reason duplicate",
            rule(json!({"rule": "fail", "reason": "FieldValueDuplicate", "message": "dup"})),
            obj_f(json!("b")),
        ),
        (
            "message trimmed",
            rule(json!({"rule": " fail ", "message": "  spaced  "})),
            obj_f(json!("b")),
        ),
        (
            "skipped after type error",
            rule(json!({"rule": "fail"})),
            obj_f(json!(5)),
        ),
        (
            "per list item",
            field(
                json!({"type": "array", "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('a')"}]}}),
            ),
            obj_f(json!(["ab", "b", "c"])),
        ),
        (
            "per map value",
            field(
                json!({"type": "object", "additionalProperties": {"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('a')"}]}}),
            ),
            obj_f(json!({"k1": "a", "k2": "z"})),
        ),
        (
            "at root",
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "fail"}]}),
            json!({}),
        ),
        (
            "transition rule skipped on create",
            rule(json!({"rule": "self == oldSelf"})),
            obj_f(json!("a")),
        ),
        (
            "optionalOldSelf runs on create",
            rule(json!({"rule": "fail", "optionalOldSelf": true, "message": "oldSelf unused"})),
            obj_f(json!("a")),
        ),
        (
            "no engine",
            rule(json!({"rule": "whatever"})),
            obj_f(json!("a")),
        ),
    ];
    let rendered = render_errors(&cases, None);
    let s = Structural::from_openapi(&rule(json!({"rule": "whatever"})));
    let no_rules = s.validate(&obj_f(json!("a")), None, &NoRules);
    expect![[r#"
        holds: ok
        default message: spec.f: Invalid value: "a": failed rule: fail
        message: spec.f: Invalid value: "a": must be nice
        messageExpression: spec.f: Invalid value: "b": got b
        messageExpression fails: spec.f: Invalid value: "b": m
        messageExpression empty: spec.f: Invalid value: "b": failed rule: fail
        eval error: spec.f: Invalid value: "string": compilation failed: undeclared reference in "self.nope"
        reason forbidden: spec.f: Forbidden: no
        reason required: spec.f: Required value: need
        fieldPath: spec.x: Invalid value: failed rule: self.x > 0
        fieldPath quoted: spec.a.b.c: Invalid value: failed rule: fail
        fieldPath into a map: spec.m[k.1]: Invalid value: failed rule: fail
        reason duplicate: spec.f: Duplicate value: "b"
        message trimmed: spec.f: Invalid value: "b": spaced
        skipped after type error: spec.f: Invalid value: "integer": spec.f in body must be of type string: "integer" | <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation
        per list item: spec.f[1]: Invalid value: "b": failed rule: self.startsWith('a') | spec.f[2]: Invalid value: "c": failed rule: self.startsWith('a')
        per map value: spec.f[k2]: Invalid value: "z": failed rule: self.startsWith('a')
        at root: <nil>: Invalid value: failed rule: fail
        transition rule skipped on create: ok
        optionalOldSelf runs on create: spec.f: Invalid value: "a": oldSelf unused
        no engine: spec.f: Invalid value: "string": compilation failed: undeclared reference in "whatever"
        NoRules: []
    "#]]
    .assert_eq(&format!("{rendered}NoRules: {no_rules:?}\n"));
}

#[test]
fn updates_and_ratcheting() {
    let immutable = field(
        json!({"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "is immutable"}]}),
    );
    let items = field(
        json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
        "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}, "v": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}}}),
    );
    let max3 = spec(
        json!({"type": "object", "properties": {"f": {"type": "integer", "maximum": 3}, "g": {"type": "string"}}}),
    );
    let set = field(
        json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}),
    );
    let always_fails =
        field(json!({"type": "string", "x-kubernetes-validations": [{"rule": "fail"}]}));
    let cases: [(&str, Value, Value, Value); 12] = [
        (
            "unchanged",
            immutable.clone(),
            obj_f(json!("a")),
            obj_f(json!("a")),
        ),
        (
            "changed",
            immutable.clone(),
            obj_f(json!("b")),
            obj_f(json!("a")),
        ),
        (
            "new field has no old value",
            immutable,
            obj_f(json!("b")),
            json!({"spec": {}}),
        ),
        (
            "list-map items correlate by key",
            items.clone(),
            obj_f(json!([{"k": "y", "v": "2"}, {"k": "x", "v": "1"}])),
            obj_f(json!([{"k": "x", "v": "1"}, {"k": "y", "v": "1"}])),
        ),
        (
            "new list-map item has no old value",
            items,
            obj_f(json!([{"k": "z", "v": "9"}])),
            obj_f(json!([{"k": "x", "v": "1"}])),
        ),
        (
            "schema error on an unchanged value is ratcheted",
            max3.clone(),
            json!({"spec": {"f": 5, "g": "b"}}),
            json!({"spec": {"f": 5, "g": "a"}}),
        ),
        (
            "schema error on a changed value is reported",
            max3,
            json!({"spec": {"f": 5}}),
            json!({"spec": {"f": 4}}),
        ),
        (
            "duplicates already in the old object are tolerated",
            set.clone(),
            obj_f(json!(["a", "a", "b"])),
            obj_f(json!(["a", "a"])),
        ),
        (
            "new duplicates are reported",
            set,
            obj_f(json!(["a", "a"])),
            obj_f(json!(["a"])),
        ),
        (
            "rule on an unchanged value is ratcheted",
            always_fails.clone(),
            json!({"spec": {"f": "a", "other": 1}}),
            json!({"spec": {"f": "a"}}),
        ),
        (
            "rule on a changed value is reported",
            always_fails,
            obj_f(json!("b")),
            obj_f(json!("a")),
        ),
        (
            "schema errors block rules",
            spec(
                json!({"type": "object", "required": ["x"], "properties": {"x": {"type": "string"}}, "x-kubernetes-validations": [{"rule": "fail"}]}),
            ),
            json!({"spec": {}}),
            json!({"spec": {"y": 1}}),
        ),
    ];
    let mut out = String::new();
    for (label, schema, new, old) in &cases {
        let s = Structural::from_openapi(schema);
        let msgs: Vec<String> = s
            .validate(new, Some(old), &FakeCel)
            .iter()
            .map(|e| e.message())
            .collect();
        out.push_str(&format!(
            "{label}: {}\n",
            if msgs.is_empty() {
                "ok".into()
            } else {
                msgs.join(" | ")
            }
        ));
    }
    expect![[r#"
        unchanged: ok
        changed: spec.f: Invalid value: "b": is immutable
        new field has no old value: ok
        list-map items correlate by key: spec.f[0].v: Invalid value: "2": failed rule: self == oldSelf
        new list-map item has no old value: ok
        schema error on an unchanged value is ratcheted: ok
        schema error on a changed value is reported: spec.f: Invalid value: 5: spec.f in body should be less than or equal to 3
        duplicates already in the old object are tolerated: ok
        new duplicates are reported: spec.f[1]: Duplicate value: "a"
        rule on an unchanged value is ratcheted: ok
        rule on a changed value is reported: spec.f: Invalid value: "b": failed rule: fail
        schema errors block rules: spec.x: Required value | <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation
    "#]]
    .assert_eq(&out);
}
