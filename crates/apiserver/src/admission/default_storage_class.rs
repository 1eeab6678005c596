//! Upstream's `DefaultStorageClass` admission plugin: a claim created without a
//! `storageClassName` (absent, not "") gets the default StorageClass, the one annotated
//! `storageclass.kubernetes.io/is-default-class: "true"`; with several, the newest wins
//! (then the name, for a stable choice), as upstream since 1.26.
//!
//! Pure: the caller passes the StorageClasses it can see.

use serde_json::{json, Value};

const IS_DEFAULT: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_IS_DEFAULT: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// The annotation that predates `storageClassName` and still names a class.
const BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The default class's name, if any class is marked default.
pub fn default_class(classes: &[Value]) -> Option<&str> {
    super::default_class::newest_default(classes, &[IS_DEFAULT, BETA_IS_DEFAULT])
}

pub fn admit_claim_create(claim: &mut Value, classes: &[Value]) {
    let has_beta = claim
        .pointer(&format!(
            "/metadata/annotations/{}",
            BETA_CLASS.replace('/', "~1")
        ))
        .is_some();
    let Some(spec) = claim.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let named = spec.get("storageClassName").is_some_and(|v| !v.is_null());
    if named || has_beta {
        return;
    }
    if let Some(name) = default_class(classes) {
        spec.insert("storageClassName".into(), json!(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, default: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if let Some(v) = default {
            c["metadata"]["annotations"] = json!({IS_DEFAULT: v});
        }
        c
    }

    #[test]
    fn default_class_chosen() {
        let local = class("local-path", "2024-01-01T00:00:00Z", Some("true"));
        let newer = class("fast", "2024-06-01T00:00:00Z", Some("true"));
        let off = class("slow", "2024-09-01T00:00:00Z", Some("false"));
        let plain = class("plain", "2024-09-01T00:00:00Z", None);
        let beta = json!({"metadata": {"name": "old", "creationTimestamp": "2023-01-01T00:00:00Z",
                                        "annotations": {BETA_IS_DEFAULT: "true"}}});
        let cases: Vec<(Value, Vec<Value>, Value)> = vec![
            (
                json!({"spec": {}}),
                vec![local.clone(), plain.clone()],
                json!("local-path"),
            ),
            (
                json!({"spec": {}}),
                vec![local.clone(), newer.clone(), off.clone()],
                json!("fast"),
            ),
            (json!({"spec": {}}), vec![plain.clone(), off], Value::Null),
            (json!({"spec": {}}), vec![beta], json!("old")),
            (
                json!({"spec": {"storageClassName": ""}}),
                vec![local.clone()],
                json!(""),
            ),
            (
                json!({"spec": {"storageClassName": "gold"}}),
                vec![local.clone()],
                json!("gold"),
            ),
            (
                json!({"spec": {"storageClassName": null}}),
                vec![local.clone()],
                json!("local-path"),
            ),
            (
                json!({"metadata": {"annotations": {BETA_CLASS: "gold"}}, "spec": {}}),
                vec![local],
                Value::Null,
            ),
        ];
        for (i, (mut claim, classes, want)) in cases.into_iter().enumerate() {
            admit_claim_create(&mut claim, &classes);
            let got = claim["spec"]
                .get("storageClassName")
                .cloned()
                .unwrap_or(Value::Null);
            assert_eq!(got, want, "case {i}");
        }
    }
}
