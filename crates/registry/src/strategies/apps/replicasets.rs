//! ReplicaSets.

use apimachinery::field::{FieldErrors, Path};
use serde_json::{json, Value};

use super::workload::{
    default_template, selector_immutable, validate_selector_and_template, TemplateRules,
};
use crate::strategies::common::nonnegative;
use crate::strategies::json::{ensure_object, set_default};
use crate::Strategy;

pub struct ReplicaSetStrategy;

// Upstream's ReplicaSet validation reuses the deployment wording for an empty selector.
const RULES: TemplateRules = TemplateRules {
    empty_selector_kind: "deployment",
    deadline_kind: "ReplicaSet",
};

impl Strategy for ReplicaSetStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "replicas", json!(1));
        }
        default_template(obj);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = nonnegative(spec, "replicas", &path);
        errs.extend(nonnegative(spec, "minReadySeconds", &path));
        errs.extend(validate_selector_and_template(spec, &RULES));
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
        let mut rs = json!({"spec": {"selector": {}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        ReplicaSetStrategy.default(&mut rs);
        assert_eq!(rs["spec"]["replicas"], json!(1));
        expect!["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]
            .assert_eq(&messages(&ReplicaSetStrategy.validate(&rs)));
    }
}
