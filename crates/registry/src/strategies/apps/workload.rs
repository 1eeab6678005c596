//! Rules the replicated workloads share: a required selector that matches the template's
//! labels, a template whose pods restart `Always`, and an immutable selector.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

use crate::strategies::common::{
    immutable, selector_is_empty, selector_matches, validate_label_selector,
};
use crate::strategies::core::pod_spec::{default_pod_spec, validate_pod_template};
use crate::strategies::json::{get, object_at, str_at};

/// Defaults the pod spec of `spec.template`.
pub(crate) fn default_template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
}

/// `kind` is how upstream names the kind in its messages (`deployment`, `ReplicaSet`).
pub(crate) struct TemplateRules {
    pub empty_selector_kind: &'static str,
    pub deadline_kind: &'static str,
}

/// Upstream's selector checks and `ValidatePodTemplateSpecForReplicaSet` (and its siblings).
pub(crate) fn validate_selector_and_template(spec: &Value, rules: &TemplateRules) -> FieldErrors {
    let mut errs = Vec::new();
    let path = Path::new("spec");
    let selector = get(spec, &["selector"]);
    match selector {
        None => errs.push(FieldError::required(path.child("selector"), "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &path.child("selector")));
            if selector_is_empty(sel) {
                errs.push(FieldError::invalid(
                    path.child("selector"),
                    sel.clone(),
                    format!(
                        "empty selector is invalid for {}",
                        rules.empty_selector_kind
                    ),
                ));
            }
        }
    }
    let tpath = path.child("template");
    let Some(template) = get(spec, &["template"]) else {
        errs.push(FieldError::required(tpath, ""));
        return errs;
    };
    if let Some(sel) = selector.filter(|s| !selector_is_empty(s)) {
        let labels = object_at(template, &["metadata", "labels"]);
        if !selector_matches(sel, labels) {
            errs.push(FieldError::invalid(
                tpath.child("metadata").child("labels"),
                labels.map_or(Value::Null, |l| Value::Object(l.clone())),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs.extend(validate_pod_template(template, &tpath));
    let restart = str_at(template, &["spec", "restartPolicy"]);
    if !restart.is_empty() && restart != "Always" {
        errs.push(FieldError::not_supported(
            tpath.child("spec").child("restartPolicy"),
            restart,
            &["Always"],
        ));
    }
    if get(template, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(FieldError::forbidden(
            tpath.child("spec").child("activeDeadlineSeconds"),
            format!(
                "activeDeadlineSeconds in {} is not Supported",
                rules.deadline_kind
            ),
        ));
    }
    errs
}

/// The selector of an apps/v1 workload never changes.
pub(crate) fn selector_immutable(new: &Value, old: &Value) -> FieldErrors {
    immutable(
        new,
        old,
        &["spec", "selector"],
        &Path::new("spec").child("selector"),
    )
}
