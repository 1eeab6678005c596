//! `openAPIV3Schema` JSON into a [`Structural`] tree. Lenient on purpose: a keyword of the
//! wrong JSON type is ignored, since the structural check rejects such schemas when the CRD
//! is written and a stored CRD must still be servable.

use super::{AdditionalProperties, Pattern, Structural, ValidationRule};
use serde_json::{Map, Value};

pub(super) fn parse(schema: &Value) -> Structural {
    let Some(m) = schema.as_object() else {
        return Structural::default();
    };
    Structural {
        type_: string(m, "type"),
        format: string(m, "format"),
        properties: m
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.iter().map(|(k, v)| (k.clone(), parse(v))).collect())
            .unwrap_or_default(),
        items: m
            .get("items")
            .filter(|v| v.is_object())
            .map(|v| Box::new(parse(v))),
        additional_properties: match m.get("additionalProperties") {
            Some(Value::Bool(b)) => Some(AdditionalProperties::Allows(*b)),
            Some(v @ Value::Object(_)) => Some(AdditionalProperties::Schema(Box::new(parse(v)))),
            _ => None,
        },
        required: m
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        enum_: m.get("enum").and_then(Value::as_array).cloned(),
        nullable: flag(m, "nullable"),
        default: m.get("default").filter(|v| !v.is_null()).cloned(),
        pattern: m.get("pattern").and_then(Value::as_str).map(|p| Pattern {
            source: p.to_string(),
            re: regex::Regex::new(p).ok(),
        }),
        maximum: m.get("maximum").and_then(Value::as_f64),
        exclusive_maximum: flag(m, "exclusiveMaximum"),
        minimum: m.get("minimum").and_then(Value::as_f64),
        exclusive_minimum: flag(m, "exclusiveMinimum"),
        multiple_of: m.get("multipleOf").and_then(Value::as_f64),
        min_length: count(m, "minLength"),
        max_length: count(m, "maxLength"),
        min_items: count(m, "minItems"),
        max_items: count(m, "maxItems"),
        unique_items: flag(m, "uniqueItems"),
        min_properties: count(m, "minProperties"),
        max_properties: count(m, "maxProperties"),
        all_of: list(m, "allOf"),
        any_of: list(m, "anyOf"),
        one_of: list(m, "oneOf"),
        not: m
            .get("not")
            .filter(|v| v.is_object())
            .map(|v| Box::new(parse(v))),
        preserve_unknown_fields: flag(m, "x-kubernetes-preserve-unknown-fields"),
        int_or_string: flag(m, "x-kubernetes-int-or-string"),
        embedded_resource: flag(m, "x-kubernetes-embedded-resource"),
        list_type: m
            .get("x-kubernetes-list-type")
            .and_then(Value::as_str)
            .map(String::from),
        list_map_keys: m
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        map_type: m
            .get("x-kubernetes-map-type")
            .and_then(Value::as_str)
            .map(String::from),
        validations: m
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(rule).collect())
            .unwrap_or_default(),
    }
}

fn rule(v: &Value) -> Option<ValidationRule> {
    let m = v.as_object()?;
    Some(ValidationRule {
        rule: string(m, "rule"),
        message: string(m, "message"),
        message_expression: string(m, "messageExpression"),
        reason: string(m, "reason"),
        field_path: string(m, "fieldPath"),
        optional_old_self: flag(m, "optionalOldSelf"),
    })
}

fn string(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn flag(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// A non-negative count; JSON like `5.0` is accepted as 5, as Go's decoder would.
fn count(m: &Map<String, Value>, k: &str) -> Option<u64> {
    let v = m.get(k)?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

fn list(m: &Map<String, Value>, k: &str) -> Vec<Structural> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(parse).collect())
        .unwrap_or_default()
}
