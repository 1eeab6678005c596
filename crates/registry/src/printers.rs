//! Server-side Table printing: one module per resource under `printers/`.

use serde_json::Value;

/// One column of a `meta.k8s.io/v1` Table (`columnDefinitions[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: "string", "integer", "number", "boolean", "date".
    pub type_: &'static str,
    /// OpenAPI format, "name" for the NAME column, else usually "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: i32,
}

/// How one resource prints: its columns and a function from object (and now, as Unix
/// seconds, for ages) to cells, one per column, in order.
pub struct Printer {
    pub columns: &'static [Column],
    pub row: fn(obj: &Value, now: i64) -> Vec<Value>,
}

/// The printer of a resource (`group` "" for core), or `None` for the default
/// NAME/CREATED AT... columns the apiserver adds itself.
pub fn for_resource(_group: &str, _plural: &str) -> Option<&'static Printer> {
    None
}
