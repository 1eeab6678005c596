//! The wire schema of the built-in kinds, generated into `schema.txt` by
//! scripts/gen-protobuf-schema.py and parsed once on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

const SCHEMA: &str = include_str!("schema.txt");

/// A protobuf scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Double,
    Float,
}

impl Scalar {
    fn parse(s: &str) -> Option<Scalar> {
        Some(match s {
            "string" => Scalar::String,
            "bytes" => Scalar::Bytes,
            "bool" => Scalar::Bool,
            "int32" => Scalar::Int32,
            "int64" => Scalar::Int64,
            "uint32" => Scalar::Uint32,
            "uint64" => Scalar::Uint64,
            "double" => Scalar::Double,
            "float" => Scalar::Float,
            _ => return None,
        })
    }
}

/// What a field holds; messages are named by their OpenAPI definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar(Scalar),
    Message(&'static str),
    List(Scalar),
    ListOfMessages(&'static str),
    /// `map<string, V>`: a repeated entry message {1: key, 2: value}.
    Map(Scalar),
    MapOfMessages(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON property; `None` for a Go struct embedded inline, whose fields belong to the
    /// enclosing object.
    pub json: Option<&'static str>,
    pub kind: Kind,
}

pub type Message = HashMap<u32, Field>;

/// The message of an OpenAPI definition name, e.g. `io.k8s.api.core.v1.Pod`.
pub fn message(definition: &str) -> Option<&'static Message> {
    static MESSAGES: OnceLock<HashMap<&'static str, Message>> = OnceLock::new();
    MESSAGES.get_or_init(|| parse(SCHEMA)).get(definition)
}

/// Parses the schema file. The file is generated and covered by tests, so a malformed entry
/// is skipped rather than failing every request.
fn parse(text: &'static str) -> HashMap<&'static str, Message> {
    let mut messages = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut words = line.split(' ');
        let Some(name) = words.next() else { continue };
        let fields = words.filter_map(parse_field).collect();
        messages.insert(name, fields);
    }
    messages
}

fn parse_field(entry: &'static str) -> Option<(u32, Field)> {
    let mut parts = entry.splitn(4, ':');
    let tag = parts.next()?.parse().ok()?;
    let json = match parts.next()? {
        "-" => None,
        name => Some(name),
    };
    let kind = parts.next()?;
    let target = parts.next();
    let kind = match (kind, target) {
        ("message", Some(t)) => Kind::Message(t),
        ("[]message", Some(t)) => Kind::ListOfMessages(t),
        ("map-message", Some(t)) => Kind::MapOfMessages(t),
        (k, None) => match (k.strip_prefix("[]"), k.strip_prefix("map-")) {
            (Some(s), _) => Kind::List(Scalar::parse(s)?),
            (_, Some(s)) => Kind::Map(Scalar::parse(s)?),
            _ => Kind::Scalar(Scalar::parse(k)?),
        },
        _ => return None,
    };
    Some((tag, Field { json, kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses_and_every_message_reference_resolves() {
        let mut count = 0;
        for line in SCHEMA.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split(' ');
            let name = words.next().unwrap_or_default();
            for entry in words {
                let (_, field) = parse_field(entry)
                    .unwrap_or_else(|| panic!("{name}: cannot parse field {entry:?}"));
                if let Kind::Message(t) | Kind::ListOfMessages(t) | Kind::MapOfMessages(t) =
                    field.kind
                {
                    assert!(message(t).is_some(), "{name}: {t} has no schema");
                }
            }
            count += 1;
        }
        assert!(count > 400, "only {count} messages");
        assert!(message("io.k8s.api.apps.v1.Deployment").is_some());
    }
}
