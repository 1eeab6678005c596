//! The stored form of an object: JSON without `metadata.resourceVersion` (the store's
//! revision is the version). Every write encodes an object into it and every event of the
//! watch cache decodes one out of it, so these avoid whole-object copies and the
//! parse-then-reserialize round trip where the bytes can be used as they are.

use std::borrow::Cow;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

const RESOURCE_VERSION: &str = "resourceVersion";

/// `obj` as stored: `metadata.resourceVersion` left out and, where the resource keeps
/// another storage version, `apiVersion` replaced by it.
pub fn encode(obj: &Value, storage_api_version: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&Stored {
        obj,
        storage_api_version,
    })
    .unwrap_or_default()
}

struct Stored<'a> {
    obj: &'a Value,
    storage_api_version: Option<&'a str>,
}

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(top) = self.obj.as_object() else {
            return self.obj.serialize(s);
        };
        let mut map = s.serialize_map(Some(top.len()))?;
        let mut wrote_api_version = false;
        for (k, v) in top {
            match (k.as_str(), v) {
                ("apiVersion", _) if self.storage_api_version.is_some() => {
                    map.serialize_entry(k, &self.storage_api_version)?;
                    wrote_api_version = true;
                }
                ("metadata", Value::Object(meta)) => {
                    map.serialize_entry(k, &WithoutResourceVersion(meta))?
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        if let (false, Some(api_version)) = (wrote_api_version, self.storage_api_version) {
            map.serialize_entry("apiVersion", api_version)?;
        }
        map.end()
    }
}

struct WithoutResourceVersion<'a>(&'a Map<String, Value>);

impl Serialize for WithoutResourceVersion<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| *k != RESOURCE_VERSION) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A stored object as served, with its `metadata.resourceVersion` set to `rev`.
pub struct Served {
    pub json: Vec<u8>,
    pub api_version: String,
    pub labels: Map<String, Value>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", default, borrow)]
    api_version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MetaHead<'a> {
    #[serde(default)]
    labels: Option<Map<String, Value>>,
    #[serde(rename = "resourceVersion", default, borrow)]
    resource_version: Option<&'a RawValue>,
}

/// `raw` as served at `rev`: the revision becomes the last field of `metadata`, where
/// parsing and re-serializing would have put it. Objects as skiff stores them take the
/// fast path, which splices it into the bytes; anything else (a stored version, odd
/// shapes) takes the general one.
pub fn serve(raw: &[u8], rev: i64) -> Option<Served> {
    spliced(raw, rev).or_else(|| reserialized(raw, rev))
}

fn spliced(raw: &[u8], rev: i64) -> Option<Served> {
    if raw.first() != Some(&b'{') {
        return None;
    }
    let head: Head = serde_json::from_slice(raw).ok()?;
    let text = head
        .metadata
        .map(RawValue::get)
        .filter(|m| m.starts_with('{'))?;
    let meta_head: MetaHead = serde_json::from_str(text).ok()?;
    if meta_head.resource_version.is_some() {
        return None;
    }
    let start = (text.as_ptr() as usize).checked_sub(raw.as_ptr() as usize)?;
    let close = start + text.len() - 1;
    if raw.get(start) != Some(&b'{') || raw.get(close) != Some(&b'}') {
        return None;
    }
    let empty = text[1..text.len() - 1].trim().is_empty();
    let mut json = Vec::with_capacity(raw.len() + 40);
    json.extend_from_slice(&raw[..close]);
    if !empty {
        json.push(b',');
    }
    json.extend_from_slice(b"\"resourceVersion\":\"");
    json.extend_from_slice(rev.to_string().as_bytes());
    json.extend_from_slice(b"\"");
    json.extend_from_slice(&raw[close..]);
    Some(Served {
        json,
        api_version: head.api_version.unwrap_or_default().into_owned(),
        labels: meta_head.labels.unwrap_or_default(),
    })
}

fn reserialized(raw: &[u8], rev: i64) -> Option<Served> {
    let v = decode(raw, rev)?;
    let labels = v
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let api_version = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some(Served {
        json: serde_json::to_vec(&v).ok()?,
        api_version,
        labels,
    })
}

/// `raw` parsed, with its `metadata.resourceVersion` set to `rev`.
pub fn decode(raw: &[u8], rev: i64) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(raw).ok()?;
    crate::watch_cache::set_resource_version(&mut v, rev);
    Some(v)
}

