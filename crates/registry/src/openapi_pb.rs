//! The Swagger 2.0 document as gnostic's `openapi.v2.Document` protobuf, which kubectl asks
//! for (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) before validating
//! manifests on the client.
//!
//! Each message is a table of the JSON keys it carries, in field-number order: most messages of
//! gnostic's `OpenAPIv2.proto` number their fields 1..n and put `repeated NamedAny
//! vendor_extension` (the `x-` keys) at n+1, so a key's place in its table is its field number. Messages that break that pattern (`Paths`,
//! `Responses`) and the oneof wrappers are written by hand. Keys the schema does not know (say
//! `oneOf`, which Swagger 2.0 lacks) are dropped, and so are empty lists, which proto3 cannot
//! tell from absent ones. `examples/openapi_v2_pb.rs` writes the encoded registry document, for
//! checking with `protoc --decode=openapi.v2.Document`.

use serde_json::Value;

/// Encodes a Swagger 2.0 JSON document as an `openapi.v2.Document` message.
pub fn encode_v2(doc: &Value) -> Vec<u8> {
    message(doc, DOCUMENT)
}

/// How one JSON key becomes one protobuf field.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Strs,
    Bool,
    Int,
    Double,
    /// `Any { yaml }`; JSON text is YAML, which is what gnostic's readers parse it as.
    Any,
    Anys,
    /// A nested message, written whenever the key is present (message fields have presence).
    Msg(fn(&Value) -> Vec<u8>),
    /// One nested message per array element.
    Msgs(fn(&Value) -> Vec<u8>),
    /// An object as a wrapper message of repeated `Named* { name = 1; value = 2 }` pairs.
    Named(fn(&Value) -> Vec<u8>),
}

type Fields = &'static [(&'static str, Kind)];

use Kind::*;

const DOCUMENT: Fields = &[
    ("swagger", Str),
    ("info", Msg(info)),
    ("host", Str),
    ("basePath", Str),
    ("schemes", Strs),
    ("consumes", Strs),
    ("produces", Strs),
    ("paths", Msg(paths)),
    ("definitions", Named(schema)),
    ("parameters", Named(parameter)),
    ("responses", Named(response)),
    ("security", Msgs(security_requirement)),
    ("securityDefinitions", Named(security_definition)),
    ("tags", Msgs(tag)),
    ("externalDocs", Msg(external_docs)),
];

const SCHEMA: Fields = &[
    ("$ref", Str),
    ("format", Str),
    ("title", Str),
    ("description", Str),
    ("default", Any),
    ("multipleOf", Double),
    ("maximum", Double),
    ("exclusiveMaximum", Bool),
    ("minimum", Double),
    ("exclusiveMinimum", Bool),
    ("maxLength", Int),
    ("minLength", Int),
    ("pattern", Str),
    ("maxItems", Int),
    ("minItems", Int),
    ("uniqueItems", Bool),
    ("maxProperties", Int),
    ("minProperties", Int),
    ("required", Strs),
    ("enum", Anys),
    ("additionalProperties", Msg(additional_properties)),
    ("type", Msg(type_item)),
    ("items", Msg(items_item)),
    ("allOf", Msgs(schema)),
    ("properties", Named(schema)),
    ("discriminator", Str),
    ("readOnly", Bool),
    ("xml", Msg(xml)),
    ("externalDocs", Msg(external_docs)),
    ("example", Any),
];

/// The validation keywords shared by `PrimitivesItems`, `Header` and the non-body parameters.
const PRIMITIVE: Fields = &[
    ("type", Str),
    ("format", Str),
    ("items", Msg(primitives_items)),
    ("collectionFormat", Str),
    ("default", Any),
    ("maximum", Double),
    ("exclusiveMaximum", Bool),
    ("minimum", Double),
    ("exclusiveMinimum", Bool),
    ("maxLength", Int),
    ("minLength", Int),
    ("pattern", Str),
    ("maxItems", Int),
    ("minItems", Int),
    ("uniqueItems", Bool),
    ("enum", Anys),
    ("multipleOf", Double),
];

const HEADER_OR_PATH_PARAMETER: Fields = &[
    ("required", Bool),
    ("in", Str),
    ("description", Str),
    ("name", Str),
];

