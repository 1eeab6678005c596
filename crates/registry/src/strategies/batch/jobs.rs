//! Jobs: defaults, the generated selector and labels, and the largely immutable spec.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Map, Value};

use crate::strategies::common::{
    immutable, nonnegative, selector_matches, validate_label_selector,
};
use crate::strategies::core::pod_spec::{default_pod_spec, validate_pod_template};
use crate::strategies::json::{
    bool_at, ensure_object, ensure_path, get, i64_at, object_at, set_default, str_at,
};
use crate::Strategy;

pub struct JobStrategy;

pub(crate) const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const LEGACY_JOB_NAME: &str = "job-name";

impl Strategy for JobStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(spec) = ensure_object(obj, "spec") else {
            return;
        };
        if get(spec, &["completions"]).is_none() && get(spec, &["parallelism"]).is_none() {
            spec["completions"] = json!(1);
            spec["parallelism"] = json!(1);
        }
        set_default(spec, "parallelism", json!(1));
        let backoff = if get(spec, &["backoffLimitPerIndex"]).is_some() {
            i64::from(i32::MAX)
        } else {
            6
        };
        set_default(spec, "backoffLimit", json!(backoff));
        set_default(spec, "completionMode", json!("NonIndexed"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "manualSelector", json!(false));
        let replacement = if get(spec, &["podFailurePolicy"]).is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        set_default(spec, "podReplacementPolicy", json!(replacement));
        if let Some(t) = spec.pointer_mut("/template/spec") {
            default_pod_spec(t);
        }
    }

    /// Generates the selector and pod labels from the uid the generic layer has just set.
    fn prepare_for_create(&self, obj: &mut Value) {
        let uid = str_at(obj, &["metadata", "uid"]).to_string();
        let name = str_at(obj, &["metadata", "name"]).to_string();
        if bool_at(obj, &["spec", "manualSelector"]) != Some(true) {
            if let Some(labels) = ensure_path(obj, &["spec", "template", "metadata", "labels"]) {
                for (k, v) in [
                    (LEGACY_CONTROLLER_UID, &uid),
                    (LEGACY_JOB_NAME, &name),
                    (CONTROLLER_UID, &uid),
                    (JOB_NAME, &name),
                ] {
                    set_default(labels, k, json!(v));
                }
            }
            if let Some(spec) = obj.get_mut("spec") {
                set_default(
                    spec,
                    "selector",
                    json!({"matchLabels": {CONTROLLER_UID: uid}}),
                );
            }
        }
        // Upstream defaults the job's labels from the template's whenever it decodes the
        // object, so clients see the generated labels on the job too.
        let template_labels = object_at(obj, &["spec", "template", "metadata", "labels"]).cloned();
        if let (Some(tl), Some(meta)) = (template_labels, ensure_object(obj, "metadata")) {
            if object_at(meta, &["labels"]).is_none_or(Map::is_empty) {
                meta["labels"] = Value::Object(tl);
            }
        }
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let mut errs = validate_job_spec(spec, &Path::new("spec"));
        if bool_at(spec, &["manualSelector"]) != Some(true) {
            let uid = str_at(obj, &["metadata", "uid"]);
            let expected = json!({"matchLabels": {CONTROLLER_UID: uid}});
            if let Some(sel) = get(spec, &["selector"]).filter(|s| **s != expected) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    sel.clone(),
                    "`selector` not auto-generated",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs =
            validate_job_spec(new.get("spec").unwrap_or(&Value::Null), &Path::new("spec"));
        let path = Path::new("spec");
        errs.extend(immutable(
            new,
            old,
            &["spec", "selector"],
            &path.child("selector"),
        ));
        errs.extend(immutable(
            new,
            old,
            &["spec", "completionMode"],
            &path.child("completionMode"),
        ));
        errs.extend(immutable(
            new,
            old,
            &["spec", "podFailurePolicy"],
            &path.child("podFailurePolicy"),
        ));
        errs.extend(immutable(
            new,
            old,
            &["spec", "backoffLimitPerIndex"],
            &path.child("backoffLimitPerIndex"),
        ));
        // An indexed job may scale when completions move together with parallelism.
        let elastic = str_at(new, &["spec", "completionMode"]) == "Indexed"
            && get(new, &["spec", "completions"]) == get(new, &["spec", "parallelism"])
            && get(old, &["spec", "completions"]) == get(old, &["spec", "parallelism"]);
        if !elastic {
            errs.extend(immutable(
                new,
                old,
                &["spec", "completions"],
                &path.child("completions"),
            ));
        }
        if !template_update_allowed(new, old) {
            errs.extend(immutable(
                new,
                old,
                &["spec", "template"],
                &path.child("template"),
            ));
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

/// A suspended job that never started may change its pods' scheduling directives.
fn template_update_allowed(new: &Value, old: &Value) -> bool {
    let suspended = bool_at(old, &["spec", "suspend"]) == Some(true)
        && get(old, &["status", "startTime"]).is_none();
    if !suspended {
        return false;
    }
    let strip = |obj: &Value| {
        let mut t = obj
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(spec) = t.get_mut("spec").and_then(Value::as_object_mut) {
            for k in ["nodeSelector", "affinity", "tolerations", "schedulingGates"] {
                spec.remove(k);
            }
        }
        if let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("labels");
            meta.remove("annotations");
        }
        t
    };
    strip(new) == strip(old)
}

/// Spec rules shared with a CronJob's `jobTemplate.spec`.
pub(crate) fn validate_job_spec(spec: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        errs.extend(nonnegative(spec, key, path));
    }
    if i64_at(spec, &["activeDeadlineSeconds"]) == Some(0) {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            0,
            "must be greater than 0",
        ));
    }
    match str_at(spec, &["completionMode"]) {
        "" | "NonIndexed" => {}
        "Indexed" => {
            if get(spec, &["completions"]).is_none() {
                errs.push(FieldError::required(
                    path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            path.child("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    let tpath = path.child("template");
    if let Some(sel) = get(spec, &["selector"]) {
        errs.extend(validate_label_selector(sel, &path.child("selector")));
        let labels = object_at(spec, &["template", "metadata", "labels"]);
        if !selector_matches(sel, labels) {
            errs.push(FieldError::invalid(
                tpath.child("metadata").child("labels"),
                labels.map_or(Value::Null, |l| Value::Object(l.clone())),
                "`selector` does not match template `labels`",
            ));
        }
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    errs.extend(validate_pod_template(template, &tpath));
    let restart = str_at(template, &["spec", "restartPolicy"]);
    if restart != "OnFailure" && restart != "Never" {
        errs.push(FieldError::not_supported(
            tpath.child("spec").child("restartPolicy"),
            restart,
            &["OnFailure", "Never"],
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::{messages, pretty};
    use expect_test::expect;

    fn created() -> Value {
        let mut job = json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5"}]}}}});
        JobStrategy.default(&mut job);
        JobStrategy.prepare_for_create(&mut job);
        job
    }

    #[test]
    fn create() {
        let mut job = created();
        job["spec"]["template"]["spec"] = json!("…");
        expect![[r#"
            {
              "metadata": {
                "name": "pi",
                "namespace": "default",
                "uid": "u-1",
                "labels": {
                  "controller-uid": "u-1",
                  "job-name": "pi",
                  "batch.kubernetes.io/controller-uid": "u-1",
                  "batch.kubernetes.io/job-name": "pi"
                }
              },
              "spec": {
                "template": {
                  "spec": "…",
                  "metadata": {
                    "labels": {
                      "controller-uid": "u-1",
                      "job-name": "pi",
                      "batch.kubernetes.io/controller-uid": "u-1",
                      "batch.kubernetes.io/job-name": "pi"
                    }
                  }
                },
                "completions": 1,
                "parallelism": 1,
                "backoffLimit": 6,
                "completionMode": "NonIndexed",
                "suspend": false,
                "manualSelector": false,
                "podReplacementPolicy": "TerminatingOrFailed",
                "selector": {
                  "matchLabels": {
                    "batch.kubernetes.io/controller-uid": "u-1"
                  }
                }
              },
              "status": {}
            }"#]]
        .assert_eq(&pretty(&job));
        assert_eq!(messages(&JobStrategy.validate(&created())), "");
    }

    #[test]
    fn errors() {
        let mut job = json!({"metadata": {"name": "pi", "uid": "u"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}});
        JobStrategy.default(&mut job);
        expect![[r#"
            spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`
            spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"
            spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` not auto-generated"#]]
        .assert_eq(&messages(&JobStrategy.validate(&job)));
    }

    #[test]
    fn template_is_immutable() {
        let old = created();
        let mut new = created();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:6");
        new["spec"]["parallelism"] = json!(3);
        let msgs = messages(&JobStrategy.validate_update(&new, &old));
        assert!(
            msgs.starts_with("spec.template: Invalid value: {"),
            "{msgs}"
        );
        assert!(msgs.ends_with("}: field is immutable"), "{msgs}");
        assert_eq!(msgs.lines().count(), 1);
    }
}
