//! StatefulSets: few spec fields may change after creation.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use super::workload::{
    default_template, selector_immutable, validate_selector_and_template, TemplateRules,
};
use crate::strategies::common::nonnegative;
use crate::strategies::json::{each_mut, ensure_object, ensure_path, get, set_default, str_at};
use crate::Strategy;

pub struct StatefulSetStrategy;

const RULES: TemplateRules = TemplateRules {
    empty_selector_kind: "statefulset",
    deadline_kind: "StatefulSet",
};
const UPDATABLE: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];
const POD_MANAGEMENT_POLICIES: &[&str] = &["OrderedReady", "Parallel"];
const RETENTION_POLICIES: &[&str] = &["Retain", "Delete"];

impl Strategy for StatefulSetStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            if let Some(us) = ensure_object(spec, "updateStrategy") {
                if str_at(us, &["type"]).is_empty() {
                    us["type"] = json!("RollingUpdate");
                    set_default(us, "rollingUpdate", json!({}));
                }
                if let Some(ru) = us.get_mut("rollingUpdate").filter(|r| r.is_object()) {
                    set_default(ru, "partition", json!(0));
                }
            }
            if let Some(policy) = ensure_object(spec, "persistentVolumeClaimRetentionPolicy") {
                set_default(policy, "whenDeleted", json!("Retain"));
                set_default(policy, "whenScaled", json!("Retain"));
            }
            each_mut(spec, "volumeClaimTemplates", |pvc| {
                if let Some(s) = ensure_object(pvc, "spec") {
                    set_default(s, "volumeMode", json!("Filesystem"));
                }
                if let Some(status) = ensure_path(pvc, &["status"]) {
                    set_default(status, "phase", json!("Pending"));
                }
            });
        }
        default_template(obj);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        for key in ["replicas", "minReadySeconds", "revisionHistoryLimit"] {
            errs.extend(nonnegative(spec, key, &path));
        }
        let pmp = str_at(spec, &["podManagementPolicy"]);
        if !pmp.is_empty() && !POD_MANAGEMENT_POLICIES.contains(&pmp) {
            errs.push(FieldError::not_supported(
                path.child("podManagementPolicy"),
                pmp,
                POD_MANAGEMENT_POLICIES,
            ));
        }
        let us_path = path.child("updateStrategy");
        match str_at(spec, &["updateStrategy", "type"]) {
            "RollingUpdate" | "" => {
                let ru = get(spec, &["updateStrategy", "rollingUpdate"]).unwrap_or(&Value::Null);
                errs.extend(nonnegative(
                    ru,
                    "partition",
                    &us_path.child("rollingUpdate"),
                ));
            }
            "OnDelete" => {
                if get(spec, &["updateStrategy", "rollingUpdate"]).is_some() {
                    errs.push(FieldError::invalid(
                        us_path.child("rollingUpdate"),
                        spec["updateStrategy"]["rollingUpdate"].clone(),
                        "only allowed for updateStrategy 'RollingUpdate'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                us_path.child("type"),
                other,
                &["OnDelete", "RollingUpdate"],
            )),
        }
        for key in ["whenDeleted", "whenScaled"] {
            let v = str_at(spec, &["persistentVolumeClaimRetentionPolicy", key]);
            if !v.is_empty() && !RETENTION_POLICIES.contains(&v) {
                let p = path
                    .child("persistentVolumeClaimRetentionPolicy")
                    .child(key);
                errs.push(FieldError::not_supported(p, v, RETENTION_POLICIES));
            }
        }
        errs.extend(validate_selector_and_template(
            &with_claim_volumes(spec),
            &RULES,
        ));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        let strip = |obj: &Value| {
            let mut spec = obj.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = spec.as_object_mut() {
                m.retain(|k, v| !UPDATABLE.contains(&k.as_str()) && !v.is_null());
            }
            spec
        };
        if strip(new) != strip(old) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        } else {
            errs.extend(selector_immutable(new, old));
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

/// The spec as its pods will have it: the controller adds a `persistentVolumeClaim` volume
/// per claim template, so containers may mount a template by name (upstream skips the pod
/// spec's volume checks for StatefulSets for this reason).
fn with_claim_volumes(spec: &Value) -> Value {
    let mut spec = spec.clone();
    let names: Vec<String> = spec
        .get("volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| str_at(t, &["metadata", "name"]).to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let Some(pod) = spec
        .pointer_mut("/template/spec")
        .and_then(Value::as_object_mut)
    else {
        return spec;
    };
    let volumes = pod.entry("volumes").or_insert_with(|| json!([]));
    if let Some(list) = volumes.as_array_mut() {
        for name in names {
            if !list.iter().any(|v| str_at(v, &["name"]) == name) {
                list.push(json!({"name": name, "persistentVolumeClaim": {"claimName": name}}));
            }
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::{messages, pretty};
    use expect_test::expect;

    fn sts() -> Value {
        let mut s = json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}});
        StatefulSetStrategy.default(&mut s);
        s
    }

    #[test]
    fn defaults() {
        let mut s = sts();
        s["spec"]["template"] = json!({});
        expect![[r#"
            {
              "serviceName": "db",
              "selector": {
                "matchLabels": {
                  "app": "db"
                }
              },
              "template": {},
              "volumeClaimTemplates": [
                {
                  "metadata": {
                    "name": "data"
                  },
                  "spec": {
                    "accessModes": [
                      "ReadWriteOnce"
                    ],
                    "volumeMode": "Filesystem"
                  },
                  "status": {
                    "phase": "Pending"
                  }
                }
              ],
              "replicas": 1,
              "revisionHistoryLimit": 10,
              "podManagementPolicy": "OrderedReady",
              "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                  "partition": 0
                }
              },
              "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain"
              }
            }"#]]
        .assert_eq(&pretty(&s["spec"]));
        assert_eq!(messages(&StatefulSetStrategy.validate(&sts())), "");
    }

    #[test]
    fn containers_mount_claim_templates() {
        let mut s = sts();
        s["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "data", "mountPath": "/data"}]);
        assert_eq!(messages(&StatefulSetStrategy.validate(&s)), "");
        s["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "other", "mountPath": "/data"}]);
        expect![[r#"spec.template.spec.containers[0].volumeMounts[0].name: Not found: "other""#]]
            .assert_eq(&messages(&StatefulSetStrategy.validate(&s)));
    }

    #[test]
    fn updates() {
        let old = sts();
        let mut new = sts();
        new["spec"]["replicas"] = json!(3);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("pg:17");
        assert_eq!(
            messages(&StatefulSetStrategy.validate_update(&new, &old)),
            ""
        );
        new["spec"]["serviceName"] = json!("other");
        expect!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]
            .assert_eq(&messages(&StatefulSetStrategy.validate_update(&new, &old)));
    }
}
