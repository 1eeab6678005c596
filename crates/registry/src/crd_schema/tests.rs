//! Data-driven tests: schema and object in, pruned object / defaulted object / error
//! messages (as kubectl prints them) out. `UPDATE_EXPECT=1` rewrites the expectations.

use super::*;
use apimachinery::field::Path;
use expect_test::{expect, Expect};
use serde_json::{json, Value};

/// A CEL stand-in: rules are keywords, so tests read as data.
struct FakeCel;

impl RuleEvaluator for FakeCel {
    fn evaluate(&self, rule: &str, v: &Value, old: Option<&Value>) -> Result<bool, String> {
        match rule.trim() {
            "ok" => Ok(true),
            "fail" => Ok(false),
            "self == oldSelf" => Ok(old == Some(v)),
            "!has(oldSelf) || self == oldSelf" => Ok(old.is_none_or(|o| o == v)),
            "self.startsWith('a')" => Ok(v.as_str().is_some_and(|s| s.starts_with('a'))),
            "self.x > 0" => Ok(v["x"].as_i64().is_some_and(|x| x > 0)),
            other => Err(format!(
                "compilation failed: undeclared reference in {other:?}"
            )),
        }
    }
    fn message(&self, expr: &str, v: &Value, _: Option<&Value>) -> Result<String, String> {
        match expr {
            "'got ' + self" => Ok(format!("got {}", v.as_str().unwrap_or("?"))),
            "''" => Ok(String::new()),
            _ => Err("no such overload".into()),
        }
    }
}

/// One line per case: the label, then the errors' messages joined with " | ".
fn render_errors(cases: &[(&str, Value, Value)], old: Option<&Value>) -> String {
    let mut out = String::new();
    for (label, schema, obj) in cases {
        let s = Structural::from_openapi(schema);
        let errs = s.validate(obj, old, &FakeCel);
        let msgs: Vec<String> = errs.iter().map(|e| e.message()).collect();
        let text = if msgs.is_empty() {
            "ok".to_string()
        } else {
            msgs.join(" | ")
        };
        out.push_str(&format!("{label}: {text}\n"));
    }
    out
}

fn check_errors(cases: &[(&str, Value, Value)], expect: Expect) {
    expect.assert_eq(&render_errors(cases, None));
}

/// A root schema with `spec` of the given schema.
fn spec(s: Value) -> Value {
    json!({"type": "object", "properties": {"spec": s}})
}

/// A root schema whose `spec.f` has the given schema.
fn field(s: Value) -> Value {
    spec(json!({"type": "object", "properties": {"f": s}}))
}

fn obj_f(v: Value) -> Value {
    json!({"spec": {"f": v}})
}

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
            maxItems: spec.f: Too many: must have at most 1 items
            uniqueItems: spec.f: Invalid value: "": spec.f in body shouldn't contain duplicates
            minProperties: spec.f: Invalid value: 2: spec.f in body should have at least 2 properties
            maxProperties: spec.f: Too many: must have at most 1 items
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

fn check_schema(cases: &[(&str, Value)], expect: Expect) {
    let mut out = String::new();
    let base = Path::new("spec")
        .child("versions")
        .index(0)
        .child("schema")
        .child("openAPIV3Schema");
    for (label, schema) in cases {
        let errs = check_structural(schema, &base);
        let msgs: Vec<String> = errs.iter().map(|e| e.message()).collect();
        let text = if msgs.is_empty() {
            "ok".to_string()
        } else {
            msgs.join("\n    ")
        };
        out.push_str(&format!("{label}: {text}\n"));
    }
    expect.assert_eq(&out);
}

