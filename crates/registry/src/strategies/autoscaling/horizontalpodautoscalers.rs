//! HorizontalPodAutoscalers, in both served versions (the object's `apiVersion` says which
//! JSON form it is in).

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::is_valid_path_segment_name;
use serde_json::{json, Value};

use crate::strategies::json::{array_at, ensure_object, get, i64_at, set_default, str_at};
use crate::Strategy;

pub struct HorizontalPodAutoscalerStrategy;

const METRIC_TYPES: &[&str] = &[
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];

fn is_v1(obj: &Value) -> bool {
    str_at(obj, &["apiVersion"]) == "autoscaling/v1"
}

impl Strategy for HorizontalPodAutoscalerStrategy {
    fn default(&self, obj: &mut Value) {
        let v1 = is_v1(obj);
        let Some(spec) = ensure_object(obj, "spec") else {
            return;
        };
        set_default(spec, "minReplicas", json!(1));
        if v1 {
            return;
        }
        if array_at(spec, &["metrics"]).is_empty() {
            spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]);
        }
        // A given behavior gets every missing rule filled in; an absent one stays absent.
        if let Some(behavior) = spec.get_mut("behavior").filter(|b| b.is_object()) {
            set_default(behavior, "scaleUp", json!({}));
            if let Some(up) = behavior.get_mut("scaleUp") {
                set_default(up, "stabilizationWindowSeconds", json!(0));
                set_default(up, "selectPolicy", json!("Max"));
                set_default(
                    up,
                    "policies",
                    json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15}]),
                );
            }
            set_default(behavior, "scaleDown", json!({}));
            if let Some(down) = behavior.get_mut("scaleDown") {
                set_default(down, "selectPolicy", json!("Max"));
                set_default(
                    down,
                    "policies",
                    json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
                );
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
        let tp = path.child("scaleTargetRef");
        for key in ["kind", "name"] {
            let v = str_at(target, &[key]);
            if v.is_empty() {
                errs.push(FieldError::required(tp.child(key), ""));
            } else {
                for msg in is_valid_path_segment_name(v) {
                    errs.push(FieldError::invalid(tp.child(key), v, msg));
                }
            }
        }
        let min = i64_at(spec, &["minReplicas"]).unwrap_or(1);
        if min < 1 {
            errs.push(FieldError::invalid(
                path.child("minReplicas"),
                min,
                "must be greater than or equal to 1",
            ));
        }
        let max = i64_at(spec, &["maxReplicas"]).unwrap_or(0);
        if max < 1 {
            errs.push(FieldError::invalid(
                path.child("maxReplicas"),
                max,
                "must be greater than 0",
            ));
        }
        if max < min {
            errs.push(FieldError::invalid(
                path.child("maxReplicas"),
                max,
                "must be greater than or equal to `minReplicas`",
            ));
        }
        if let Some(pct) = i64_at(spec, &["targetCPUUtilizationPercentage"]) {
            if pct < 1 {
                errs.push(FieldError::invalid(
                    path.child("targetCPUUtilizationPercentage"),
                    pct,
                    "must be greater than or equal to 1",
                ));
            }
        }
        for (i, m) in array_at(spec, &["metrics"]).iter().enumerate() {
            let mp = path.child("metrics").index(i);
            let ty = str_at(m, &["type"]);
            if ty.is_empty() {
                errs.push(FieldError::required(
                    mp.child("type"),
                    "must specify a metric source type",
                ));
            } else if !METRIC_TYPES.contains(&ty) {
                errs.push(FieldError::not_supported(
                    mp.child("type"),
                    ty,
                    METRIC_TYPES,
                ));
            } else {
                let source = format!("{}{}", ty[..1].to_lowercase(), &ty[1..]);
                if get(m, &[&source]).is_none() {
                    errs.push(FieldError::required(
                        mp.child(&source),
                        "must populate information for the given metric source",
                    ));
                }
            }
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
    use expect_test::expect;

    #[test]
    fn defaults_and_rules() {
        let mut hpa = json!({"apiVersion": "autoscaling/v2", "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}});
        HorizontalPodAutoscalerStrategy.default(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], json!(1));
        assert_eq!(
            hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            json!(80)
        );
        assert!(hpa["spec"].get("behavior").is_none());
        assert_eq!(
            messages(&HorizontalPodAutoscalerStrategy.validate(&hpa)),
            ""
        );
        let mut v1 = json!({"apiVersion": "autoscaling/v1", "spec": {"scaleTargetRef": {}, "minReplicas": 3, "maxReplicas": 2}});
        HorizontalPodAutoscalerStrategy.default(&mut v1);
        assert!(v1["spec"].get("metrics").is_none());
        expect![[r#"
            spec.scaleTargetRef.kind: Required value
            spec.scaleTargetRef.name: Required value
            spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"#]]
        .assert_eq(&messages(&HorizontalPodAutoscalerStrategy.validate(&v1)));
    }
}
