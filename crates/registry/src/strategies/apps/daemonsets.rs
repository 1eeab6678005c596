//! DaemonSets.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use super::workload::{
    default_template, selector_immutable, validate_selector_and_template, TemplateRules,
};
use crate::strategies::common::{
    int_or_percent, int_or_percent_is_zero, nonnegative, not_more_than_100_percent,
};
use crate::strategies::json::{ensure_object, get, set_default, str_at};
use crate::Strategy;

pub struct DaemonSetStrategy;

const RULES: TemplateRules = TemplateRules {
    empty_selector_kind: "daemonset",
    deadline_kind: "DaemonSet",
};

impl Strategy for DaemonSetStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "revisionHistoryLimit", json!(10));
            if let Some(us) = ensure_object(spec, "updateStrategy") {
                set_default(us, "type", json!("RollingUpdate"));
                if str_at(us, &["type"]) == "RollingUpdate" {
                    if let Some(ru) = ensure_object(us, "rollingUpdate") {
                        set_default(ru, "maxUnavailable", json!(1));
                        set_default(ru, "maxSurge", json!(0));
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
        for key in ["minReadySeconds", "revisionHistoryLimit"] {
            errs.extend(nonnegative(spec, key, &path));
        }
        errs.extend(validate_selector_and_template(spec, &RULES));
        let us_path = path.child("updateStrategy");
        match str_at(spec, &["updateStrategy", "type"]) {
            "OnDelete" | "" => {}
            "RollingUpdate" => {
                let p = us_path.child("rollingUpdate");
                let max_unavailable =
                    get(spec, &["updateStrategy", "rollingUpdate", "maxUnavailable"]);
                let max_surge = get(spec, &["updateStrategy", "rollingUpdate", "maxSurge"]);
                errs.extend(int_or_percent(max_unavailable, &p.child("maxUnavailable")));
                errs.extend(not_more_than_100_percent(
                    max_unavailable,
                    &p.child("maxUnavailable"),
                ));
                errs.extend(int_or_percent(max_surge, &p.child("maxSurge")));
                errs.extend(not_more_than_100_percent(max_surge, &p.child("maxSurge")));
                let surge_zero = max_surge.is_none() || int_or_percent_is_zero(max_surge);
                if surge_zero && int_or_percent_is_zero(max_unavailable) {
                    errs.push(FieldError::invalid(
                        p.child("maxUnavailable"),
                        max_unavailable.cloned().unwrap_or(Value::Null),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                us_path.child("type"),
                other,
                &["OnDelete", "RollingUpdate"],
            )),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn defaults_and_errors() {
        let mut ds = json!({"spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        DaemonSetStrategy.default(&mut ds);
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(messages(&DaemonSetStrategy.validate(&ds)), "");
        ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = json!(0);
        ds["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        expect![[r#"
            spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported
            spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: cannot be 0 when maxSurge is 0"#]]
        .assert_eq(&messages(&DaemonSetStrategy.validate(&ds)));
    }
}
