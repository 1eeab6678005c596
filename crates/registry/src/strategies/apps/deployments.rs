//! Deployments.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use super::workload::{
    default_template, selector_immutable, validate_selector_and_template, TemplateRules,
};
use crate::strategies::common::{
    int_or_percent, int_or_percent_is_zero, nonnegative, not_more_than_100_percent,
};
use crate::strategies::json::{ensure_object, get, i64_at, set_default, str_at};
use crate::Strategy;

pub struct DeploymentStrategy;

const RULES: TemplateRules = TemplateRules {
    empty_selector_kind: "deployment",
    deadline_kind: "ReplicaSet",
};

impl Strategy for DeploymentStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            if let Some(strategy) = ensure_object(spec, "strategy") {
                set_default(strategy, "type", json!("RollingUpdate"));
                if str_at(strategy, &["type"]) == "RollingUpdate" {
                    if let Some(ru) = ensure_object(strategy, "rollingUpdate") {
                        set_default(ru, "maxUnavailable", json!("25%"));
                        set_default(ru, "maxSurge", json!("25%"));
                    }
                }
            }
        }
        default_template(obj);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        for key in [
            "replicas",
            "minReadySeconds",
            "revisionHistoryLimit",
            "progressDeadlineSeconds",
        ] {
            errs.extend(nonnegative(spec, key, &path));
        }
        if let Some(pds) = i64_at(spec, &["progressDeadlineSeconds"]) {
            if pds <= i64_at(spec, &["minReadySeconds"]).unwrap_or(0) {
                errs.push(FieldError::invalid(
                    path.child("progressDeadlineSeconds"),
                    pds,
                    "must be greater than minReadySeconds",
                ));
            }
        }
        errs.extend(validate_selector_and_template(spec, &RULES));
        errs.extend(validate_strategy(
            spec.get("strategy").unwrap_or(&Value::Null),
            &path.child("strategy"),
        ));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(selector_immutable(new, old));
        errs
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

fn validate_strategy(strategy: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let rolling = get(strategy, &["rollingUpdate"]);
    match str_at(strategy, &["type"]) {
        "Recreate" => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match rolling {
            None => errs.push(FieldError::required(
                path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let p = path.child("rollingUpdate");
                let max_unavailable = get(ru, &["maxUnavailable"]);
                let max_surge = get(ru, &["maxSurge"]);
                errs.extend(int_or_percent(max_unavailable, &p.child("maxUnavailable")));
                errs.extend(int_or_percent(max_surge, &p.child("maxSurge")));
                if int_or_percent_is_zero(max_unavailable) && int_or_percent_is_zero(max_surge) {
                    errs.push(FieldError::invalid(
                        p.child("maxUnavailable"),
                        max_unavailable.cloned().unwrap_or(Value::Null),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(not_more_than_100_percent(
                    max_unavailable,
                    &p.child("maxUnavailable"),
                ));
            }
        },
        _ => errs.push(FieldError::not_supported(
            path.clone(),
            strategy.clone(),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::{messages, pretty};
    use expect_test::expect;

    fn deployment(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn valid() -> Value {
        let mut d = deployment(json!({"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}));
        DeploymentStrategy.default(&mut d);
        d
    }

    #[test]
    fn defaults() {
        expect![[r#"
            {
              "metadata": {
                "name": "web",
                "namespace": "default"
              },
              "spec": {
                "selector": {
                  "matchLabels": {
                    "app": "web"
                  }
                },
                "template": {
                  "metadata": {
                    "labels": {
                      "app": "web"
                    }
                  },
                  "spec": {
                    "containers": [
                      {
                        "name": "web",
                        "image": "nginx",
                        "imagePullPolicy": "Always",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "resources": {}
                      }
                    ],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "schedulerName": "default-scheduler"
                  }
                },
                "replicas": 1,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "strategy": {
                  "type": "RollingUpdate",
                  "rollingUpdate": {
                    "maxUnavailable": "25%",
                    "maxSurge": "25%"
                  }
                }
              }
            }"#]]
        .assert_eq(&pretty(&valid()));
        assert_eq!(messages(&DeploymentStrategy.validate(&valid())), "");
    }

    #[test]
    fn errors() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut d = valid();
            f(&mut d);
            messages(&DeploymentStrategy.validate(&d))
        };
        expect![[r#"spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`"#]]
            .assert_eq(&with(&|d| d["spec"]["template"]["metadata"]["labels"]["app"] = json!("other")));
        expect!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
            .assert_eq(&with(&|d| d["spec"]["replicas"] = json!(-1)));
        expect!["spec.selector: Required value"].assert_eq(&with(&|d| {
            d["spec"].as_object_mut().unwrap().remove("selector");
        }));
        expect!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
            .assert_eq(&with(&|d| d["spec"]["strategy"]["type"] = json!("Recreate")));
        expect![[r#"
            spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0
            spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "200%": must not be greater than 100%"#]]
        .assert_eq(&with(&|d| d["spec"]["strategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": "0%"}))
            .lines().chain(with(&|d| d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = json!("200%")).lines()).collect::<Vec<_>>().join("\n"));
        expect![[r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#]]
            .assert_eq(&with(&|d| d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never")));
    }

    #[test]
    fn selector_is_immutable() {
        let old = valid();
        let mut new = valid();
        new["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
        new["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
        expect![[r#"spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable"#]]
            .assert_eq(&messages(&DeploymentStrategy.validate_update(&new, &old)));
    }
}
