//! Secrets: the type defaults to Opaque and decides which keys must be present.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use super::config_data::{validate_data, validate_immutable, Encoding};
use crate::strategies::common::immutable;
use crate::strategies::json::{object_at, set_default, str_at};
use crate::Strategy;

pub struct SecretStrategy;

const MAPS: [(&str, Encoding); 1] = [("data", Encoding::Base64)];

impl Strategy for SecretStrategy {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "type", json!("Opaque"));
        // `stringData` is a write-only convenience: it lands in `data`, base64-encoded.
        if let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
            if let Some(entries) = string_data.as_object() {
                set_default(obj, "data", json!({}));
                if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
                    for (k, v) in entries {
                        data.insert(
                            k.clone(),
                            json!(base64_encode(v.as_str().unwrap_or("").as_bytes())),
                        );
                    }
                }
            }
        }
    }

    // `kubectl get secrets --field-selector type=kubernetes.io/tls`, and watches of one type.
    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "type").then(|| str_at(obj, &["type"]).to_string())
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_data(obj, &MAPS);
        let data = Path::new("data");
        let has = |k: &str| object_at(obj, &["data"]).is_some_and(|m| m.contains_key(k));
        let mut require = |k: &str| {
            if !has(k) {
                errs.push(FieldError::required(data.key(k), ""));
            }
        };
        match str_at(obj, &["type"]) {
            "kubernetes.io/service-account-token"
                if str_at(
                    obj,
                    &[
                        "metadata",
                        "annotations",
                        "kubernetes.io/service-account.name",
                    ],
                )
                .is_empty() =>
            {
                errs.push(FieldError::required(
                    Path::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
            "kubernetes.io/dockercfg" => require(".dockercfg"),
            "kubernetes.io/dockerconfigjson" => require(".dockerconfigjson"),
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                require("username");
                require("password");
            }
            "kubernetes.io/ssh-auth" => require("ssh-privatekey"),
            "kubernetes.io/tls" => {
                require("tls.key");
                require("tls.crt");
            }
            _ => {}
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(immutable(new, old, &["type"], &Path::new("type")));
        errs.extend(validate_immutable(new, old, &["data"]));
        errs
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn defaults_and_rules() {
        let mut s = json!({"stringData": {"user": "admin", "k": "ab"}, "data": {"x": "eA=="}});
        SecretStrategy.default(&mut s);
        assert_eq!(
            s,
            json!({"data": {"x": "eA==", "user": "YWRtaW4=", "k": "YWI="}, "type": "Opaque"})
        );
        expect![[r#"
            data[tls.key]: Required value
            data[tls.crt]: Required value"#]]
        .assert_eq(&messages(
            &SecretStrategy.validate(&json!({"type": "kubernetes.io/tls"})),
        ));
        let old = json!({"type": "Opaque", "immutable": true, "data": {"a": "eA=="}});
        let new = json!({"type": "x/y", "immutable": true, "data": {"a": "eQ=="}});
        expect![[r#"
            type: Invalid value: "x/y": field is immutable
            data: Forbidden: field is immutable when `immutable` is set"#]]
        .assert_eq(&messages(&SecretStrategy.validate_update(&new, &old)));
    }
}
