//! JSON in, JSON out: the only value shapes Kubernetes objects have.

use crate::CelError;
use cel_interp::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString,
};
use cel_interp::common::value::Val;
use cel_interp::objects::Key;
use cel_interp::Value;
use std::collections::HashMap;

/// A JSON value as a CEL value that borrows its strings from `json`, so binding a large
/// object copies no text. Integers become `int`, other numbers `double`, objects maps
/// with string keys.
pub(crate) fn to_val(json: &serde_json::Value) -> Box<dyn Val + '_> {
    match json {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Box::new(CelInt::from(i)),
            // Without serde_json's arbitrary_precision every number is an f64 at worst;
            // NaN keeps the match total without a panic path.
            None => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => Box::new(CelString::from(s.as_str())),
        serde_json::Value::Array(items) => {
            Box::new(CelList::from(items.iter().map(to_val).collect::<Vec<_>>()))
        }
        serde_json::Value::Object(fields) => Box::new(CelMap::from(
            fields
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}

/// A CEL result as JSON. Map keys become strings (JSON has no other) and are sorted,
/// because CEL maps are unordered and callers compare or print the result.
pub(crate) fn to_json(value: &Value) -> Result<serde_json::Value, CelError> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| CelError::NotJson(format!("double {f}")))?,
        Value::String(s) => serde_json::Value::String(s.as_str().to_owned()),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => serde_json::Value::String(s.to_owned()),
            Err(_) => return Err(CelError::NotJson("bytes that are not UTF-8".into())),
        },
        Value::List(items) => {
            serde_json::Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Map(map) => {
            let mut entries = map
                .map
                .iter()
                .map(|(k, v)| Ok((key_string(k), to_json(v)?)))
                .collect::<Result<Vec<_>, CelError>>()?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().collect())
        }
        other => return Err(CelError::NotJson(other.type_of().to_string())),
    })
}

fn key_string(key: &Key) -> String {
    match key {
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
        Key::String(s) => s.as_str().to_owned(),
    }
}
