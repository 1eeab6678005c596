//! Walks an encoded message with its schema and builds the JSON object.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::schema::{self, Kind, Scalar};
use super::special::{self, SchemaWrapper, Special, JSON_SCHEMA_PROPS};
use super::wire::{Reader, WireValue};
use super::{omit, ProtobufError};

/// Deep enough for any real object (JSONSchemaProps nest recursively), shallow enough that a
/// hostile body cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

/// The JSON object of one message of `definition`.
pub fn message(
    definition: &str,
    data: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep(MAX_DEPTH));
    }
    let fields = schema::message(definition)
        .ok_or_else(|| ProtobufError::UnknownDefinition(definition.to_string()))?;
    let mut object = Map::new();
    let mut reader = Reader::new(data);
    while let Some((tag, value)) = reader.next_field()? {
        // Fields newer than our schema: upstream would know them, we cannot name them.
        let Some(field) = fields.get(&tag) else {
            continue;
        };
        let mismatch = || ProtobufError::UnexpectedWireType {
            definition: definition.to_string(),
            tag,
            found: value.wire_name(),
        };
        match field.kind {
            Kind::Message(target) => {
                let WireValue::Bytes(b) = value else {
                    return Err(mismatch());
                };
                match (field.json, value_of(target, b, depth)?) {
                    (Some(json), Some(v)) => {
                        object.insert(json.to_string(), v);
                    }
                    // A Go struct embedded inline: its fields are the parent's.
                    (None, Some(Value::Object(inner))) => object.extend(inner),
                    _ => {}
                }
            }
            Kind::Scalar(s) => {
                let Some(json) = field.json else { continue };
                let v = scalar(s, value).ok_or_else(mismatch)?;
                if !omit::drop_field(definition, json, &v) {
                    object.insert(json.to_string(), v);
                }
            }
            Kind::List(s) => {
                let Some(json) = field.json else { continue };
                let Some(items) = list_entry(&mut object, json) else {
                    continue;
                };
                match (s, value) {
                    // Numbers may come packed into one length-delimited run.
                    (Scalar::String | Scalar::Bytes, _) | (_, WireValue::Varint(_)) => {
                        items.push(scalar(s, value).ok_or_else(mismatch)?)
                    }
                    (_, WireValue::Bytes(packed)) => {
                        let mut r = Reader::new(packed);
                        while !r.is_empty() {
                            let v = match s {
                                Scalar::Double => WireValue::Fixed64(r.fixed(8)?),
                                Scalar::Float => WireValue::Fixed32(r.fixed(4)? as u32),
                                _ => WireValue::Varint(r.varint()?),
                            };
                            items.push(scalar(s, v).ok_or_else(mismatch)?);
                        }
                    }
                    _ => items.push(scalar(s, value).ok_or_else(mismatch)?),
                }
            }
            Kind::ListOfMessages(target) => {
                let Some(json) = field.json else { continue };
                let WireValue::Bytes(b) = value else {
                    return Err(mismatch());
                };
                let v = value_of(target, b, depth)?.unwrap_or(Value::Null);
                if let Some(items) = list_entry(&mut object, json) {
                    items.push(v);
                }
            }
            Kind::Map(s) => {
                let Some(json) = field.json else { continue };
                let WireValue::Bytes(entry) = value else {
                    return Err(mismatch());
                };
                let (key, v) = map_entry(entry)?;
                let v = match v {
                    Some(v) => scalar(s, v).ok_or_else(mismatch)?,
                    None => scalar(s, WireValue::Bytes(&[])).unwrap_or(Value::Null),
                };
                if let Some(map) = map_entry_object(&mut object, json) {
                    map.insert(key, v);
                }
            }
            Kind::MapOfMessages(target) => {
                let Some(json) = field.json else { continue };
                let WireValue::Bytes(entry) = value else {
                    return Err(mismatch());
                };
                let (key, v) = map_entry(entry)?;
                let b = match v {
                    Some(WireValue::Bytes(b)) => b,
                    None => &[],
                    Some(_) => return Err(mismatch()),
                };
                let v = value_of(target, b, depth)?.unwrap_or(Value::Null);
                if let Some(map) = map_entry_object(&mut object, json) {
                    map.insert(key, v);
                }
            }
        }
    }
    Ok(object)
}

