//! PodDisruptionBudgets.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

use crate::strategies::common::{
    int_or_percent, not_more_than_100_percent, validate_label_selector,
};
use crate::strategies::json::{get, str_at};
use crate::Strategy;

pub struct PodDisruptionBudgetStrategy;

const EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

impl Strategy for PodDisruptionBudgetStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        let min = get(spec, &["minAvailable"]);
        let max = get(spec, &["maxUnavailable"]);
        if min.is_some() && max.is_some() {
            errs.push(FieldError::invalid(
                &path,
                spec.clone(),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        for (key, v) in [("minAvailable", min), ("maxUnavailable", max)] {
            errs.extend(int_or_percent(v, &path.child(key)));
            errs.extend(not_more_than_100_percent(v, &path.child(key)));
        }
        if let Some(sel) = get(spec, &["selector"]) {
            errs.extend(validate_label_selector(sel, &path.child("selector")));
        }
        let policy = str_at(spec, &["unhealthyPodEvictionPolicy"]);
        if !policy.is_empty() && !EVICTION_POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(
                path.child("unhealthyPodEvictionPolicy"),
                policy,
                EVICTION_POLICIES,
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
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn rules() {
        let ok =
            json!({"spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "x"}}}});
        assert_eq!(messages(&PodDisruptionBudgetStrategy.validate(&ok)), "");
        let bad = json!({"spec": {"minAvailable": 1, "maxUnavailable": "150%"}});
        expect![[r#"
            spec: Invalid value: {"minAvailable":1,"maxUnavailable":"150%"}: minAvailable and maxUnavailable cannot be both set
            spec.maxUnavailable: Invalid value: "150%": must not be greater than 100%"#]]
        .assert_eq(&messages(&PodDisruptionBudgetStrategy.validate(&bad)));
    }
}
