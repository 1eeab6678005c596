//! `additionalPrinterColumns`: the Table a custom resource prints as.

use serde_json::{json, Value};

use super::jsonpath::JsonPath;
use crate::printers::{human_duration, parse_timestamp};

/// Upstream's description of `metadata.creationTimestamp` (the default Age column's).
const CREATION_TIMESTAMP_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const NAME_DESC: &str = "Name must be unique within a namespace. It is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// One declared column.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// integer, number, string, boolean or date.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
    /// `None` when the path does not parse (validation refuses such CRDs); prints empty.
    pub path: Option<JsonPath>,
}

/// The columns of one CRD version: its own, or upstream's default lone Age column.
pub(super) fn for_version(version: &Value) -> Vec<PrinterColumn> {
    let declared: Vec<PrinterColumn> = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let json_path = s("jsonPath");
            PrinterColumn {
                name: s("name"),
                type_: s("type"),
                format: s("format"),
                description: s("description"),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                path: JsonPath::parse(&json_path).ok(),
                json_path,
            }
        })
        .collect();
    if !declared.is_empty() {
        return declared;
    }
    let json_path = ".metadata.creationTimestamp".to_string();
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: CREATION_TIMESTAMP_DESC.into(),
        priority: 0,
        path: JsonPath::parse(&json_path).ok(),
        json_path,
    }]
}

/// `columnDefinitions` of the Table: Name first, as upstream's convertor puts it.
pub fn definitions(columns: &[PrinterColumn]) -> Value {
    let mut out = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0}),
    ];
    out.extend(columns.iter().map(|c| {
        json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
    }));
    Value::Array(out)
}

/// One row's cells: the name, then each column's first value (`null` when the path finds
/// nothing). Strings print as text; dates as an age, as `kubectl get` shows them.
pub fn cells(columns: &[PrinterColumn], obj: &Value, now: i64) -> Vec<Value> {
    let mut out = vec![obj
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::String(String::new()))];
    for c in columns {
        let found = c.path.as_ref().and_then(|p| p.find(obj).into_iter().next());
        let cell = match found {
            None | Some(Value::Null) => Value::Null,
            Some(v) => match c.type_.as_str() {
                "string" => Value::String(text(v)),
                "date" => match v.as_str().and_then(parse_timestamp) {
                    Some(t) => Value::String(human_duration(now - t)),
                    None => v.clone(),
                },
                _ => v.clone(),
            },
        };
        out.push(cell);
    }
    out
}

/// A value as kubectl's JSONPath printer writes it: strings bare, the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
