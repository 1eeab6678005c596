//! Audit logging, as upstream's `--audit-policy-file` and `--audit-log-*`: the policy
//! (`policy.rs`) picks a level per request from the authenticated user and the request's
//! authorization attributes (computed once, in `router.rs`, for authorization and audit
//! alike); each stage becomes one `Event` line (`event.rs`) handed to a writer thread that
//! never holds a request up (`writer.rs`).
//!
//! Bodies: at `Request` the request object, at `RequestResponse` also the response object
//! of a request that is not long-running. Secrets and service account tokens are never
//! recorded beyond `Metadata` (`policy::carries_credentials`).

pub mod event;
pub mod policy;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::auth::UserInfo;
use crate::authz::Attributes;
use event::{Event, ObjectRef, ResponseStatus};
use policy::{Level, Policy, Stage};

pub const DECISION: &str = "authorization.k8s.io/decision";
pub const REASON: &str = "authorization.k8s.io/reason";

pub struct Auditor {
    policy: Policy,
    sink: Arc<writer::Sink>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit policy {path}: {source}")]
    ReadPolicy {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("audit policy {path}: {source}")]
    Policy {
        path: std::path::PathBuf,
        source: policy::PolicyError,
    },
    #[error("audit log {path}: {source}")]
    Log {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// `--audit-policy-file` and `--audit-log-*`.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    pub policy_file: std::path::PathBuf,
    pub log: writer::LogOptions,
}

impl Auditor {
    pub fn start(config: &AuditConfig) -> Result<Auditor, AuditError> {
        let path = config.policy_file.clone();
        let text = std::fs::read_to_string(&path).map_err(|source| AuditError::ReadPolicy {
            path: path.clone(),
            source,
        })?;
        let policy = Policy::parse(&text).map_err(|source| AuditError::Policy { path, source })?;
        let sink = writer::spawn(config.log.clone(), writer::BUFFER).map_err(|source| {
            AuditError::Log {
                path: config.log.path.clone(),
                source,
            }
        })?;
        Ok(Auditor {
            policy,
            sink: Arc::new(sink),
        })
    }

    /// The record of one request, or `None` when the policy says level None.
    pub fn begin(
        &self,
        audit_id: &str,
        user: &UserInfo,
        a: &Attributes,
        req: &RequestInfo,
    ) -> Option<Record> {
        let d = self.policy.evaluate(user, a);
        if d.level == Level::None {
            return None;
        }
        let now = event::micro_time(time::OffsetDateTime::now_utc());
        let object_ref = a.resource_request.then(|| ObjectRef {
            resource: a.resource.clone(),
            namespace: a.namespace.clone(),
            name: a.name.clone(),
            api_group: a.api_group.clone(),
            api_version: a.api_version.clone(),
            subresource: a.subresource.clone(),
        });
        Some(Record {
            sink: self.sink.clone(),
            omit_stages: d.omit_stages,
            omit_managed_fields: d.omit_managed_fields,
            event: Event {
                kind: "Event",
                api_version: "audit.k8s.io/v1",
                level: d.level,
                audit_id: audit_id.to_string(),
                stage: Stage::RequestReceived,
                request_uri: req.uri.clone(),
                verb: a.verb.clone(),
                user: user.into(),
                impersonated_user: None,
                source_ips: req.source_ips.clone(),
                user_agent: req.user_agent.clone(),
                object_ref,
                response_status: None,
                request_object: None,
                response_object: None,
                request_received_timestamp: now.clone(),
                stage_timestamp: now,
                annotations: BTreeMap::new(),
            },
        })
    }
}

/// What the event records of the HTTP request itself.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub uri: String,
    pub user_agent: String,
    pub source_ips: Vec<String>,
}

