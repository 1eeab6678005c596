//! Authorization, as upstream's apiserver configured with `--authorization-mode=Node,RBAC`:
//! every request after authentication is described by [`Attributes`] (`attributes.rs`) and
//! allowed when the caller is in `system:masters`, when the Node authorizer allows a node
//! what its pods need (`node.rs`), or when an RBAC binding grants it (`rbac.rs`, over a
//! [`rbac::Policy`] read from the watch cache and rebuilt only when an RBAC object
//! changed). `default_roles.rs` holds the roles and bindings every cluster starts with,
//! `component_roles.rs` those of skiff's own controller manager and scheduler;
//! `escalation.rs` keeps Role and binding writes from granting more than the writer holds;
//! `impersonation.rs` serves `Impersonate-User`/`Impersonate-Group`; `rules_review.rs`
//! answers the access reviews.

pub mod attributes;
pub mod component_roles;
pub mod default_roles;
pub mod escalation;
pub mod impersonation;
pub mod node;
pub mod rbac;
pub mod rules_review;

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::auth::UserInfo;
use crate::error::{qualified, ApiError};
use crate::watch_cache::WatchCache;
use crate::Api;

pub const MASTERS: &str = "system:masters";

/// What a request asks to do, as upstream's authorizer attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// A request for a resource (else for a non-resource `path`).
    pub resource_request: bool,
    pub api_group: String,
    /// The version in the path (the audit log's `objectRef.apiVersion`).
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
    /// The `fieldSelector` of a list or watch (the Node authorizer reads it).
    pub field_selector: String,
}

impl Attributes {
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            ..Attributes::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why: which binding allowed it, or what the Node authorizer found missing.
    pub reason: String,
}

/// The parsed RBAC policy, rebuilt when the RBAC objects in the watch cache change.
#[derive(Default)]
pub struct Authorizer {
    /// The policy and the last RBAC change it reflects.
    cached: Mutex<Option<(i64, Arc<rbac::Policy>)>>,
}

const KINDS: [&str; 4] = [
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
];

pub(crate) fn storage_prefix(group: &str, plural: &str) -> String {
    registry::catalog::find(group, "v1", plural)
        .map(|i| format!("/registry/{}/", i.storage_prefix))
        .unwrap_or_else(|| format!("/registry/{plural}/"))
}

impl Authorizer {
    /// The current policy: the watch cache's revision of the last RBAC change (O(1) per
    /// request) decides whether the cached parse still holds, so a write is seen by the
    /// next request and nothing is listed otherwise.
    pub fn policy(&self, cache: &WatchCache) -> Arc<rbac::Policy> {
        let changed = KINDS
            .iter()
            .map(|k| cache.last_change(&storage_prefix(rbac_group(), k)))
            .max()
            .unwrap_or(0);
        let Ok(mut cached) = self.cached.lock() else {
            return Arc::new(build_from(cache));
        };
        if let Some((at, policy)) = cached.as_ref() {
            if *at == changed {
                return policy.clone();
            }
        }
        let policy = Arc::new(build_from(cache));
        *cached = Some((changed, policy.clone()));
        policy
    }
}

fn build_from(cache: &WatchCache) -> rbac::Policy {
    let lists: Vec<_> = KINDS
        .iter()
        .map(|k| cache.list(&storage_prefix(rbac_group(), k)).0)
        .collect();
    build(&lists)
}

fn rbac_group() -> &'static str {
    "rbac.authorization.k8s.io"
}

fn build(lists: &[Vec<Arc<crate::watch_cache::CachedObject>>]) -> rbac::Policy {
    let values = |i: usize| lists[i].iter().map(|o| o.value()).collect::<Vec<_>>();
    rbac::Policy {
        roles: values(0).iter().map(rbac::role_from).collect(),
        cluster_roles: values(1).iter().map(rbac::role_from).collect(),
        role_bindings: values(2).iter().map(rbac::binding_from).collect(),
        cluster_role_bindings: values(3).iter().map(rbac::binding_from).collect(),
        ..Default::default()
    }
}

pub fn is_master(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == MASTERS)
}

