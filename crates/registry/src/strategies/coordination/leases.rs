//! Leases.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

use crate::strategies::common::nonnegative;
use crate::strategies::json::i64_at;
use crate::Strategy;

pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        if let Some(d) = i64_at(spec, &["leaseDurationSeconds"]) {
            if d <= 0 {
                errs.push(FieldError::invalid(
                    path.child("leaseDurationSeconds"),
                    d,
                    "must be greater than 0",
                ));
            }
        }
        errs.extend(nonnegative(spec, "leaseTransitions", &path));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(
            messages(&LeaseStrategy.validate(&json!({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}))),
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0\nspec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
        );
    }
}
