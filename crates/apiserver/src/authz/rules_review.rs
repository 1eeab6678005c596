//! Access reviews answered by the authorizer: SelfSubjectAccessReview (`kubectl auth
//! can-i`), SubjectAccessReview, LocalSubjectAccessReview, and SelfSubjectRulesReview
//! (`kubectl auth can-i --list`).

use serde_json::{json, Value};

use super::rbac::{Policy, PolicyRule};
use super::{authorize, node, Attributes};
use crate::auth::UserInfo;
use crate::error::ApiError;
use crate::Api;

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

/// The attributes a review's `spec` asks about.
pub fn attributes_of(spec: &Value) -> Result<Attributes, ApiError> {
    if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            verb: str_at(r, "/verb").to_string(),
            resource_request: true,
            api_group: str_at(r, "/group").to_string(),
            api_version: str_at(r, "/version").to_string(),
            resource: str_at(r, "/resource").to_string(),
            subresource: str_at(r, "/subresource").to_string(),
            namespace: str_at(r, "/namespace").to_string(),
            name: str_at(r, "/name").to_string(),
            path: String::new(),
            field_selector: str_at(r, "/fieldSelector/rawSelector").to_string(),
        });
    }
    if let Some(n) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            verb: str_at(n, "/verb").to_string(),
            path: str_at(n, "/path").to_string(),
            ..Attributes::default()
        });
    }
    Err(ApiError::bad_request(
        "spec.resourceAttributes or spec.nonResourceAttributes is required",
    ))
}

/// A SubjectAccessReview's subject.
pub fn subject_of(spec: &Value) -> UserInfo {
    let strings = |p: &str| crate::objects::strings(spec.pointer(p));
    let extra = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), crate::objects::strings(Some(v))))
                .collect()
        })
        .unwrap_or_default();
    UserInfo {
        name: str_at(spec, "/user").to_string(),
        uid: str_at(spec, "/uid").to_string(),
        groups: strings("/groups"),
        extra,
    }
}

pub fn access_status(api: &Api, user: &UserInfo, a: &Attributes) -> Value {
    let d = authorize(api, user, a);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    status
}

/// Rules in the review's shape (pure).
pub fn rules_status(rules: &[PolicyRule], incomplete: bool) -> Value {
    let mut resource = Vec::new();
    let mut non_resource = Vec::new();
    for r in rules {
        if !r.non_resource_urls.is_empty() {
            non_resource.push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
        if !r.resources.is_empty() {
            let mut v =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                v["resourceNames"] = json!(r.resource_names);
            }
            resource.push(v);
        }
    }
    json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": incomplete})
}

pub fn rules_review(policy: &Policy, user: &UserInfo, namespace: &str) -> Value {
    let rules = if super::is_master(user) {
        vec![
            PolicyRule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..PolicyRule::default()
            },
            PolicyRule {
                verbs: vec!["*".into()],
                non_resource_urls: vec!["*".into()],
                ..PolicyRule::default()
            },
        ]
    } else {
        policy.rules_for(user, namespace)
    };
    // What the Node authorizer allows depends on each object and cannot be listed.
    rules_status(&rules, node::node_name(user).is_some())
}