/// Node, then RBAC; `system:masters` is allowed everything first.
pub fn authorize(api: &Api, user: &UserInfo, a: &Attributes) -> Decision {
    if is_master(user) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut reason = String::new();
    if let Some(node) = node::node_name(user) {
        match node::authorize(api, node, a) {
            node::Verdict::Allow => {
                return Decision {
                    allowed: true,
                    reason: String::new(),
                }
            }
            node::Verdict::NoOpinion(why) => reason = why,
        }
    }
    let policy = api.authz.policy(&api.cache);
    match policy.allows(user, a) {
        Some(why) => Decision {
            allowed: true,
            reason: why,
        },
        None => Decision {
            allowed: false,
            reason,
        },
    }
}

/// Upstream's 403 for a refused request: `pods "x" is forbidden: User "alice" cannot get
/// resource "pods" in API group "" in the namespace "ns"`.
pub fn forbidden(user: &UserInfo, a: &Attributes, reason: &str) -> ApiError {
    let mut message = if a.resource_request {
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", a.namespace)
        };
        let what = qualified(&a.api_group, &a.resource);
        let subject = if a.name.is_empty() {
            what
        } else {
            format!("{what} {:?}", a.name)
        };
        format!(
            "{subject} is forbidden: User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            user.name, a.verb, a.api_group
        )
    } else {
        format!(
            "forbidden: User {:?} cannot {} path {:?}",
            user.name, a.verb, a.path
        )
    };
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    let mut details = serde_json::Map::new();
    if !a.name.is_empty() {
        details.insert("name".into(), json!(a.name));
    }
    if !a.api_group.is_empty() {
        details.insert("group".into(), json!(a.api_group));
    }
    if !a.resource.is_empty() {
        details.insert("kind".into(), json!(a.resource));
    }
    ApiError {
        details: Some(serde_json::Value::Object(details)),
        ..ApiError::forbidden(message)
    }
}

/// Paths anyone may read whatever the policy says (`auth::public_route`).
fn always_public(path: &str) -> bool {
    matches!(
        path,
        "/cacerts" | "/.well-known/openid-configuration" | "/openid/v1/jwks"
    )
}

/// A refusal and the authorizer's reason (boxed: it is large).
pub type Refused = Box<(ApiError, String)>;

/// Runs after authentication, before any handler: impersonation, then the decision; a
/// refusal ends the request with upstream's 403.
/// `Ok` carries the allowing reason, `Err` the refusal and why (both for the audit log).
pub fn filter(
    api: &Api,
    mut req: http::Request<hyper::body::Incoming>,
    a: &Attributes,
) -> Result<(http::Request<hyper::body::Incoming>, String), Refused> {
    if always_public(&a.path) {
        return Ok((req, String::new()));
    }
    let mut user = req
        .extensions()
        .get::<Arc<UserInfo>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(UserInfo::anonymous()));
    match impersonation::impersonate(api, &user, req.headers()) {
        Ok(Some(as_user)) => {
            user = Arc::new(as_user);
            req.extensions_mut().insert(user.clone());
        }
        Ok(None) => {}
        Err(e) => {
            let why = e.message.clone();
            return Err(Box::new((e, why)));
        }
    }
    let d = authorize(api, &user, a);
    if d.allowed {
        // A WebSocket exec, attach or port-forward starts as a GET, yet runs something:
        // it also needs `create`, as upstream checks since 1.35.
        let streaming = a.resource_request
            && a.api_group.is_empty()
            && a.resource == "pods"
            && matches!(a.subresource.as_str(), "exec" | "attach" | "portforward");
        if streaming && a.verb == "get" {
            let create = Attributes {
                verb: "create".into(),
                ..a.clone()
            };
            let d = authorize(api, &user, &create);
            if !d.allowed {
                return Err(Box::new((forbidden(&user, &create, &d.reason), d.reason)));
            }
        }
        return Ok((req, d.reason));
    }
    tracing::debug!(user = %user.name, verb = %a.verb, resource = %a.resource, path = %a.path, "forbidden");
    Err(Box::new((forbidden(&user, a, &d.reason), d.reason)))
}

#[cfg(test)]
mod tests;
