//! Rules all four RBAC kinds share.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{is_dns1123_subdomain, is_valid_path_segment_name};
use serde_json::Value;

use crate::strategies::common::validate_label_selector;
use crate::strategies::json::{array_at, get, str_at};

pub(crate) const GROUP: &str = "rbac.authorization.k8s.io";

/// Upstream's `ValidatePolicyRule` for each of `rules`.
pub(crate) fn validate_rules(obj: &Value, namespaced: bool) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, rule) in array_at(obj, &["rules"]).iter().enumerate() {
        let p = Path::new("rules").index(i);
        if array_at(rule, &["verbs"]).is_empty() {
            errs.push(FieldError::required(
                p.child("verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = array_at(rule, &["nonResourceURLs"]);
        if !urls.is_empty() {
            if namespaced {
                errs.push(FieldError::invalid(
                    p.child("nonResourceURLs"),
                    Value::Array(urls.to_vec()),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !array_at(rule, &["apiGroups"]).is_empty()
                || !array_at(rule, &["resources"]).is_empty()
            {
                errs.push(FieldError::invalid(
                    p.child("nonResourceURLs"),
                    Value::Array(urls.to_vec()),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if array_at(rule, &["apiGroups"]).is_empty() {
            errs.push(FieldError::required(
                p.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if array_at(rule, &["resources"]).is_empty() {
            errs.push(FieldError::required(
                p.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

/// A ClusterRole's aggregation selectors.
pub(crate) fn validate_aggregation(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, sel) in array_at(obj, &["aggregationRule", "clusterRoleSelectors"])
        .iter()
        .enumerate()
    {
        errs.extend(validate_label_selector(
            sel,
            &Path::new("aggregationRule")
                .child("clusterRoleSelectors")
                .index(i),
        ));
    }
    errs
}

/// roleRef and subjects of a (Cluster)RoleBinding.
pub(crate) fn validate_binding(obj: &Value, namespaced: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let rr = Path::new("roleRef");
    let api_group = str_at(obj, &["roleRef", "apiGroup"]);
    if api_group != GROUP {
        errs.push(FieldError::not_supported(
            rr.child("apiGroup"),
            api_group,
            &[GROUP],
        ));
    }
    let kind = str_at(obj, &["roleRef", "kind"]);
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported(rr.child("kind"), kind, kinds));
    }
    let name = str_at(obj, &["roleRef", "name"]);
    if name.is_empty() {
        errs.push(FieldError::required(rr.child("name"), ""));
    } else {
        for msg in is_valid_path_segment_name(name) {
            errs.push(FieldError::invalid(rr.child("name"), name, msg));
        }
    }
    for (i, subject) in array_at(obj, &["subjects"]).iter().enumerate() {
        validate_subject(
            subject,
            &Path::new("subjects").index(i),
            namespaced,
            &mut errs,
        );
    }
    errs
}

fn validate_subject(s: &Value, p: &Path, namespaced: bool, errs: &mut FieldErrors) {
    let name = str_at(s, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required(p.child("name"), ""));
    }
    let api_group = str_at(s, &["apiGroup"]);
    match str_at(s, &["kind"]) {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in is_dns1123_subdomain(name) {
                    errs.push(FieldError::invalid(p.child("name"), name, msg));
                }
            }
            if !api_group.is_empty() {
                errs.push(FieldError::not_supported(
                    p.child("apiGroup"),
                    api_group,
                    &[""],
                ));
            }
            if !namespaced
                && get(s, &["namespace"])
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                errs.push(FieldError::required(p.child("namespace"), ""));
            }
        }
        "User" | "Group" => {
            if api_group != GROUP {
                errs.push(FieldError::not_supported(
                    p.child("apiGroup"),
                    api_group,
                    &[GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            p.child("kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

/// `roleRef` never changes; upstream says so in its own words.
pub(crate) fn validate_role_ref_update(new: &Value, old: &Value) -> FieldErrors {
    if get(new, &["roleRef"]) == get(old, &["roleRef"]) {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            "roleRef",
            get(new, &["roleRef"]).cloned().unwrap_or(Value::Null),
            "cannot change roleRef",
        )]
    }
}
