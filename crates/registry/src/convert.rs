//! Conversion between the API versions of resources that two versions serve over one storage,
//! as upstream's conversion functions behave:
//!
//! - `horizontalpodautoscalers`: `autoscaling/v2` ↔ `autoscaling/v1`
//!   (`pkg/apis/autoscaling/v1/conversion.go`); what v1 cannot express travels in
//!   `autoscaling.alpha.kubernetes.io/*` annotations, see [`hpa`].
//! - `events`: core `v1` ↔ `events.k8s.io/v1` (`pkg/apis/events/v1/conversion.go`), a
//!   field-for-field renaming, see [`event`].
//!
//! skiff stores an object in the version it was written in and converts on read, so each
//! direction is one pure function over camelCase JSON as served. Lists of those kinds convert
//! item by item.
//!
//! **Architecture Invariant:** pure code, no IO; absent fields stay absent (the shapes match
//! what the k8s-openapi round trip in [`crate::ResourceInfo::decode`] produces).

mod event;
mod hpa;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

/// Why an object could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("object to convert is not a JSON object")]
    NotAnObject,
    #[error("object to convert has no apiVersion")]
    MissingApiVersion,
    #[error("object to convert has no kind")]
    MissingKind,
    #[error("converting {kind} from {from} to {to}: unknown conversion")]
    Unsupported {
        kind: String,
        from: String,
        to: String,
    },
}

/// Converts `obj` (which names its own `apiVersion` and `kind`) to `to_api_version`.
///
/// An object already in `to_api_version` comes back unchanged. A `...List` of a convertible
/// kind converts each item (items without their own `apiVersion` stay without).
pub fn convert(obj: Value, to_api_version: &str) -> Result<Value, ConvertError> {
    let Value::Object(map) = &obj else {
        return Err(ConvertError::NotAnObject);
    };
    let from = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(ConvertError::MissingApiVersion)?
        .to_string();
    if from == to_api_version {
        return Ok(obj);
    }
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(ConvertError::MissingKind)?
        .to_string();
    match kind.strip_suffix("List") {
        Some(item_kind) if converter(item_kind, &from, to_api_version).is_some() => {
            convert_list(obj, item_kind, &from, to_api_version)
        }
        _ => {
            let f = converter(&kind, &from, to_api_version).ok_or_else(|| {
                ConvertError::Unsupported {
                    kind: kind.clone(),
                    from: from.clone(),
                    to: to_api_version.to_string(),
                }
            })?;
            Ok(f(obj))
        }
    }
}

/// Whether an object stored as `stored_api_version` must go through [`convert`] to be served
/// as `wanted_api_version`.
pub fn needs_conversion(stored_api_version: &str, wanted_api_version: &str) -> bool {
    stored_api_version != wanted_api_version
}

type Converter = fn(Value) -> Value;

fn converter(kind: &str, from: &str, to: &str) -> Option<Converter> {
    match (kind, from, to) {
        ("HorizontalPodAutoscaler", hpa::V2, hpa::V1) => Some(hpa::v2_to_v1),
        ("HorizontalPodAutoscaler", hpa::V1, hpa::V2) => Some(hpa::v1_to_v2),
        ("Event", event::CORE, event::EVENTS) => Some(event::core_to_events),
        ("Event", event::EVENTS, event::CORE) => Some(event::events_to_core),
        _ => None,
    }
}

fn convert_list(
    mut list: Value,
    item_kind: &str,
    from: &str,
    to: &str,
) -> Result<Value, ConvertError> {
    let Some(map) = list.as_object_mut() else {
        return Err(ConvertError::NotAnObject);
    };
    map.insert("apiVersion".into(), Value::String(to.to_string()));
    if let Some(Value::Array(items)) = map.get_mut("items") {
        for item in items.iter_mut() {
            let mut typed = std::mem::take(item);
            let bare = typed.get("apiVersion").is_none();
            if let Some(m) = typed.as_object_mut() {
                m.insert("apiVersion".into(), Value::String(from.to_string()));
                m.insert("kind".into(), Value::String(item_kind.to_string()));
            }
            let mut converted = convert(typed, to)?;
            if bare {
                if let Some(m) = converted.as_object_mut() {
                    m.shift_remove("apiVersion");
                    m.shift_remove("kind");
                }
            }
            *item = converted;
        }
    }
    Ok(list)
}

/// `obj[key]` when present and not null.
fn get<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// `obj[key]` matched as Go's `encoding/json` matches a struct field: exactly, else ignoring
/// ASCII case. Used where we read JSON that Go wrote (the round-trip annotations).
fn get_go<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.get(key)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// Copies `src[from]` to `out[to]` when present.
fn copy(out: &mut Map<String, Value>, to: &str, src: &Value, from: &str) {
    if let Some(v) = get(src, from) {
        out.insert(to.to_string(), v.clone());
    }
}

/// JSON text as Go's `json.Marshal` writes it: compact, with `<`, `>`, `&`, U+2028 and U+2029
/// escaped. Those characters can only occur inside strings, so replacing them in the text is
/// exact.
fn go_marshal(v: &Value) -> String {
    let text = v.to_string();
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
