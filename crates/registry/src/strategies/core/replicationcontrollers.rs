//! ReplicationControllers: like ReplicaSets, but with a plain map selector that defaults to
//! the template's labels.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::validate_labels;
use serde_json::{json, Map, Value};

use super::pod_spec::{default_pod_spec, validate_pod_template};
use crate::strategies::common::nonnegative;
use crate::strategies::json::{ensure_object, get, object_at, set_default, str_at};
use crate::Strategy;

pub struct ReplicationControllerStrategy;

impl Strategy for ReplicationControllerStrategy {
    fn default(&self, obj: &mut Value) {
        let labels = object_at(obj, &["spec", "template", "metadata", "labels"]).cloned();
        if let Some(labels) = labels {
            if object_at(obj, &["spec", "selector"]).is_none_or(Map::is_empty) {
                obj["spec"]["selector"] = Value::Object(labels.clone());
            }
            if let Some(meta) = ensure_object(obj, "metadata") {
                if object_at(meta, &["labels"]).is_none_or(Map::is_empty) {
                    meta["labels"] = Value::Object(labels);
                }
            }
        }
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "replicas", json!(1));
        }
        if let Some(t) = obj.pointer_mut("/spec/template/spec") {
            default_pod_spec(t);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = nonnegative(spec, "replicas", &path);
        errs.extend(nonnegative(spec, "minReadySeconds", &path));
        let selector = object_at(spec, &["selector"]).filter(|s| !s.is_empty());
        match selector {
            None => errs.push(FieldError::required(path.child("selector"), "")),
            Some(_) => errs.extend(validate_labels(
                get(spec, &["selector"]),
                path.child("selector").as_str(),
            )),
        }
        let tpath = path.child("template");
        let Some(template) = get(spec, &["template"]) else {
            errs.push(FieldError::required(tpath, ""));
            return errs;
        };
        let labels = object_at(template, &["metadata", "labels"]);
        if let Some(sel) = selector {
            if !sel
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            {
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
                "activeDeadlineSeconds in ReplicationController is not Supported",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;

    #[test]
    fn selector_defaults_to_template_labels() {
        let mut rc = json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        ReplicationControllerStrategy.default(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(rc["spec"]["replicas"], json!(1));
        assert_eq!(messages(&ReplicationControllerStrategy.validate(&rc)), "");
        rc["spec"]["selector"] = json!({"app": "y"});
        assert_eq!(
            messages(&ReplicationControllerStrategy.validate(&rc)),
            "spec.template.metadata.labels: Invalid value: {\"app\":\"x\"}: `selector` does not match template `labels`"
        );
    }
}