/// The JSON value of a message field, `None` when upstream's JSON would leave it out.
fn value_of(target: &str, data: &[u8], depth: usize) -> Result<Option<Value>, ProtobufError> {
    match special::decode(target, data)? {
        Some(Special::Value(v)) => Ok(v),
        Some(Special::Schema(wrapper)) => schema_wrapper(wrapper, depth),
        None => Ok(Some(Value::Object(message(target, data, depth + 1)?))),
    }
}

fn schema_wrapper(wrapper: SchemaWrapper, depth: usize) -> Result<Option<Value>, ProtobufError> {
    let props = |b: &[u8]| message(JSON_SCHEMA_PROPS, b, depth + 1).map(Value::Object);
    Ok(match wrapper {
        SchemaWrapper::Bool { allows, schema } => match schema {
            Some(s) => Some(props(&s)?),
            None => Some(Value::Bool(allows)),
        },
        SchemaWrapper::Array { schema, schemas } if schemas.is_empty() => {
            schema.map(|s| props(&s)).transpose()?
        }
        SchemaWrapper::Array { schemas, .. } => Some(Value::Array(
            schemas.iter().map(|s| props(s)).collect::<Result<_, _>>()?,
        )),
        SchemaWrapper::StringArray { schema, property } if property.is_empty() => {
            schema.map(|s| props(&s)).transpose()?
        }
        SchemaWrapper::StringArray { property, .. } => Some(Value::Array(
            property.into_iter().map(Value::String).collect(),
        )),
    })
}

/// A scalar's JSON value; `None` when the wire type does not fit the scalar type.
fn scalar(s: Scalar, value: WireValue<'_>) -> Option<Value> {
    Some(match (s, value) {
        (Scalar::String, WireValue::Bytes(b)) => Value::String(String::from_utf8_lossy(b).into()),
        // Go's encoding/json writes []byte as standard base64.
        (Scalar::Bytes, WireValue::Bytes(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Scalar::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        // Negative int32s are sign-extended to 64 bits on the wire.
        (Scalar::Int32, WireValue::Varint(v)) => Value::from(v as i64 as i32),
        (Scalar::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (Scalar::Uint32, WireValue::Varint(v)) => Value::from(v as u32),
        (Scalar::Uint64, WireValue::Varint(v)) => Value::from(v),
        (Scalar::Double, WireValue::Fixed64(v)) => float(f64::from_bits(v)),
        (Scalar::Float, WireValue::Fixed32(v)) => float(f64::from(f32::from_bits(v))),
        _ => return None,
    })
}

/// Go prints integral floats without a fraction ("minimum": 1, not 1.0).
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// A map entry message {1: key, 2: value}; an absent key or value is its type's zero.
fn map_entry(entry: &[u8]) -> Result<(String, Option<WireValue<'_>>), ProtobufError> {
    let mut reader = Reader::new(entry);
    let mut key = String::new();
    let mut value = None;
    while let Some((tag, v)) = reader.next_field()? {
        match (tag, v) {
            (1, WireValue::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
            (2, v) => value = Some(v),
            _ => {}
        }
    }
    Ok((key, value))
}

/// The array under `json`, created on first use.
fn list_entry<'m>(object: &'m mut Map<String, Value>, json: &str) -> Option<&'m mut Vec<Value>> {
    let slot = object
        .entry(json.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
}

/// The object under `json`, created on first use.
fn map_entry_object<'m>(
    object: &'m mut Map<String, Value>,
    json: &str,
) -> Option<&'m mut Map<String, Value>> {
    let slot = object
        .entry(json.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}
