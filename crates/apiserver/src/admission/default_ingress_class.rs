//! Upstream's `DefaultIngressClass` admission plugin: an Ingress created without
//! `spec.ingressClassName` (and without the legacy `kubernetes.io/ingress.class`
//! annotation) gets the default IngressClass, the one annotated
//! `ingressclass.kubernetes.io/is-default-class: "true"`; with several, the newest wins
//! (then the name, for a stable choice).
//!
//! Pure: the caller passes the IngressClasses it can see.

use serde_json::{json, Value};

const IS_DEFAULT: &str = "ingressclass.kubernetes.io/is-default-class";
const LEGACY_CLASS: &str = "kubernetes.io/ingress.class";

/// The default class's name, if any class is marked default.
fn default_class(classes: &[Value]) -> Option<&str> {
    super::default_class::newest_default(classes, &[IS_DEFAULT])
}

pub fn admit_ingress_create(ingress: &mut Value, classes: &[Value]) {
    let legacy = ingress
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LEGACY_CLASS))
        .is_some();
    if legacy {
        return;
    }
    let Some(spec) = ingress.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("ingressClassName").is_some_and(|v| !v.is_null()) {
        return;
    }
    if let Some(name) = default_class(classes) {
        spec.insert("ingressClassName".into(), json!(name));
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
        let skiff = class("skiff", "2026-01-01T00:00:00Z", Some("true"));
        let newer = class("nginx", "2026-06-01T00:00:00Z", Some("true"));
        let off = class("off", "2026-09-01T00:00:00Z", Some("false"));
        let cases: Vec<(Value, Vec<Value>, Value)> = vec![
            (
                json!({"spec": {}}),
                vec![skiff.clone(), off.clone()],
                json!("skiff"),
            ),
            (
                json!({"spec": {}}),
                vec![skiff.clone(), newer],
                json!("nginx"),
            ),
            (json!({"spec": {}}), vec![off], Value::Null),
            (
                json!({"spec": {"ingressClassName": "other"}}),
                vec![skiff.clone()],
                json!("other"),
            ),
            (
                json!({"spec": {"ingressClassName": null}}),
                vec![skiff.clone()],
                json!("skiff"),
            ),
            (
                json!({"metadata": {"annotations": {LEGACY_CLASS: "nginx"}}, "spec": {}}),
                vec![skiff],
                Value::Null,
            ),
        ];
        for (i, (mut ingress, classes, want)) in cases.into_iter().enumerate() {
            admit_ingress_create(&mut ingress, &classes);
            let got = ingress["spec"]
                .get("ingressClassName")
                .cloned()
                .unwrap_or(Value::Null);
            assert_eq!(got, want, "case {i}");
        }
    }
}
