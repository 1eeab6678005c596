//! RBAC evaluation over one snapshot of Roles, ClusterRoles and their bindings (pure): who a
//! binding names, what a rule grants, and every rule a user holds in a namespace.

use serde::Deserialize;
use serde_json::Value;

use super::Attributes;
use crate::auth::UserInfo;

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RoleRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// A RoleBinding (with its namespace) or a ClusterRoleBinding (namespace empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub namespace: String,
    pub subjects: Vec<Subject>,
    pub role_ref: RoleRef,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub namespace: String,
    pub rules: Vec<PolicyRule>,
}

/// Every RBAC object at one moment.
#[derive(Debug, Default)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<Role>,
    pub role_bindings: Vec<Binding>,
    pub cluster_role_bindings: Vec<Binding>,
    /// Built on first use: a policy is rebuilt only when an RBAC object changes, and is
    /// asked on every request, so lookups by name and namespace must not walk every object.
    pub(super) index: std::sync::OnceLock<Index>,
}

/// A copy is indexed afresh: its lists may be changed before it is asked.
impl Clone for Policy {
    fn clone(&self) -> Policy {
        Policy {
            roles: self.roles.clone(),
            cluster_roles: self.cluster_roles.clone(),
            role_bindings: self.role_bindings.clone(),
            cluster_role_bindings: self.cluster_role_bindings.clone(),
            index: Default::default(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Index {
    /// Position in `role_bindings` of each namespace's bindings.
    bindings_by_namespace: std::collections::HashMap<String, Vec<usize>>,
    /// (namespace, name) → position in `roles`.
    roles: std::collections::HashMap<(String, String), usize>,
    /// name → position in `cluster_roles`.
    cluster_roles: std::collections::HashMap<String, usize>,
}

impl Index {
    fn build(p: &Policy) -> Index {
        let mut index = Index::default();
        for (i, b) in p.role_bindings.iter().enumerate() {
            index
                .bindings_by_namespace
                .entry(b.namespace.clone())
                .or_default()
                .push(i);
        }
        for (i, r) in p.roles.iter().enumerate() {
            index
                .roles
                .entry((r.namespace.clone(), r.name.clone()))
                .or_insert(i);
        }
        for (i, r) in p.cluster_roles.iter().enumerate() {
            index.cluster_roles.entry(r.name.clone()).or_insert(i);
        }
        index
    }
}

fn str_of<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

pub fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

pub fn role_from(obj: &Value) -> Role {
    Role {
        name: str_of(obj, "/metadata/name").to_string(),
        namespace: str_of(obj, "/metadata/namespace").to_string(),
        rules: rules_of(obj),
    }
}

pub fn binding_from(obj: &Value) -> Binding {
    Binding {
        name: str_of(obj, "/metadata/name").to_string(),
        namespace: str_of(obj, "/metadata/namespace").to_string(),
        subjects: obj
            .get("subjects")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default(),
        role_ref: obj
            .get("roleRef")
            .cloned()
            .and_then(|r| serde_json::from_value(r).ok())
            .unwrap_or_default(),
    }
}

/// Whether `subject` of a binding in `binding_ns` names `user`.
pub fn subject_matches(subject: &Subject, binding_ns: &str, user: &UserInfo) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                binding_ns
            } else {
                &subject.namespace
            };
            // "system:serviceaccount:<ns>:<name>", compared without building the string.
            user.name
                .strip_prefix("system:serviceaccount:")
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(n, name)| n == ns && name == subject.name)
        }
        _ => false,
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether `rule` grants the request `a`.
pub fn rule_allows(rule: &PolicyRule, a: &Attributes) -> bool {
    if !has(&rule.verbs, &a.verb) {
        return false;
    }
    if !a.resource_request {
        return rule.non_resource_urls.iter().any(|u| {
            u == "*" || *u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
        });
    }
    if !has(&rule.api_groups, &a.api_group) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource_ok = rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!a.subresource.is_empty()
                && r.strip_prefix("*/").is_some_and(|s| s == a.subresource))
    });
    resource_ok
        && (rule.resource_names.is_empty()
            || (!a.name.is_empty() && rule.resource_names.contains(&a.name)))
}

impl Policy {
    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::build(self))
    }

    fn role_rules(&self, binding: &Binding) -> Option<&[PolicyRule]> {
        let r = &binding.role_ref;
        let index = self.index();
        let found = match r.kind.as_str() {
            "ClusterRole" => index
                .cluster_roles
                .get(&r.name)
                .and_then(|&i| self.cluster_roles.get(i)),
            "Role" => index
                .roles
                .get(&(binding.namespace.clone(), r.name.clone()))
                .and_then(|&i| self.roles.get(i)),
            _ => None,
        };
        found.map(|f| f.rules.as_slice())
    }

    /// The bindings that apply to `user` in `namespace` (cluster-wide ones first).
    fn bindings_for<'a>(
        &'a self,
        user: &'a UserInfo,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a Binding, &'a Subject)> + 'a {
        let in_namespace: &[usize] = match namespace {
            "" => &[],
            ns => self
                .index()
                .bindings_by_namespace
                .get(ns)
                .map_or(&[], Vec::as_slice),
        };
        let namespaced = in_namespace
            .iter()
            .filter_map(move |&i| self.role_bindings.get(i));
        self.cluster_role_bindings
            .iter()
            .chain(namespaced)
            .filter_map(move |b| {
                b.subjects
                    .iter()
                    .find(|s| subject_matches(s, &b.namespace, user))
                    .map(|s| (b, s))
            })
    }

    /// `Some(reason)` when a binding grants `a` to `user`, with upstream's reason wording.
    pub fn allows(&self, user: &UserInfo, a: &Attributes) -> Option<String> {
        for (binding, subject) in self.bindings_for(user, &a.namespace) {
            let Some(rules) = self.role_rules(binding) else {
                continue;
            };
            if rules.iter().any(|r| rule_allows(r, a)) {
                let which = if binding.namespace.is_empty() {
                    format!("ClusterRoleBinding {:?}", binding.name)
                } else {
                    format!("RoleBinding \"{}/{}\"", binding.name, binding.namespace)
                };
                let name = if subject.kind == "ServiceAccount" {
                    let ns = if subject.namespace.is_empty() {
                        &binding.namespace
                    } else {
                        &subject.namespace
                    };
                    format!("{ns}/{}", subject.name)
                } else {
                    subject.name.clone()
                };
                return Some(format!(
                    "RBAC: allowed by {which} of {} {:?} to {} {:?}",
                    binding.role_ref.kind, binding.role_ref.name, subject.kind, name
                ));
            }
        }
        None
    }

    /// Every rule `user` holds in `namespace` (cluster-wide ones included; `namespace`
    /// empty: cluster-wide ones only).
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut out = Vec::new();
        for (binding, _) in self.bindings_for(user, namespace) {
            if let Some(rules) = self.role_rules(binding) {
                out.extend(rules.iter().cloned());
            }
        }
        out
    }

    /// The rules a binding's role reference grants; `None` when the role does not exist.
    pub fn referenced_rules(&self, namespace: &str, role_ref: &RoleRef) -> Option<Vec<PolicyRule>> {
        let b = Binding {
            namespace: namespace.to_string(),
            role_ref: role_ref.clone(),
            ..Binding::default()
        };
        self.role_rules(&b).map(<[PolicyRule]>::to_vec)
    }
}

#[cfg(test)]
mod tests;
