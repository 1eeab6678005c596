//! Escalation prevention, as upstream's RBAC storage: a Role or ClusterRole may only grant
//! what its writer already holds (or the writer has `escalate` on it), and a binding may
//! only reference a role whose rules its writer holds (or the writer has `bind` on it).
//! `system:masters` is never refused. Coverage and the missing rules' wording are pure.

use std::collections::BTreeMap;

use serde_json::Value;

use super::rbac::{PolicyRule, RoleRef};
use super::{authorize, is_master, Attributes};
use crate::auth::UserInfo;
use crate::error::{qualified, ApiError, ApiResult};
use crate::rest::Scope;

const RBAC: &str = "rbac.authorization.k8s.io";

/// One verb on one resource (or URL) and at most one name: the unit coverage is decided in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    Resource {
        group: String,
        resource: String,
        name: Option<String>,
        verb: String,
    },
    Url {
        url: String,
        verb: String,
    },
}

fn atoms(rule: &PolicyRule) -> Vec<Atom> {
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for url in &rule.non_resource_urls {
            out.push(Atom::Url {
                url: url.clone(),
                verb: verb.clone(),
            });
        }
        for group in &rule.api_groups {
            for resource in &rule.resources {
                let names: Vec<Option<String>> = if rule.resource_names.is_empty() {
                    vec![None]
                } else {
                    rule.resource_names.iter().cloned().map(Some).collect()
                };
                for name in names {
                    out.push(Atom::Resource {
                        group: group.clone(),
                        resource: resource.clone(),
                        name,
                        verb: verb.clone(),
                    });
                }
            }
        }
    }
    out
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

fn covers(owner: &PolicyRule, atom: &Atom) -> bool {
    match atom {
        Atom::Url { url, verb } => {
            has(&owner.verbs, verb)
                && owner.non_resource_urls.iter().any(|u| {
                    u == "*" || u == url || u.strip_suffix('*').is_some_and(|p| url.starts_with(p))
                })
        }
        Atom::Resource {
            group,
            resource,
            name,
            verb,
        } => {
            let sub = resource.split_once('/').map(|(_, s)| s);
            has(&owner.verbs, verb)
                && has(&owner.api_groups, group)
                && owner.resources.iter().any(|r| {
                    r == "*"
                        || r == resource
                        || sub.is_some_and(|s| r.strip_prefix("*/") == Some(s))
                })
                && (owner.resource_names.is_empty()
                    || name
                        .as_ref()
                        .is_some_and(|n| owner.resource_names.contains(n)))
        }
    }
}

/// The rules of `requested` that `owner` does not cover, compacted as upstream reports
/// them: one rule per group, resource and name with its verbs.
pub fn uncovered(owner: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut missing: BTreeMap<(bool, String, String, Option<String>), Vec<String>> =
        BTreeMap::new();
    for rule in requested {
        for atom in atoms(rule) {
            if owner.iter().any(|o| covers(o, &atom)) {
                continue;
            }
            let (key, verb) = match atom {
                Atom::Url { url, verb } => ((true, String::new(), url, None), verb),
                Atom::Resource {
                    group,
                    resource,
                    name,
                    verb,
                } => ((false, group, resource, name), verb),
            };
            let verbs = missing.entry(key).or_default();
            if !verbs.contains(&verb) {
                verbs.push(verb);
            }
        }
    }
    missing
        .into_iter()
        .map(|((url, group, resource, name), verbs)| {
            if url {
                PolicyRule {
                    verbs,
                    non_resource_urls: vec![resource],
                    ..PolicyRule::default()
                }
            } else {
                PolicyRule {
                    verbs,
                    api_groups: vec![group],
                    resources: vec![resource],
                    resource_names: name.into_iter().collect(),
                    ..PolicyRule::default()
                }
            }
        })
        .collect()
}

fn quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// `{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`, as upstream prints a rule.
pub fn rule_string(r: &PolicyRule) -> String {
    let mut parts = Vec::new();
    if !r.api_groups.is_empty() {
        parts.push(format!("APIGroups:{}", quoted(&r.api_groups)));
    }
    if !r.resources.is_empty() {
        parts.push(format!("Resources:{}", quoted(&r.resources)));
    }
    if !r.resource_names.is_empty() {
        parts.push(format!("ResourceNames:{}", quoted(&r.resource_names)));
    }
    if !r.non_resource_urls.is_empty() {
        parts.push(format!("NonResourceURLs:{}", quoted(&r.non_resource_urls)));
    }
    parts.push(format!("Verbs:{}", quoted(&r.verbs)));
    format!("{{{}}}", parts.join(", "))
}

pub fn escalation_message(user: &UserInfo, missing: &[PolicyRule]) -> String {
    let rules: Vec<String> = missing.iter().map(rule_string).collect();
    format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        quoted(&user.groups),
        rules.join("\n")
    )
}

fn forbidden(scope: &Scope<'_>, name: &str, why: String) -> ApiError {
    let what = qualified(scope.info.group, scope.info.plural);
    ApiError {
        details: Some(crate::error::details(
            scope.info.group,
            scope.info.plural,
            name,
        )),
        ..ApiError::forbidden(format!("{what} {name:?} is forbidden: {why}"))
    }
}

