//! Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.

use registry::printers::{self, Column};
use registry::{crd_serving, ResourceInfo, Strategy};
use serde_json::{json, Value};

const DEFAULT_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: "Name must be unique within a namespace. It is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", priority: 0 },
    Column { name: "Created At", type_: "date", format: "", description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.", priority: 0 },
];

/// Whether the client asked for a Table.
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let p = part.replace(' ', "");
            p.contains("as=Table") && p.contains("g=meta.k8s.io")
        })
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn columns(info: &ResourceInfo) -> &'static [Column] {
    printers::for_resource(info.group, info.plural)
        .map(|p| p.columns)
        .unwrap_or(DEFAULT_COLUMNS)
}

pub fn column_definitions(info: &ResourceInfo, strategy: &dyn Strategy) -> Value {
    if let Some(custom) = strategy.printer_columns() {
        return crd_serving::column_definitions(custom);
    }
    Value::Array(
        columns(info)
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
            .collect(),
    )
}

pub fn row(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    obj: &Value,
    include: IncludeObject,
    now: i64,
) -> Value {
    let cells = match (
        strategy.printer_columns(),
        printers::for_resource(info.group, info.plural),
    ) {
        (Some(custom), _) => crd_serving::cells(custom, obj, now),
        (None, Some(p)) => (p.row)(obj, now),
        (None, None) => vec![
            obj.pointer("/metadata/name")
                .cloned()
                .unwrap_or(Value::String(String::new())),
            obj.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(Value::Null),
        ],
    };
    let mut r = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => r["object"] = obj.clone(),
        IncludeObject::Metadata => {
            r["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
            })
        }
    }
    r
}

pub fn table(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    objs: &[Value],
    include: IncludeObject,
    list_meta: Value,
    with_columns: bool,
) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "rows": objs.iter().map(|o| row(info, strategy, o, include, now)).collect::<Vec<_>>(),
    });
    if with_columns {
        t["columnDefinitions"] = column_definitions(info, strategy);
    }
    t
}