/// Whether `a` and `b` are the same object but for `metadata.resourceVersion`.
pub fn same_but_resource_version(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().all(|(k, v)| match (k.as_str(), v, b.get(k)) {
            (_, _, None) => false,
            ("metadata", Value::Object(m), Some(Value::Object(n))) => same_meta(m, n),
            (_, v, Some(w)) => v == w,
        })
}

fn same_meta(m: &Map<String, Value>, n: &Map<String, Value>) -> bool {
    let others = |x: &Map<String, Value>| x.len() - usize::from(x.contains_key(RESOURCE_VERSION));
    others(m) == others(n)
        && m.iter()
            .filter(|(k, _)| *k != RESOURCE_VERSION)
            .all(|(k, v)| n.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What parsing, setting the version and re-serializing gives: the reference.
    fn slow(raw: &[u8], rev: i64) -> Vec<u8> {
        serde_json::to_vec(&decode(raw, rev).unwrap()).unwrap()
    }

    #[test]
    fn serve_matches_the_parse_and_serialize_round_trip() {
        let cases = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": {"k": "v"}}),
            json!({"kind": "Namespace", "metadata": {"name": "n"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "esc\"aped}", "annotations": {"a": "{}\\"}}, "data": {"metadata": "{\"x\":1}"}}),
            json!({"apiVersion": "v1", "data": {"metadata": {"n": 1}}, "metadata": {"name": "late"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "already", "resourceVersion": "5"}}),
            json!({"apiVersion": 1, "metadata": {"name": "odd", "labels": "not-a-map"}}),
            json!({"apiVersion": "v1", "metadata": null}),
        ];
        for obj in cases {
            let raw = serde_json::to_vec(&obj).unwrap();
            let served = serve(&raw, 42).unwrap();
            assert_eq!(
                String::from_utf8(served.json).unwrap(),
                String::from_utf8(slow(&raw, 42)).unwrap(),
                "{obj}"
            );
            assert_eq!(
                served.api_version,
                obj["apiVersion"].as_str().unwrap_or(""),
                "{obj}"
            );
            assert_eq!(
                Value::Object(served.labels),
                obj["metadata"]["labels"]
                    .clone()
                    .as_object()
                    .cloned()
                    .map_or(json!({}), Value::Object)
            );
        }
    }

    #[test]
    fn serve_refuses_what_is_not_json() {
        assert!(serve(b"{\"metadata\":{", 3).is_none());
        assert!(serve(b"{\"metadata\":{}} trailing", 3).is_none());
    }

    #[test]
    fn encode_leaves_out_the_version_and_applies_the_storage_version() {
        let obj = json!({"apiVersion": "example.com/v2", "kind": "W", "metadata": {"name": "a", "resourceVersion": "9", "uid": "u"}, "spec": {"x": 1}});
        let cases: [(Option<&str>, &str); 2] = [
            (
                None,
                r#"{"apiVersion":"example.com/v2","kind":"W","metadata":{"name":"a","uid":"u"},"spec":{"x":1}}"#,
            ),
            (
                Some("example.com/v1"),
                r#"{"apiVersion":"example.com/v1","kind":"W","metadata":{"name":"a","uid":"u"},"spec":{"x":1}}"#,
            ),
        ];
        for (storage, want) in cases {
            assert_eq!(String::from_utf8(encode(&obj, storage)).unwrap(), want);
        }
        let no_api_version = json!({"kind": "W", "metadata": {"name": "a"}});
        assert_eq!(
            String::from_utf8(encode(&no_api_version, Some("example.com/v1"))).unwrap(),
            r#"{"kind":"W","metadata":{"name":"a"},"apiVersion":"example.com/v1"}"#
        );
    }

    #[test]
    fn sameness_ignores_only_the_resource_version() {
        let base = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"x": 1}});
        let cases = [
            (
                json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": {"x": 1}}),
                true,
            ),
            (json!({"metadata": {"name": "a"}, "spec": {"x": 1}}), true),
            (
                json!({"spec": {"x": 1}, "metadata": {"resourceVersion": "7", "name": "a"}}),
                true,
            ),
            (
                json!({"metadata": {"name": "b", "resourceVersion": "1"}, "spec": {"x": 1}}),
                false,
            ),
            (
                json!({"metadata": {"name": "a", "resourceVersion": "1", "uid": "u"}, "spec": {"x": 1}}),
                false,
            ),
            (
                json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"x": 2}}),
                false,
            ),
            (
                json!({"metadata": {"name": "a", "resourceVersion": "1"}}),
                false,
            ),
        ];
        for (other, want) in cases {
            assert_eq!(same_but_resource_version(&base, &other), want, "{other}");
            assert_eq!(same_but_resource_version(&other, &base), want, "{other}");
        }
    }
}