const QUERY_OR_FORM_PARAMETER: Fields = &[
    ("required", Bool),
    ("in", Str),
    ("description", Str),
    ("name", Str),
    ("allowEmptyValue", Bool),
];

const OPERATION: Fields = &[
    ("tags", Strs),
    ("summary", Str),
    ("description", Str),
    ("externalDocs", Msg(external_docs)),
    ("operationId", Str),
    ("produces", Strs),
    ("consumes", Strs),
    ("parameters", Msgs(parameters_item)),
    ("responses", Msg(responses)),
    ("schemes", Strs),
    ("deprecated", Bool),
    ("security", Msgs(security_requirement)),
];

const PATH_ITEM: Fields = &[
    ("$ref", Str),
    ("get", Msg(operation)),
    ("put", Msg(operation)),
    ("post", Msg(operation)),
    ("delete", Msg(operation)),
    ("options", Msg(operation)),
    ("head", Msg(operation)),
    ("patch", Msg(operation)),
    ("parameters", Msgs(parameters_item)),
];

const BODY_PARAMETER: Fields = &[
    ("description", Str),
    ("name", Str),
    ("in", Str),
    ("required", Bool),
    ("schema", Msg(schema)),
];

const RESPONSE: Fields = &[
    ("description", Str),
    ("schema", Msg(schema_item)),
    ("headers", Named(header)),
    ("examples", Named(any)),
];

const FILE_SCHEMA: Fields = &[
    ("format", Str),
    ("title", Str),
    ("description", Str),
    ("default", Any),
    ("required", Strs),
    ("type", Str),
    ("readOnly", Bool),
    ("externalDocs", Msg(external_docs)),
    ("example", Any),
];

const INFO: Fields = &[
    ("title", Str),
    ("version", Str),
    ("description", Str),
    ("termsOfService", Str),
    ("contact", Msg(contact)),
    ("license", Msg(license)),
];

const CONTACT: Fields = &[("name", Str), ("url", Str), ("email", Str)];
const LICENSE: Fields = &[("name", Str), ("url", Str)];
const EXTERNAL_DOCS: Fields = &[("description", Str), ("url", Str)];
const TAG: Fields = &[
    ("name", Str),
    ("description", Str),
    ("externalDocs", Msg(external_docs)),
];
const XML: Fields = &[
    ("name", Str),
    ("namespace", Str),
    ("prefix", Str),
    ("attribute", Bool),
    ("wrapped", Bool),
];

const BASIC_AUTH: Fields = &[("type", Str), ("description", Str)];
const API_KEY: Fields = &[
    ("type", Str),
    ("name", Str),
    ("in", Str),
    ("description", Str),
];
const OAUTH2_IMPLICIT: Fields = &[
    ("type", Str),
    ("flow", Str),
    ("scopes", Named(string)),
    ("authorizationUrl", Str),
    ("description", Str),
];
/// The `password` and `application` flows share one shape.
const OAUTH2_TOKEN: Fields = &[
    ("type", Str),
    ("flow", Str),
    ("scopes", Named(string)),
    ("tokenUrl", Str),
    ("description", Str),
];
const OAUTH2_ACCESS_CODE: Fields = &[
    ("type", Str),
    ("flow", Str),
    ("scopes", Named(string)),
    ("authorizationUrl", Str),
    ("tokenUrl", Str),
    ("description", Str),
];

fn info(v: &Value) -> Vec<u8> {
    message(v, INFO)
}
fn contact(v: &Value) -> Vec<u8> {
    message(v, CONTACT)
}
fn license(v: &Value) -> Vec<u8> {
    message(v, LICENSE)
}
fn external_docs(v: &Value) -> Vec<u8> {
    message(v, EXTERNAL_DOCS)
}
fn tag(v: &Value) -> Vec<u8> {
    message(v, TAG)
}
fn xml(v: &Value) -> Vec<u8> {
    message(v, XML)
}
fn schema(v: &Value) -> Vec<u8> {
    message(v, SCHEMA)
}
fn operation(v: &Value) -> Vec<u8> {
    message(v, OPERATION)
}
fn primitives_items(v: &Value) -> Vec<u8> {
    message(v, PRIMITIVE)
}