#[test]
fn structural_check() {
    let cases = [
        (
            "ok",
            spec(json!({"type": "object", "properties": {"a": {"type": "string"}}})),
        ),
        (
            "field without type",
            spec(json!({"type": "object", "properties": {"foo": {"description": "x"}}})),
        ),
        (
            "item without type",
            spec(json!({"type": "array", "items": {}})),
        ),
        ("root without type", json!({"properties": {}})),
        ("root not object", json!({"type": "string"})),
        ("unknown type", spec(json!({"type": "map"}))),
        ("array without items", spec(json!({"type": "array"}))),
        (
            "preserve or int-or-string need no type",
            spec(
                json!({"type": "object", "properties": {"a": {"x-kubernetes-preserve-unknown-fields": true}, "b": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}),
            ),
        ),
        (
            "additionalProperties with properties",
            spec(
                json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}),
            ),
        ),
        (
            "additionalProperties false",
            spec(json!({"type": "object", "additionalProperties": false})),
        ),
        (
            "metadata restricted",
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string"}, "labels": {"type": "object"}}}}}),
        ),
        (
            "preserve false",
            spec(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false})),
        ),
        (
            "uniqueItems",
            spec(json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true})),
        ),
        (
            "bad pattern",
            spec(json!({"type": "string", "pattern": "("})),
        ),
        (
            "value validation with skeleton keywords",
            spec(
                json!({"type": "string", "anyOf": [{"type": "string", "description": "d"}], "not": {"nullable": true}}),
            ),
        ),
        (
            "embedded not object",
            spec(json!({"x-kubernetes-embedded-resource": true})),
        ),
        (
            "embedded without properties",
            spec(json!({"type": "object", "x-kubernetes-embedded-resource": true})),
        ),
        (
            "list-type bad",
            spec(json!({"type": "object", "x-kubernetes-list-type": "bag"})),
        ),
        (
            "list-type map without keys",
            spec(
                json!({"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}),
            ),
        ),
        (
            "list-map keys",
            spec(
                json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "sub", "missing", "name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "sub": {"type": "object"}}}}),
            ),
        ),
        (
            "list-map keys ok",
            spec(
                json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "proto"],
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "proto": {"type": "string", "default": "TCP"}}}}),
            ),
        ),
        (
            "map keys without map",
            spec(
                json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-map-keys": ["a"]}),
            ),
        ),
        (
            "set of objects",
            spec(
                json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object"}}),
            ),
        ),
        (
            "map-type",
            spec(json!({"type": "string", "x-kubernetes-map-type": "deep"})),
        ),
        (
            "default wrong type",
            spec(
                json!({"type": "object", "properties": {"r": {"type": "integer", "default": "one", "maximum": 3}}}),
            ),
        ),
        (
            "default too big",
            spec(
                json!({"type": "object", "properties": {"r": {"type": "integer", "default": 5, "maximum": 3}}}),
            ),
        ),
        (
            "default unknown fields",
            spec(
                json!({"type": "object", "default": {"a": 1, "zz": 2}, "properties": {"a": {"type": "integer"}}}),
            ),
        ),
        (
            "default ok",
            spec(
                json!({"type": "object", "default": {"a": 1}, "properties": {"a": {"type": "integer"}}}),
            ),
        ),
        (
            "default in top-level metadata",
            json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {"name": "x"}}, "spec": {"type": "object", "properties": {"a": {"type": "string", "default": "ok"}}}}}),
        ),
        (
            "additionalProperties at the root",
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
        ),
        (
            "embedded with additionalProperties",
            spec(
                json!({"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true, "additionalProperties": {"type": "string"}}),
            ),
        ),
        (
            "kind must be a string",
            json!({"type": "object", "properties": {"kind": {"type": "integer"}}}),
        ),
        (
            "metadata in a value validation",
            spec(
                json!({"type": "object", "properties": {"metadata": {"type": "object"}}, "allOf": [{"properties": {"metadata": {"maxProperties": 1}}}]}),
            ),
        ),
        (
            "value validation names unknown properties",
            json!({"type": "object", "properties": {"spec": {"type": "object"}}, "anyOf": [{"properties": {"spec": {"properties": {"x": {"minLength": 1}}}}}, {"properties": {"nope": {}}}]}),
        ),
        (
            "int-or-string allOf pattern",
            spec(
                json!({"x-kubernetes-int-or-string": true, "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9]+%?$"}]}),
            ),
        ),
        (
            "rule shapes",
            spec(
                json!({"type": "string", "x-kubernetes-validations": [{"rule": "  "}, {"rule": "self.size() > 1", "message": "  "}, {"rule": "x", "message": "two\nlines"}, {"rule": "a ||\n b"}]}),
            ),
        ),
        (
            "nullable set items and map keys",
            spec(json!({"type": "object", "properties": {
            "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string", "nullable": true}},
            "m": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"], "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string", "nullable": true}}}}}})),
        ),
        (
            "unsupported keywords",
            spec(
                json!({"type": "null", "$ref": "#/x", "id": "i", "items": [{"type": "string"}], "patternProperties": {"a": {}}}),
            ),
        ),
        (
            "defaults are checked only for sound schemas",
            spec(
                json!({"type": "object", "properties": {"r": {"type": "integer", "default": "one"}, "bad": {}}}),
            ),
        ),
    ];
    check_schema(
        &cases,
        expect![[r#"
            ok: ok
            field without type: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[foo].type: Required value: must not be empty for specified object fields
            item without type: spec.versions[0].schema.openAPIV3Schema.properties[spec].items.type: Required value: must not be empty for specified array items
            root without type: spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at the root
            root not object: spec.versions[0].schema.openAPIV3Schema.type: Invalid value: "string": must be object at the root
            unknown type: spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Unsupported value: "map": supported values: "array", "boolean", "integer", "number", "object", "string"
            array without items: spec.versions[0].schema.openAPIV3Schema.properties[spec].items: Required value: must be specified
            preserve or int-or-string need no type: ok
            additionalProperties with properties: spec.versions[0].schema.openAPIV3Schema.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive
            additionalProperties false: ok
            metadata restricted: spec.versions[0].schema.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified
            preserve false: spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined
            uniqueItems: spec.versions[0].schema.openAPIV3Schema.properties[spec].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic
            bad pattern: spec.versions[0].schema.openAPIV3Schema.properties[spec].pattern: Invalid value: "(": must be a valid regular expression, but isn't: regex parse error:
                (
                ^
            error: unclosed group
            value validation with skeleton keywords: spec.versions[0].schema.openAPIV3Schema.properties[spec].anyOf[0].description: Forbidden: must be empty to be structural
                spec.versions[0].schema.openAPIV3Schema.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural
                spec.versions[0].schema.openAPIV3Schema.properties[spec].not.nullable: Forbidden: must be false to be structural
            embedded not object: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields
                spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must be object if x-kubernetes-embedded-resource is true
            embedded without properties: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields
            list-type bad: spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-type: Unsupported value: "bag": supported values: "atomic", "set", "map"
            list-type map without keys: spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map
            list-map keys: spec.versions[0].schema.openAPIV3Schema.properties[spec].items.properties[sub].type: Invalid value: "object": must be a scalar type if parent array's x-kubernetes-list-type is map
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-map-keys: Invalid value: ["name","sub","missing","name"]: entries must all be names of item properties
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-map-keys: Invalid value: ["name","sub","missing","name"]: must not contain duplicate entries
                spec.versions[0].schema.openAPIV3Schema.properties[spec].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property
                spec.versions[0].schema.openAPIV3Schema.properties[spec].items.properties[sub].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property
                spec.versions[0].schema.openAPIV3Schema.properties[spec].items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property
            list-map keys ok: ok
            map keys without map: spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty
            set of objects: spec.versions[0].schema.openAPIV3Schema.properties[spec].items.x-kubernetes-map-type: Invalid value: "null": must be atomic as item of a list with x-kubernetes-list-type=set
            map-type: spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Invalid value: "string": must be object if x-kubernetes-map-type is specified
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-map-type: Unsupported value: "deep": supported values: "atomic", "granular"
            default wrong type: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[r].default: Invalid value: "string":  in body must be of type integer: "string"
            default too big: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[r].default: Invalid value: 5:  in body should be less than or equal to 3
            default unknown fields: spec.versions[0].schema.openAPIV3Schema.properties[spec].default: Invalid value: {"a":1,"zz":2}: must not have unknown fields
            default ok: ok
            default in top-level metadata: spec.versions[0].schema.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata
            additionalProperties at the root: spec.versions[0].schema.openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root
            embedded with additionalProperties: spec.versions[0].schema.openAPIV3Schema.properties[spec].additionalProperties: Forbidden: must not be used if x-kubernetes-embedded-resource is set
            kind must be a string: spec.versions[0].schema.openAPIV3Schema.properties[kind].type: Invalid value: "integer": must be string
            metadata in a value validation: spec.versions[0].schema.openAPIV3Schema.properties[spec].allOf[0].properties[metadata]: Forbidden: must not be specified in a nested context
            value validation names unknown properties: spec.versions[0].schema.openAPIV3Schema.properties[nope]: Required value: because it is defined in spec.versions[0].schema.openAPIV3Schema.anyOf[1].properties[nope]
                spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x]: Required value: because it is defined in spec.versions[0].schema.openAPIV3Schema.anyOf[0].properties[spec].properties[x]
            int-or-string allOf pattern: ok
            rule shapes: spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Required value: rule is not specified
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[1].message: Invalid value: "  ": message must be non-empty if specified
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[2].message: Invalid value: "two\nlines": message must not contain line breaks
                spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[3].message: Required value: message must be specified if rule contains line breaks
            nullable set items and map keys: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[s].items.nullable: Forbidden: cannot be nullable when x-kubernetes-list-type is set
                spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[m].items.properties[k].nullable: Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable
            unsupported keywords: spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Forbidden: type cannot be set to null, use nullable as an alternative
                spec.versions[0].schema.openAPIV3Schema.properties[spec].id: Forbidden: id is not supported
                spec.versions[0].schema.openAPIV3Schema.properties[spec].patternProperties: Forbidden: patternProperties is not supported
                spec.versions[0].schema.openAPIV3Schema.properties[spec].$ref: Forbidden: $ref is not supported
                spec.versions[0].schema.openAPIV3Schema.properties[spec].items: Forbidden: items must be a schema object and not an array
            defaults are checked only for sound schemas: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[bad].type: Required value: must not be empty for specified object fields
        "#]],
    );
}

#[test]
fn formats() {
    let cases: &[(&str, &[&str])] = &[
        (
            "date-time",
            &[
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00.5+01:00",
                "2024-01-01 10:00",
                "2024-01-01",
                "noon",
            ],
        ),
        ("date", &["2024-02-29", "2023-02-29", "2024-1-1"]),
        (
            "duration",
            &["1h30m", "-1.5s", "0", "3 days", "10 seconds", "5", "1x"],
        ),
        (
            "uuid",
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "123E4567E89B12D3A456426614174000",
                "nope",
            ],
        ),
        (
            "uuid4",
            &[
                "123e4567-e89b-42d3-a456-426614174000",
                "123e4567-e89b-12d3-a456-426614174000",
            ],
        ),
        ("ipv4", &["10.0.0.1", "10.0.0.256"]),
        ("ipv6", &["::1", "1::2::3"]),
        ("cidr", &["10.0.0.0/8", "::/0", "10.0.0.0/33", "10.0.0.0"]),
        (
            "mac",
            &[
                "00:1a:2b:3c:4d:5e",
                "00-1A-2B-3C-4D-5E",
                "001a.2b3c.4d5e",
                "00:1a",
            ],
        ),
        ("byte", &["aGVsbG8=", "not base64!"]),
        ("hostname", &["example.com", "-bad.com", "a_b"]),
        (
            "uri",
            &["https://example.com/x", "/abs/path", "relative/path"],
        ),
        ("email", &["a@b.c", "Name <a@b.c>", "nope"]),
        ("hexcolor", &["#fff", "A0B1C2", "#ggg"]),
        ("rgbcolor", &["rgb(255, 0, 10)", "rgb(256,0,0)"]),
        ("isbn", &["0321751043", "978-0321751041", "0321751044"]),
        ("creditcard", &["4111 1111 1111 1111", "1234"]),
        ("ssn", &["123-45-6789", "12-345-6789"]),
        ("password", &["anything"]),
        ("unknown-format", &["anything"]),
    ];
    let mut out = String::new();
    for (fmt, values) in cases {
        let verdicts: Vec<String> = values
            .iter()
            .map(|v| {
                format!(
                    "{v:?}={}",
                    if format::is_valid(fmt, v) {
                        "ok"
                    } else {
                        "bad"
                    }
                )
            })
            .collect();
        out.push_str(&format!("{fmt}: {}\n", verdicts.join(" ")));
    }
    expect![[r##"
        date-time: "2024-01-01T00:00:00Z"=ok "2024-01-01T00:00:00.5+01:00"=ok "2024-01-01 10:00"=ok "2024-01-01"=bad "noon"=bad
        date: "2024-02-29"=ok "2023-02-29"=bad "2024-1-1"=bad
        duration: "1h30m"=ok "-1.5s"=ok "0"=ok "3 days"=ok "10 seconds"=ok "5"=bad "1x"=bad
        uuid: "123e4567-e89b-12d3-a456-426614174000"=ok "123E4567E89B12D3A456426614174000"=ok "nope"=bad
        uuid4: "123e4567-e89b-42d3-a456-426614174000"=ok "123e4567-e89b-12d3-a456-426614174000"=bad
        ipv4: "10.0.0.1"=ok "10.0.0.256"=bad
        ipv6: "::1"=ok "1::2::3"=bad
        cidr: "10.0.0.0/8"=ok "::/0"=ok "10.0.0.0/33"=bad "10.0.0.0"=bad
        mac: "00:1a:2b:3c:4d:5e"=ok "00-1A-2B-3C-4D-5E"=ok "001a.2b3c.4d5e"=ok "00:1a"=bad
        byte: "aGVsbG8="=ok "not base64!"=bad
        hostname: "example.com"=ok "-bad.com"=bad "a_b"=bad
        uri: "https://example.com/x"=ok "/abs/path"=ok "relative/path"=bad
        email: "a@b.c"=ok "Name <a@b.c>"=ok "nope"=bad
        hexcolor: "#fff"=ok "A0B1C2"=ok "#ggg"=bad
        rgbcolor: "rgb(255, 0, 10)"=ok "rgb(256,0,0)"=bad
        isbn: "0321751043"=ok "978-0321751041"=ok "0321751044"=bad
        creditcard: "4111 1111 1111 1111"=ok "1234"=bad
        ssn: "123-45-6789"=ok "12-345-6789"=bad
        password: "anything"=ok
        unknown-format: "anything"=ok
    "##]]
    .assert_eq(&out);
}
