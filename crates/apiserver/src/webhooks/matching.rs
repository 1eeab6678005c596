//! Which requests a webhook or policy applies to: rules (operations, groups, versions,
//! resources with subresources, scope), `matchPolicy`, and the namespace and object label
//! selectors. Pure: the caller gathers the namespace's labels.

use apimachinery::selector::LabelSelector;
use serde_json::{Map, Value};

use super::config::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// What admission knows about one request.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub operation: Operation,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    /// Empty for the main resource.
    pub subresource: &'a str,
    pub namespaced: bool,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    /// Other versions the same resource is served at (`matchPolicy: Equivalent`).
    pub served_versions: &'a [&'a str],
}

fn matches_list(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

/// `resources` entries are `res`, `res/sub`, `*`, `*/sub`, `res/*`, `*/*`; `*` alone does
/// not cover subresources.
fn matches_resource(list: &[String], resource: &str, subresource: &str) -> bool {
    list.iter().any(|entry| {
        let (r, s) = entry.split_once('/').unwrap_or((entry, ""));
        let resource_ok = r == "*" || r == resource;
        let sub_ok = if subresource.is_empty() {
            s.is_empty()
        } else {
            s == "*" || s == subresource
        };
        resource_ok && sub_ok
    })
}

fn matches_scope(scope: Option<&str>, namespaced: bool) -> bool {
    match scope.unwrap_or("*") {
        "Cluster" => !namespaced,
        "Namespaced" => namespaced,
        _ => true,
    }
}

/// One rule against the request. With `equivalent`, a rule naming another version at
/// which this resource is served still matches (skiff serves one schema per resource, so
/// no conversion is needed).
pub fn rule_matches(rule: &Rule, attrs: &Attributes<'_>, equivalent: bool) -> bool {
    let version_ok = matches_list(&rule.api_versions, attrs.version)
        || (equivalent
            && attrs
                .served_versions
                .iter()
                .any(|v| matches_list(&rule.api_versions, v)));
    matches_list(&rule.operations, attrs.operation.as_str())
        && matches_list(&rule.api_groups, attrs.group)
        && version_ok
        && matches_resource(&rule.resources, attrs.resource, attrs.subresource)
        && matches_scope(rule.scope.as_deref(), attrs.namespaced)
        && (rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == attrs.name))
}

pub fn any_rule_matches(
    rules: &[Rule],
    attrs: &Attributes<'_>,
    match_policy: Option<&str>,
) -> bool {
    // v1 defaults to Equivalent.
    let equivalent = match_policy != Some("Exact");
    rules.iter().any(|r| rule_matches(r, attrs, equivalent))
}

fn labels(obj: Option<&Value>) -> Option<&Map<String, Value>> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
}

/// A selector that does not parse matches nothing: the safer reading for admission,
/// and validation keeps such selectors out of stored objects anyway.
fn selector_matches(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    match selector {
        None | Some(Value::Null) => true,
        Some(s) => LabelSelector::from_object(s).is_ok_and(|sel| sel.matches(labels)),
    }
}

/// `namespaceSelector`: cluster-scoped requests other than namespaces always match; a
/// Namespace is matched by its own labels; everything else by its namespace's labels
/// (`namespace_labels`, empty if the namespace is not known).
pub fn namespace_selector_matches(
    selector: Option<&Value>,
    attrs: &Attributes<'_>,
    namespace_labels: Option<&Map<String, Value>>,
) -> bool {
    let empty = Map::new();
    if attrs.group.is_empty() && attrs.resource == "namespaces" {
        let own = labels(attrs.object).or(labels(attrs.old_object));
        return selector_matches(selector, own.unwrap_or(&empty));
    }
    if !attrs.namespaced {
        return true;
    }
    selector_matches(selector, namespace_labels.unwrap_or(&empty))
}

/// `objectSelector`: the new object's labels or the old object's (so a label removed by
/// an update, or a deleted object's labels, still select it).
pub fn object_selector_matches(selector: Option<&Value>, attrs: &Attributes<'_>) -> bool {
    let empty = Map::new();
    let new = attrs
        .object
        .map(|o| selector_matches(selector, labels(Some(o)).unwrap_or(&empty)));
    let old = attrs
        .old_object
        .map(|o| selector_matches(selector, labels(Some(o)).unwrap_or(&empty)));
    match (new, old) {
        (None, None) => selector_matches(selector, &empty),
        (a, b) => a.unwrap_or(false) || b.unwrap_or(false),
    }
}

/// Resources whose writes never reach webhooks or policies, as upstream exempts them: a
/// broken webhook or policy could otherwise never be removed.
pub fn exempt(group: &str, resource: &str) -> bool {
    group == "admissionregistration.k8s.io"
        && matches!(
            resource,
            "mutatingwebhookconfigurations"
                | "validatingwebhookconfigurations"
                | "validatingadmissionpolicies"
                | "validatingadmissionpolicybindings"
                | "mutatingadmissionpolicies"
                | "mutatingadmissionpolicybindings"
        )
}

#[cfg(test)]
mod tests;
