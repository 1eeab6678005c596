//! ConfigMaps.

use apimachinery::field::FieldErrors;
use serde_json::Value;

use super::config_data::{validate_data, validate_immutable, Encoding};
use crate::Strategy;

pub struct ConfigMapStrategy;

const MAPS: [(&str, Encoding); 2] = [("data", Encoding::Text), ("binaryData", Encoding::Base64)];

impl Strategy for ConfigMapStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_data(obj, &MAPS)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(validate_immutable(new, old, &["data", "binaryData"]));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn keys_and_immutability() {
        let cm = json!({"data": {"good.key": "1", "bad key": "2", "dup": "x"}, "binaryData": {"dup": "eA=="}});
        expect![[r#"
            data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')
            data[dup]: Invalid value: "dup": duplicate of key present in binaryData
            binaryData[dup]: Invalid value: "dup": duplicate of key present in data"#]]
        .assert_eq(&messages(&ConfigMapStrategy.validate(&cm)));
        let big = json!({"data": {"a": "x".repeat(1024 * 1024 + 1)}});
        expect!["Too long: may not be more than 1048576 bytes"]
            .assert_eq(messages(&ConfigMapStrategy.validate(&big)).trim_start_matches(": "));
        let old = json!({"immutable": true, "data": {"a": "1"}});
        let new = json!({"immutable": false, "data": {"a": "2"}});
        expect![[r#"
            immutable: Forbidden: field is immutable when `immutable` is set
            data: Forbidden: field is immutable when `immutable` is set"#]]
        .assert_eq(&messages(&ConfigMapStrategy.validate_update(&new, &old)));
        assert_eq!(messages(&ConfigMapStrategy.validate_update(&old, &old)), "");
    }
}