/// `Header` is `PrimitivesItems` with a description after the shared keywords.
fn header(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    fields(&mut out, v, PRIMITIVE, 1);
    fields(
        &mut out,
        v,
        &[("description", Str)],
        PRIMITIVE.len() as u32 + 1,
    );
    extensions(&mut out, v, PRIMITIVE.len() as u32 + 2);
    out
}

fn any(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 2, yaml(v).as_bytes());
    out
}

/// A bare `string` value, as `NamedString` (OAuth2 scopes) carries it.
fn string(v: &Value) -> Vec<u8> {
    v.as_str()
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
}

fn yaml(v: &Value) -> String {
    format!("{v}\n")
}

fn additional_properties(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::Bool(b) => put_varint_field(&mut out, 2, u64::from(*b)),
        _ => put_bytes(&mut out, 1, &schema(v)),
    }
    out
}

fn type_item(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings(v) {
        put_bytes(&mut out, 1, s.as_bytes());
    }
    out
}

fn items_item(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::Array(list) => list.iter().for_each(|s| put_bytes(&mut out, 1, &schema(s))),
        _ => put_bytes(&mut out, 1, &schema(v)),
    }
    out
}

fn paths(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    extensions(&mut out, v, 1);
    named_except_extensions(&mut out, v, 2, |v| message(v, PATH_ITEM));
    out
}

fn responses(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    named_except_extensions(&mut out, v, 1, response_value);
    extensions(&mut out, v, 2);
    out
}

fn response(v: &Value) -> Vec<u8> {
    message(v, RESPONSE)
}

fn response_value(v: &Value) -> Vec<u8> {
    oneof_reference(v, 1, response)
}

fn schema_item(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if v.get("type").and_then(Value::as_str) == Some("file") {
        put_bytes(&mut out, 2, &message(v, FILE_SCHEMA));
    } else {
        put_bytes(&mut out, 1, &schema(v));
    }
    out
}

fn parameters_item(v: &Value) -> Vec<u8> {
    oneof_reference(v, 1, parameter)
}

/// The `oneof { X x = field; JsonReference json_reference = 2; }` wrappers.
fn oneof_reference(v: &Value, field: u32, encode: fn(&Value) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    match v.get("$ref") {
        Some(_) => put_bytes(
            &mut out,
            2,
            &message(v, &[("$ref", Str), ("description", Str)]),
        ),
        None => put_bytes(&mut out, field, &encode(v)),
    }
    out
}

fn parameter(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let location = v.get("in").and_then(Value::as_str).unwrap_or_default();
    if location == "body" {
        put_bytes(&mut out, 1, &message(v, BODY_PARAMETER));
        return out;
    }
    let (variant, head) = match location {
        "header" => (1, HEADER_OR_PATH_PARAMETER),
        "formData" => (2, QUERY_OR_FORM_PARAMETER),
        "path" => (4, HEADER_OR_PATH_PARAMETER),
        _ => (3, QUERY_OR_FORM_PARAMETER),
    };
    let mut sub = Vec::new();
    fields(&mut sub, v, head, 1);
    let next = head.len() as u32 + 1;
    fields(&mut sub, v, PRIMITIVE, next);
    extensions(&mut sub, v, next + PRIMITIVE.len() as u32);
    let mut non_body = Vec::new();
    put_bytes(&mut non_body, variant, &sub);
    put_bytes(&mut out, 2, &non_body);
    out
}

/// `{ "name": ["scope", ...] }` as `SecurityRequirement { repeated NamedStringArray }`.
fn security_requirement(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    named(&mut out, v, 1, |scopes| {
        let mut array = Vec::new();
        for s in strings(scopes) {
            put_bytes(&mut array, 1, s.as_bytes());
        }
        array
    });
    out
}

fn security_definition(v: &Value) -> Vec<u8> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let flow = v.get("flow").and_then(Value::as_str).unwrap_or_default();
    let (variant, table) = match (kind, flow) {
        ("basic", _) => (1, BASIC_AUTH),
        ("oauth2", "implicit") => (3, OAUTH2_IMPLICIT),
        ("oauth2", "password") => (4, OAUTH2_TOKEN),
        ("oauth2", "application") => (5, OAUTH2_TOKEN),
        ("oauth2", _) => (6, OAUTH2_ACCESS_CODE),
        _ => (2, API_KEY),
    };
    let mut out = Vec::new();
    put_bytes(&mut out, variant, &message(v, table));
    out
}

