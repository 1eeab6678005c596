//! Types whose JSON form is not an object of their proto fields: upstream gives them custom
//! JSON marshalling (Quantity, IntOrString, Time, ...). Each takes the message's raw fields.

use serde_json::Value;
use time::OffsetDateTime;

use super::wire::{Reader, WireValue};
use super::ProtobufError;

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";
const APIEXT: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.";

/// Go's zero `time.Time` (year 1) as Unix seconds: what a zero Time would carry if a client
/// wrote it instead of the empty message Go writes.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// How a special type decodes; `None` for ordinary messages.
pub enum Special {
    /// The JSON value, or `None` when upstream would leave the field out (a zero time).
    Value(Option<Value>),
    /// A JSON schema wrapper: its schema sub-message must be decoded by the caller.
    Schema(SchemaWrapper),
}

/// JSONSchemaPropsOr{Bool,Array,StringArray}, named by what the schema is paired with.
pub enum SchemaWrapper {
    /// JSONSchemaPropsOrBool: `schema` if present, else the bool.
    Bool {
        allows: bool,
        schema: Option<Vec<u8>>,
    },
    /// JSONSchemaPropsOrArray: the list if non-empty, else `schema`.
    Array {
        schema: Option<Vec<u8>>,
        schemas: Vec<Vec<u8>>,
    },
    /// JSONSchemaPropsOrStringArray: the strings if non-empty, else `schema`.
    StringArray {
        schema: Option<Vec<u8>>,
        property: Vec<String>,
    },
}

pub const JSON_SCHEMA_PROPS: &str =
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";

pub fn decode(definition: &str, data: &[u8]) -> Result<Option<Special>, ProtobufError> {
    let value = match definition {
        QUANTITY => {
            // Go marshals a zero Quantity as "0".
            let s = string_field(data, 1)?.unwrap_or_else(|| "0".to_string());
            Some(Value::String(s))
        }
        INT_OR_STRING => Some(int_or_string(data)?),
        TIME => time(data, false)?,
        MICRO_TIME => time(data, true)?,
        DURATION => Some(Value::String(go_duration(varint_field(data, 1)? as i64))),
        FIELDS_V1 | RAW_EXTENSION => embedded_json(definition, data)?,
        _ => match definition.strip_prefix(APIEXT) {
            Some("JSON") => embedded_json(definition, data)?,
            Some("JSONSchemaPropsOrBool") => {
                return Ok(Some(Special::Schema(SchemaWrapper::Bool {
                    allows: varint_field(data, 1)? != 0,
                    schema: bytes_fields(data, 2)?.pop(),
                })))
            }
            Some("JSONSchemaPropsOrArray") => {
                return Ok(Some(Special::Schema(SchemaWrapper::Array {
                    schema: bytes_fields(data, 1)?.pop(),
                    schemas: bytes_fields(data, 2)?,
                })))
            }
            Some("JSONSchemaPropsOrStringArray") => {
                let property = bytes_fields(data, 2)?
                    .into_iter()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .collect();
                return Ok(Some(Special::Schema(SchemaWrapper::StringArray {
                    schema: bytes_fields(data, 1)?.pop(),
                    property,
                })));
            }
            _ if definition.ends_with(".ExtraValue") => {
                // A named []string in Go; the proto wraps it as {repeated string items = 1}.
                let items = bytes_fields(data, 1)?
                    .into_iter()
                    .map(|b| Value::String(String::from_utf8_lossy(&b).into_owned()))
                    .collect();
                Some(Value::Array(items))
            }
            _ => return Ok(None),
        },
    };
    Ok(Some(Special::Value(value)))
}

/// IntOrString {1: type (0 int, 1 string), 2: intVal, 3: strVal}.
fn int_or_string(data: &[u8]) -> Result<Value, ProtobufError> {
    if varint_field(data, 1)? == 1 {
        Ok(Value::String(string_field(data, 3)?.unwrap_or_default()))
    } else {
        Ok(Value::from(varint_field(data, 2)? as i32))
    }
}

/// Time / MicroTime {1: seconds, 2: nanos}. Go writes a zero time as an empty message.
fn time(data: &[u8], micro: bool) -> Result<Option<Value>, ProtobufError> {
    if data.is_empty() {
        return Ok(None);
    }
    let seconds = varint_field(data, 1)? as i64;
    let nanos = varint_field(data, 2)? as i32;
    if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Ok(None);
    }
    let t = OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| ProtobufError::InvalidTime(seconds))?;
    let t = t + time::Duration::nanoseconds(i64::from(nanos));
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if micro {
        s.push_str(&format!(".{:06}", t.microsecond()));
    }
    s.push('Z');
    Ok(Some(Value::String(s)))
}

/// Raw bytes that hold a JSON document (RawExtension, FieldsV1, apiextensions JSON).
fn embedded_json(definition: &str, data: &[u8]) -> Result<Option<Value>, ProtobufError> {
    let raw = bytes_fields(data, 1)?.pop().unwrap_or_default();
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|source| ProtobufError::EmbeddedJson {
            definition: definition.to_string(),
            source,
        })
}

/// Go's `time.Duration.String()`: "1h0m0s", "2m30s", "1.5s", "300ms", "0s".
pub fn go_duration(nanos: i64) -> String {
    let negative = nanos < 0;
    let u = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (value, digits, unit) = match u {
            u if u < 1_000 => return format!("{sign}{u}ns"),
            u if u < 1_000_000 => (u, 3, "µs"),
            u => (u, 6, "ms"),
        };
        return format!("{sign}{}{unit}", decimal(value, digits));
    }
    let secs = decimal(u % 60_000_000_000, 9);
    let minutes = (u / 60_000_000_000) % 60;
    let hours = u / 3_600_000_000_000;
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// `value / 10^digits` with the fraction's trailing zeros trimmed.
fn decimal(value: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// The last varint value of `tag` (0 when absent, as proto defaults it).
fn varint_field(data: &[u8], tag: u32) -> Result<u64, ProtobufError> {
    let mut reader = Reader::new(data);
    let mut found = 0;
    while let Some((t, value)) = reader.next_field()? {
        if t == tag {
            if let WireValue::Varint(v) = value {
                found = v;
            }
        }
    }
    Ok(found)
}

fn string_field(data: &[u8], tag: u32) -> Result<Option<String>, ProtobufError> {
    Ok(bytes_fields(data, tag)?
        .pop()
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Every length-delimited value of `tag`, in order.
fn bytes_fields(data: &[u8], tag: u32) -> Result<Vec<Vec<u8>>, ProtobufError> {
    let mut reader = Reader::new(data);
    let mut found = Vec::new();
    while let Some((t, value)) = reader.next_field()? {
        if t == tag {
            if let WireValue::Bytes(b) = value {
                found.push(b.to_vec());
            }
        }
    }
    Ok(found)
}
