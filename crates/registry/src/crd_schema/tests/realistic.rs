//! A schema as controller-gen writes them (conditions, int-or-string, quantities, label
//! selectors, embedded templates, descriptions everywhere) must pass the structural check,
//! and a well-formed object of it must prune, default and validate cleanly.

use super::*;
use apimachinery::field::Path;
use expect_test::expect;
use serde_json::json;

fn widget_schema() -> Value {
    let condition = json!({
        "description": "Condition contains details for one aspect of the current state.",
        "type": "object",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"description": "Last time the condition transitioned.", "type": "string", "format": "date-time"},
            "message": {"type": "string", "maxLength": 32768},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "reason": {"type": "string", "maxLength": 1024, "minLength": 1, "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": {"type": "string", "maxLength": 316,
                "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"}
        }
    });
    let quantity = json!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
        "x-kubernetes-int-or-string": true
    });
    json!({
        "description": "Widget is the Schema for the widgets API.",
        "type": "object",
        "properties": {
            "apiVersion": {"description": "APIVersion defines the versioned schema.", "type": "string"},
            "kind": {"description": "Kind is a string value.", "type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "description": "WidgetSpec defines the desired state of Widget.",
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10, "default": 1},
                    "maxUnavailable": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
                    "resources": {"type": "object", "additionalProperties": quantity},
                    "selector": {
                        "type": "object",
                        "x-kubernetes-map-type": "atomic",
                        "properties": {
                            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "matchExpressions": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {
                                "type": "object", "required": ["key", "operator"],
                                "properties": {"key": {"type": "string"}, "operator": {"type": "string"},
                                    "values": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"}}}}
                        }
                    },
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 8},
                    "mode": {"type": "string", "enum": ["Fast", "Slow"], "default": "Fast"},
                    "note": {"type": "string", "nullable": true}
                },
                "x-kubernetes-validations": [{"rule": "self.size <= 10", "message": "size is too big"}]
            },
            "status": {
                "type": "object",
                "properties": {
                    "conditions": {"type": "array", "items": condition,
                        "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"},
                    "replicas": {"type": "integer", "format": "int32"}
                }
            }
        }
    })
}

#[test]
fn controller_gen_schema_round_trip() {
    let schema = widget_schema();
    let path = Path::new("spec")
        .child("versions")
        .index(0)
        .child("schema")
        .child("openAPIV3Schema");
    let s = Structural::from_openapi(&schema);
    let mut obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {
            "maxUnavailable": "25%",
            "resources": {"cpu": "500m", "memory": 1024},
            "selector": {"matchLabels": {"app": "w"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "w"}}, "spec": {"containers": []}},
            "config": {"anything": {"goes": [1, 2]}},
            "tags": ["a", "b"],
            "note": null
        },
        "status": {"replicas": 1, "conditions": [{"type": "Ready", "status": "True", "reason": "Up", "message": "",
            "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 1}]}
    });
    let removed = s.prune(&mut obj);
    s.apply_defaults(&mut obj);
    let errors: Vec<String> = s
        .validate(&obj, None, &NoRules)
        .iter()
        .map(|e| e.message())
        .collect();
    let out = format!(
        "structural: {:?}\nremoved: {removed:?}\nerrors: {errors:?}\nspec: {}\n",
        check_structural(&schema, &path)
            .iter()
            .map(|e| e.message())
            .collect::<Vec<_>>(),
        obj["spec"],
    );
    expect![[r#"
        structural: []
        removed: []
        errors: []
        spec: {"maxUnavailable":"25%","resources":{"cpu":"500m","memory":1024},"selector":{"matchLabels":{"app":"w"},"matchExpressions":[{"key":"tier","operator":"In","values":["a"]}]},"template":{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"w"}},"spec":{"containers":[]}},"config":{"anything":{"goes":[1,2]}},"tags":["a","b"],"note":null,"size":1,"mode":"Fast"}
    "#]]
    .assert_eq(&out);
}