impl RequestInfo {
    /// `X-Forwarded-For`, then `X-Real-Ip`, then the peer, as upstream lists source IPs.
    pub fn from_request<B>(req: &http::Request<B>) -> RequestInfo {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let mut source_ips: Vec<String> = header("x-forwarded-for")
            .split(',')
            .map(str::trim)
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string)
            .collect();
        let real = header("x-real-ip");
        if real.parse::<std::net::IpAddr>().is_ok() && !source_ips.contains(&real) {
            source_ips.push(real);
        }
        if let Some(peer) = req.extensions().get::<std::net::SocketAddr>() {
            let ip = peer.ip().to_string();
            if !source_ips.contains(&ip) {
                source_ips.push(ip);
            }
        }
        RequestInfo {
            uri: req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            user_agent: header("user-agent"),
            source_ips,
        }
    }
}

/// The `Audit-ID` a client sent, else a new UUID.
pub fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("audit-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// One request's event, written once per stage.
pub struct Record {
    sink: Arc<writer::Sink>,
    omit_stages: Vec<Stage>,
    omit_managed_fields: bool,
    event: Event,
}

impl Record {
    pub fn wants_request_body(&self) -> bool {
        self.event.level >= Level::Request
    }

    pub fn wants_response_body(&self) -> bool {
        self.event.level >= Level::RequestResponse
    }

    pub fn annotate(&mut self, key: &str, value: &str) {
        self.event
            .annotations
            .insert(key.to_string(), value.to_string());
    }

    pub fn impersonated(&mut self, user: &UserInfo) {
        self.event.impersonated_user = Some(user.into());
    }

    /// The request body, decoded as the handler will (JSON, YAML or protobuf; a patch as
    /// JSON); one that does not decode is left out.
    pub fn request_body(&mut self, headers: &http::HeaderMap, body: &Bytes) {
        if !self.wants_request_body() || body.is_empty() {
            return;
        }
        let decoded = crate::body::decode_object(headers, body)
            .ok()
            .or_else(|| serde_json::from_slice::<Value>(body).ok());
        if let Some(mut v) = decoded {
            if self.omit_managed_fields {
                event::strip_managed_fields(&mut v);
            }
            self.event.request_object = Some(v);
        }
    }

    /// The response's code and, for a JSON body: a failure's Status fields and, at
    /// `RequestResponse`, the object.
    pub fn response(&mut self, code: u16, body: Option<&Bytes>) {
        let parsed = body.and_then(|b| serde_json::from_slice::<Value>(b).ok());
        self.event.response_status = Some(ResponseStatus::new(code, parsed.as_ref()));
        if self.wants_response_body() {
            if let Some(mut v) = parsed {
                if self.omit_managed_fields {
                    event::strip_managed_fields(&mut v);
                }
                self.event.response_object = Some(v);
            }
        }
    }

    /// A response no handler wrote (failed authentication, a panic): its code and why.
    pub fn response_message(&mut self, code: u16, message: &str) {
        self.event.response_status = Some(ResponseStatus {
            code,
            message: message.to_string(),
            ..ResponseStatus::default()
        });
    }

    pub fn emit(&mut self, stage: Stage) {
        if self.omit_stages.contains(&stage) {
            return;
        }
        self.event.stage = stage;
        self.event.stage_timestamp = event::micro_time(time::OffsetDateTime::now_utc());
        // Only the final stages carry the bodies, as upstream records them.
        let line = if stage == Stage::ResponseComplete || stage == Stage::Panic {
            serde_json::to_vec(&self.event)
        } else {
            let mut e = self.event.clone();
            e.response_object = None;
            if stage == Stage::RequestReceived {
                // A response status is known only once the response is.
                e.response_status = None;
            }
            serde_json::to_vec(&e)
        };
        match line {
            Ok(line) => self.sink.send(line),
            Err(e) => tracing::warn!(error = %e, "encoding an audit event"),
        }
    }
}

/// Emits `ResponseComplete` when a long-running response's body ends (or is dropped).
pub struct CompleteOnDrop(pub Option<Record>);

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        if let Some(mut r) = self.0.take() {
            r.emit(Stage::ResponseComplete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::attributes::from_request;

    fn record(
        level: &str,
        method: http::Method,
        path: &str,
    ) -> (Record, std::sync::mpsc::Receiver<Vec<u8>>) {
        let text = format!("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: {level}\n");
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        let auditor = Auditor {
            policy: Policy::parse(&text).unwrap(),
            sink: Arc::new(writer::Sink::for_test(tx)),
        };
        let a = from_request(&method, path, &Default::default());
        let r = auditor
            .begin("id-1", &UserInfo::anonymous(), &a, &RequestInfo::default())
            .unwrap();
        (r, rx)
    }

    #[test]
    fn secrets_never_carry_bodies() {
        let (mut r, rx) = record(
            "RequestResponse",
            http::Method::POST,
            "/api/v1/namespaces/a/secrets",
        );
        let body = Bytes::from(r#"{"kind":"Secret","stringData":{"password":"hunter2"}}"#);
        r.request_body(&http::HeaderMap::new(), &body);
        r.response(201, Some(&body));
        r.emit(Stage::ResponseComplete);
        let line = String::from_utf8(rx.recv().unwrap()).unwrap();
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains(r#""level":"Metadata""#), "{line}");
    }

    #[test]
    fn request_response_carries_both_bodies_on_complete_only() {
        let (mut r, rx) = record(
            "RequestResponse",
            http::Method::POST,
            "/api/v1/namespaces/a/configmaps",
        );
        r.emit(Stage::RequestReceived);
        let body = Bytes::from(
            r#"{"kind":"ConfigMap","metadata":{"name":"c","managedFields":[]},"data":{"k":"v"}}"#,
        );
        r.request_body(&http::HeaderMap::new(), &body);
        r.response(201, Some(&body));
        r.emit(Stage::ResponseComplete);
        let received: Value = serde_json::from_slice(&rx.recv().unwrap()).unwrap();
        let complete: Value = serde_json::from_slice(&rx.recv().unwrap()).unwrap();
        assert_eq!(received["stage"], "RequestReceived");
        assert!(received.get("responseStatus").is_none());
        assert_eq!(complete["requestObject"]["data"]["k"], "v");
        assert_eq!(complete["responseObject"]["kind"], "ConfigMap");
        assert_eq!(complete["responseStatus"]["code"], 201);
        assert_eq!(complete["objectRef"]["resource"], "configmaps");
        assert_eq!(complete["objectRef"]["apiVersion"], "v1");
    }

    #[test]
    fn omit_managed_fields_strips_both_bodies() {
        let (mut r, rx) = record(
            "RequestResponse\n  omitManagedFields: true",
            http::Method::POST,
            "/api/v1/namespaces/a/configmaps",
        );
        let body = Bytes::from(
            r#"{"kind":"ConfigMap","metadata":{"name":"c","managedFields":[{"manager":"m"}]}}"#,
        );
        r.request_body(&http::HeaderMap::new(), &body);
        r.response(201, Some(&body));
        r.emit(Stage::ResponseComplete);
        let line = String::from_utf8(rx.recv().unwrap()).unwrap();
        assert!(!line.contains("managedFields"), "{line}");
        assert!(line.contains(r#""name":"c""#), "{line}");
    }

    #[test]
    fn metadata_has_no_bodies() {
        let (mut r, rx) = record(
            "Metadata",
            http::Method::POST,
            "/api/v1/namespaces/a/configmaps",
        );
        let body = Bytes::from(r#"{"kind":"ConfigMap","data":{"k":"secret-ish"}}"#);
        r.request_body(&http::HeaderMap::new(), &body);
        r.response(201, Some(&body));
        r.emit(Stage::ResponseComplete);
        let line = String::from_utf8(rx.recv().unwrap()).unwrap();
        assert!(!line.contains("secret-ish"), "{line}");
    }
}
