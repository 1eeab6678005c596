//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into the JSON object
//! upstream's apiserver would see for the same request.
//!
//! kubectl sends the bodies of its typed commands (`kubectl create deployment`, ...) as
//! protobuf. A body is the magic prefix `k8s\0` followed by a `runtime.Unknown` envelope
//! {1: typeMeta {1: apiVersion, 2: kind}, 2: raw (the kind's message), 3: contentEncoding,
//! 4: contentType}. The kinds' wire schema is generated into `schema.txt` (see
//! scripts/gen-protobuf-schema.py), keyed by OpenAPI definition name and carrying the JSON
//! property names, so decoding is a walk of the wire data guided by that table.
//!
//! Go's protobuf marshalling writes every non-pointer field, even when empty, while its JSON
//! marshalling leaves empty `omitempty` fields out; [`omit`] reconciles the two.

mod convert;
mod omit;
mod schema;
mod special;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use wire::{Reader, WireValue};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\x00";

/// The media type kubectl uses for protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    MissingMagic,
    #[error("protobuf data is truncated")]
    Truncated,
    #[error("protobuf varint is longer than 10 bytes")]
    VarintOverflow,
    #[error("invalid protobuf field number {0}")]
    InvalidTag(u64),
    #[error("unsupported protobuf wire type {0}")]
    WireType(u8),
    #[error("field {tag} of {definition}: unexpected {found} value")]
    UnexpectedWireType {
        definition: String,
        tag: u32,
        found: &'static str,
    },
    #[error("no protobuf schema for {0}")]
    UnknownDefinition(String),
    #[error("protobuf message nesting is deeper than {0}")]
    TooDeep(usize),
    #[error("time out of range: {0} seconds")]
    InvalidTime(i64),
    #[error("{definition}: embedded JSON is invalid: {source}")]
    EmbeddedJson {
        definition: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The decoded envelope: type meta and the kind's encoded message.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
}

fn envelope(body: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let data = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let mut out = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
    };
    let mut reader = Reader::new(data);
    while let Some((tag, value)) = reader.next_field()? {
        match (tag, value) {
            (1, WireValue::Bytes(type_meta)) => {
                let mut tm = Reader::new(type_meta);
                while let Some((tag, value)) = tm.next_field()? {
                    match (tag, value) {
                        (1, WireValue::Bytes(b)) => out.api_version = lossy(b),
                        (2, WireValue::Bytes(b)) => out.kind = lossy(b),
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(raw)) => out.raw = raw,
            // contentEncoding and contentType are empty in what clients send.
            _ => {}
        }
    }
    Ok(out)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `(apiVersion, kind)` of a protobuf body's envelope (empty when the envelope has none).
pub fn type_meta(body: &[u8]) -> Result<(String, String), ProtobufError> {
    let env = envelope(body)?;
    Ok((env.api_version, env.kind))
}

/// Decodes a protobuf body whose object is of OpenAPI definition `definition` (e.g.
/// `io.k8s.api.apps.v1.Deployment`) into its JSON object, with `apiVersion` and `kind` taken
/// from the envelope. Fields the schema does not know are skipped.
pub fn decode(body: &[u8], definition: &str) -> Result<Value, ProtobufError> {
    let env = envelope(body)?;
    let fields = convert::message(definition, env.raw, 0)?;
    let mut object = Map::new();
    if !env.api_version.is_empty() {
        object.insert("apiVersion".into(), Value::String(env.api_version));
    }
    if !env.kind.is_empty() {
        object.insert("kind".into(), Value::String(env.kind));
    }
    object.extend(fields);
    Ok(Value::Object(object))
}