/// Whether the writer may `verb` (escalate, bind) the role `role_plural`/`name`.
fn may(scope: &Scope<'_>, verb: &str, role_plural: &str, name: &str, ns: &str) -> bool {
    let a = Attributes {
        name: name.to_string(),
        ..Attributes::resource(verb, RBAC, role_plural, ns)
    };
    authorize(scope.api, scope.user, &a).allowed
}

fn namespace_of(scope: &Scope<'_>) -> String {
    scope.namespace.clone().unwrap_or_default()
}

fn check_rules(scope: &Scope<'_>, name: &str, rules: &[PolicyRule]) -> ApiResult<()> {
    let ns = namespace_of(scope);
    let held = scope
        .api
        .authz
        .policy(&scope.api.cache)
        .rules_for(scope.user, &ns);
    let missing = uncovered(&held, rules);
    if missing.is_empty() {
        return Ok(());
    }
    Err(forbidden(
        scope,
        name,
        escalation_message(scope.user, &missing),
    ))
}

/// A Role or ClusterRole create or update (`old` for updates).
pub fn check_role(scope: &Scope<'_>, new: &Value, old: Option<&Value>) -> ApiResult<()> {
    if is_master(scope.user) {
        return Ok(());
    }
    let rules = super::rbac::rules_of(new);
    let aggregation = new.get("aggregationRule").filter(|v| !v.is_null());
    if let Some(old) = old {
        let unchanged = super::rbac::rules_of(old) == rules
            && old.get("aggregationRule").filter(|v| !v.is_null()) == aggregation;
        if unchanged {
            return Ok(());
        }
    }
    let name = crate::objects::name(new).to_string();
    if may(
        scope,
        "escalate",
        scope.info.plural,
        &name,
        &namespace_of(scope),
    ) {
        return Ok(());
    }
    if aggregation.is_some() {
        return Err(forbidden(
            scope,
            &name,
            "must have cluster-admin privileges to use the aggregationRule".into(),
        ));
    }
    check_rules(scope, &name, &rules)
}

/// A RoleBinding or ClusterRoleBinding create or update.
pub fn check_binding(scope: &Scope<'_>, new: &Value, old: Option<&Value>) -> ApiResult<()> {
    if is_master(scope.user) {
        return Ok(());
    }
    let binding = super::rbac::binding_from(new);
    if let Some(old) = old {
        let before = super::rbac::binding_from(old);
        if before.role_ref == binding.role_ref && before.subjects == binding.subjects {
            return Ok(());
        }
    }
    let ns = namespace_of(scope);
    let RoleRef { kind, name: role } = &binding.role_ref;
    let role_plural = if kind == "Role" {
        "roles"
    } else {
        "clusterroles"
    };
    if may(scope, "bind", role_plural, role, &ns) {
        return Ok(());
    }
    let policy = scope.api.authz.policy(&scope.api.cache);
    let Some(rules) = policy.referenced_rules(&ns, &binding.role_ref) else {
        return Err(ApiError::not_found(RBAC, role_plural, role));
    };
    check_rules(scope, &binding.name, &rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    fn rules(v: serde_json::Value) -> Vec<PolicyRule> {
        serde_json::from_value(v).expect("rules")
    }

    fn check(owner: serde_json::Value, requested: serde_json::Value, want: Expect) {
        let missing = uncovered(&rules(owner), &rules(requested));
        let text: Vec<String> = missing.iter().map(rule_string).collect();
        want.assert_eq(&text.join("\n"));
    }

    #[test]
    fn coverage() {
        // Everything is covered by the star rule.
        check(
            serde_json::json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            serde_json::json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "delete"]}]),
            expect![""],
        );
        // Only what is missing is reported, verbs compacted per resource.
        check(
            serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
            serde_json::json!([{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "delete"]}]),
            expect![[r#"
                {APIGroups:[""], Resources:["pods"], Verbs:["delete"]}
                {APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}"#]],
        );
        // A named grant is covered by an unnamed one, not the other way round.
        check(
            serde_json::json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]}]),
            serde_json::json!([
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a", "b"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
            ]),
            expect![[r#"
                {APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}
                {APIGroups:[""], Resources:["configmaps"], ResourceNames:["b"], Verbs:["get"]}"#]],
        );
        // `*/scale` covers every scale subresource; a star request needs a star grant.
        check(
            serde_json::json!([{"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}]),
            serde_json::json!([{"apiGroups": ["apps"], "resources": ["deployments/scale", "*"], "verbs": ["update"]}]),
            expect![[r#"{APIGroups:["apps"], Resources:["*"], Verbs:["update"]}"#]],
        );
        // Non-resource URLs, with trailing-star prefixes.
        check(
            serde_json::json!([{"nonResourceURLs": ["/apis/*", "/healthz"], "verbs": ["get"]}]),
            serde_json::json!([{"nonResourceURLs": ["/apis/apps", "/healthz", "/metrics"], "verbs": ["get"]}]),
            expect![[r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#]],
        );
    }

    #[test]
    fn message() {
        let user = UserInfo {
            name: "alice".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            ..UserInfo::default()
        };
        let missing = rules(
            serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]),
        );
        expect![[r#"
            user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
            {APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#]]
        .assert_eq(&escalation_message(&user, &missing));
    }
}
