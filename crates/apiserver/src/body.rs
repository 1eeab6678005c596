//! Request bodies in, responses out: content types, size limits, JSON and YAML.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderMap, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;

use crate::error::ApiError;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// Upstream's limit for a request body (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

pub fn json_response(code: u16, body: &Value) -> Response<Body> {
    bytes_response(
        code,
        "application/json",
        serde_json::to_vec(body).unwrap_or_default(),
    )
}

pub fn bytes_response(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut resp = json_response(err.code, &err.to_status());
    // As upstream, a suggested wait also travels as `Retry-After` (clients honour it).
    let retry = err
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfterSeconds"))
        .and_then(serde_json::Value::as_u64)
        .filter(|s| *s > 0);
    if let Some(secs) = retry {
        if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    resp
}

/// A request body still to be read, or already read (the audit log wanted it).
pub enum RequestBody {
    Incoming(Incoming),
    Read(Bytes),
}

impl RequestBody {
    pub async fn read(self) -> Result<Bytes, ApiError> {
        match self {
            RequestBody::Incoming(b) => read(b).await,
            RequestBody::Read(b) => Ok(b),
        }
    }
}

/// How much of an oversized body is read and thrown away before answering 413: a client
/// still uploading would otherwise see its connection reset instead of the answer.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes with 413.
pub async fn read(mut body: Incoming) -> Result<Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen <= MAX_BODY {
            buf.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_BODY {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

pub fn too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        "Request entity too large: limit is 3145728",
    )
}

/// The media type of the request body, without parameters, lowercased.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Decodes an object body given as JSON or YAML.
pub fn decode_object(headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type(headers);
    let v = match ct.as_str() {
        "" | "application/json" | "*/*" => parse_json(raw)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(raw)?,
        "application/vnd.kubernetes.protobuf" => parse_protobuf(raw)?,
        other => return Err(unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body: expected a JSON object",
        ));
    }
    Ok(v)
}

/// A protobuf body of a built-in kind, decoded into its JSON form. The envelope names the
/// kind; its OpenAPI definition name follows upstream's package layout.
pub fn parse_protobuf(raw: &[u8]) -> Result<Value, ApiError> {
    use apimachinery::protobuf;
    let bad = |e: protobuf::ProtobufError| {
        ApiError::bad_request(format!("error decoding protobuf body: {e}"))
    };
    let (api_version, kind) = protobuf::type_meta(raw).map_err(bad)?;
    let definition = definition_name(&api_version, &kind).ok_or_else(|| {
        ApiError::bad_request(format!("no protobuf schema for {api_version}, Kind={kind}"))
    })?;
    protobuf::decode(raw, &definition).map_err(bad)
}

/// `apps/v1` + `Deployment` → `io.k8s.api.apps.v1.Deployment`, as upstream names its types.
fn definition_name(api_version: &str, kind: &str) -> Option<String> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if version.is_empty() || kind.is_empty() {
        return None;
    }
    let package = match group {
        "" => "io.k8s.api.core".to_string(),
        "meta.k8s.io" => "io.k8s.apimachinery.pkg.apis.meta".to_string(),
        "apiextensions.k8s.io" => {
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".to_string()
        }
        "apiregistration.k8s.io" => "io.k8s.kube-aggregator.pkg.apis.apiregistration".to_string(),
        g => format!("io.k8s.api.{}", g.split('.').next().unwrap_or(g)),
    };
    // Core clients send DeleteOptions as `v1` (the legacy group); its type lives in meta.
    if kind == "DeleteOptions" {
        return Some(format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}"));
    }
    Some(format!("{package}.{version}.{kind}"))
}

pub fn unsupported_media_type(ct: &str) -> ApiError {
    ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct})"))
}

pub fn parse_json(raw: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(raw).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

pub fn parse_yaml(raw: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice::<Value>(raw)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}")))
}
