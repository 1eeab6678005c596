//! StorageClasses: most fields are fixed once created.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::is_qualified_name;
use serde_json::{json, Value};

use crate::strategies::common::immutable;
use crate::strategies::json::{get, set_default, str_at};
use crate::Strategy;

pub struct StorageClassStrategy;

const RECLAIM_POLICIES: &[&str] = &["Delete", "Retain"];
const BINDING_MODES: &[&str] = &["Immediate", "WaitForFirstConsumer"];

impl Strategy for StorageClassStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "reclaimPolicy", json!("Delete"));
        set_default(obj, "volumeBindingMode", json!("Immediate"));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let provisioner = str_at(obj, &["provisioner"]);
        if provisioner.is_empty() {
            errs.push(FieldError::required("provisioner", ""));
        } else {
            for msg in is_qualified_name(&provisioner.to_lowercase()) {
                errs.push(FieldError::invalid("provisioner", provisioner, msg));
            }
        }
        for (key, allowed) in [
            ("reclaimPolicy", RECLAIM_POLICIES),
            ("volumeBindingMode", BINDING_MODES),
        ] {
            let v = str_at(obj, &[key]);
            if !v.is_empty() && !allowed.contains(&v) {
                errs.push(FieldError::not_supported(key, v, allowed));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        for key in ["parameters", "provisioner", "reclaimPolicy"] {
            if get(new, &[key]) != get(old, &[key]) {
                errs.push(FieldError::forbidden(
                    key,
                    format!("updates to {key} are forbidden."),
                ));
            }
        }
        errs.extend(immutable(
            new,
            old,
            &["volumeBindingMode"],
            &Path::new("volumeBindingMode"),
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn rules() {
        let mut sc = json!({"provisioner": "rancher.io/local-path", "parameters": {"a": "1"}});
        StorageClassStrategy.default(&mut sc);
        assert_eq!(messages(&StorageClassStrategy.validate(&sc)), "");
        expect!["provisioner: Required value"]
            .assert_eq(&messages(&StorageClassStrategy.validate(&json!({}))));
        let mut new = sc.clone();
        new["parameters"]["a"] = json!("2");
        expect!["parameters: Forbidden: updates to parameters are forbidden."]
            .assert_eq(&messages(&StorageClassStrategy.validate_update(&new, &sc)));
    }
}
