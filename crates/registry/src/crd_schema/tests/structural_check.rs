//! The structural check of a CRD version's schema.

use super::*;
use expect_test::{expect, Expect};
use serde_json::{json, Value};

use apimachinery::field::Path;
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