/// A message whose fields are `table` numbered from 1, then its vendor extensions.
fn message(v: &Value, table: Fields) -> Vec<u8> {
    let mut out = Vec::new();
    fields(&mut out, v, table, 1);
    extensions(&mut out, v, table.len() as u32 + 1);
    out
}

fn fields(out: &mut Vec<u8>, v: &Value, table: Fields, first: u32) {
    let Some(obj) = v.as_object() else {
        return;
    };
    for (field, (key, kind)) in (first..).zip(table) {
        if let Some(value) = obj.get(*key) {
            field_value(out, field, *kind, value);
        }
    }
}

/// Proto3 leaves zero scalars out; messages are written even when empty, because readers
/// tell an absent `properties` from an empty one.
fn field_value(out: &mut Vec<u8>, field: u32, kind: Kind, value: &Value) {
    match kind {
        Str => {
            if let Some(s) = value.as_str().filter(|s| !s.is_empty()) {
                put_bytes(out, field, s.as_bytes());
            }
        }
        Strs => strings(value).for_each(|s| put_bytes(out, field, s.as_bytes())),
        Bool => {
            if value.as_bool() == Some(true) {
                put_varint_field(out, field, 1);
            }
        }
        Int => {
            let n = value.as_i64().or_else(|| value.as_f64().map(|f| f as i64));
            if let Some(n) = n.filter(|n| *n != 0) {
                // int64 negatives are ten-byte two's complement varints.
                put_varint_field(out, field, n as u64);
            }
        }
        Double => {
            if let Some(f) = value.as_f64().filter(|f| *f != 0.0) {
                put_key(out, field, 1);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
        Any => put_bytes(out, field, &any(value)),
        Anys => {
            for item in value.as_array().into_iter().flatten() {
                put_bytes(out, field, &any(item));
            }
        }
        Msg(encode) => put_bytes(out, field, &encode(value)),
        Msgs(encode) => {
            for item in value.as_array().into_iter().flatten() {
                put_bytes(out, field, &encode(item));
            }
        }
        Named(encode) => {
            let mut wrapper = Vec::new();
            named(&mut wrapper, value, 1, encode);
            put_bytes(out, field, &wrapper);
        }
    }
}

/// Each entry of an object as a `Named* { name = 1; value = 2 }` at `field`.
fn named(out: &mut Vec<u8>, v: &Value, field: u32, encode: impl Fn(&Value) -> Vec<u8>) {
    named_entries(out, entries(v), field, encode);
}

/// Like `named`, for the maps (`Paths`, `Responses`) whose `x-` keys are vendor extensions.
fn named_except_extensions(
    out: &mut Vec<u8>,
    v: &Value,
    field: u32,
    encode: impl Fn(&Value) -> Vec<u8>,
) {
    let plain = entries(v).filter(|(name, _)| !name.starts_with("x-"));
    named_entries(out, plain, field, encode);
}

fn named_entries<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
    field: u32,
    encode: impl Fn(&Value) -> Vec<u8>,
) {
    for (name, value) in entries {
        let mut entry = Vec::new();
        put_bytes(&mut entry, 1, name.as_bytes());
        put_bytes(&mut entry, 2, &encode(value));
        put_bytes(out, field, &entry);
    }
}

fn entries(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

/// The object's `x-` keys as `repeated NamedAny vendor_extension = field`.
fn extensions(out: &mut Vec<u8>, v: &Value, field: u32) {
    let extensions = entries(v).filter(|(name, _)| name.starts_with("x-"));
    named_entries(out, extensions, field, any);
}

/// A string or a list of strings, as `type` and `schemes` may be either.
fn strings(v: &Value) -> impl Iterator<Item = &str> {
    let (one, many) = match v {
        Value::String(s) => (Some(s.as_str()), None),
        Value::Array(list) => (None, Some(list.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, n: u64) {
    put_key(out, field, 0);
    put_varint(out, n);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests;
