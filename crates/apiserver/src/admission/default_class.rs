//! The default of a class-like kind (StorageClass, IngressClass): the class annotated
//! `<annotation>: "true"`; with several, the newest wins, then the name, for a stable
//! choice (upstream since 1.26).

use serde_json::Value;

fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{key}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The name of the newest class carrying any of `annotations` set to "true".
pub fn newest_default<'a>(classes: &'a [Value], annotations: &[&str]) -> Option<&'a str> {
    let is_default = |class: &Value| {
        let set = class.pointer("/metadata/annotations");
        annotations.iter().any(|k| {
            set.and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .is_some_and(|v| v == "true")
        })
    };
    classes
        .iter()
        .filter(|c| is_default(c))
        // RFC 3339 timestamps in UTC compare as strings.
        .max_by(|a, b| {
            (meta_str(a, "creationTimestamp"), meta_str(b, "name"))
                .cmp(&(meta_str(b, "creationTimestamp"), meta_str(a, "name")))
        })
        .map(|c| meta_str(c, "name"))
}
