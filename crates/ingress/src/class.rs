//! Which Ingresses are ours: those whose class is an IngressClass with our controller.
//! Pure; shared with the controller that writes Ingress status.

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

/// `spec.controller` of the IngressClasses this controller serves.
pub const CONTROLLER: &str = "skiff.io/ingress";
/// The IngressClass the server creates at bootstrap.
pub const CLASS_NAME: &str = "skiff";
/// Marks the class Ingresses without a class get (DefaultIngressClass admission).
pub const IS_DEFAULT: &str = "ingressclass.kubernetes.io/is-default-class";
/// The annotation that named a class before `spec.ingressClassName` existed.
pub const LEGACY_CLASS: &str = "kubernetes.io/ingress.class";

fn controller(class: &IngressClass) -> Option<&str> {
    class.spec.as_ref()?.controller.as_deref()
}

pub fn is_default(class: &IngressClass) -> bool {
    class
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(IS_DEFAULT))
        .is_some_and(|v| v == "true")
}

/// The default class: the newest marked default (then the name, for a stable choice).
pub fn default_class<'a>(classes: &[&'a IngressClass]) -> Option<&'a IngressClass> {
    classes
        .iter()
        .copied()
        .filter(|c| is_default(c))
        .max_by(|a, b| {
            let key = |c: &IngressClass| c.metadata.creation_timestamp.clone().map(|t| t.0);
            key(a)
                .cmp(&key(b))
                .then_with(|| b.metadata.name.cmp(&a.metadata.name))
        })
}

/// True when `ing` belongs to this controller: its `ingressClassName` (or legacy
/// annotation) names a class with our controller, or it names none and the default class
/// is ours — or there is no default class at all (we are the cluster's built-in one).
pub fn is_ours(ing: &Ingress, classes: &[&IngressClass]) -> bool {
    let ours_by_name = |name: &str| {
        match classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
        {
            Some(c) => controller(c) == Some(CONTROLLER),
            // The legacy annotation predates IngressClass objects: our name is enough.
            None => false,
        }
    };
    if let Some(name) = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
    {
        return ours_by_name(name);
    }
    if let Some(name) = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLASS))
    {
        return name == CLASS_NAME || ours_by_name(name);
    }
    match default_class(classes) {
        Some(c) => controller(c) == Some(CONTROLLER),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, controller: &str, default: bool, created: &str) -> IngressClass {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created},
                           "spec": {"controller": controller}});
        if default {
            c["metadata"]["annotations"] = json!({IS_DEFAULT: "true"});
        }
        serde_json::from_value(c).unwrap()
    }

    fn ingress(class: Option<&str>, legacy: Option<&str>) -> Ingress {
        let mut i = json!({"metadata": {"name": "i"}, "spec": {}});
        if let Some(c) = class {
            i["spec"]["ingressClassName"] = json!(c);
        }
        if let Some(l) = legacy {
            i["metadata"]["annotations"] = json!({LEGACY_CLASS: l});
        }
        serde_json::from_value(i).unwrap()
    }

    #[test]
    fn ownership() {
        let skiff = class("skiff", CONTROLLER, true, "2026-01-01T00:00:00Z");
        let nginx = class(
            "nginx",
            "k8s.io/ingress-nginx",
            false,
            "2026-01-01T00:00:00Z",
        );
        let nginx_default = class(
            "nginx",
            "k8s.io/ingress-nginx",
            true,
            "2026-02-01T00:00:00Z",
        );
        let mut out = Vec::new();
        let cases: Vec<(&str, Ingress, Vec<&IngressClass>)> = vec![
            (
                "named ours",
                ingress(Some("skiff"), None),
                vec![&skiff, &nginx],
            ),
            (
                "named other",
                ingress(Some("nginx"), None),
                vec![&skiff, &nginx],
            ),
            ("named missing", ingress(Some("gone"), None), vec![&skiff]),
            (
                "no class, ours default",
                ingress(None, None),
                vec![&skiff, &nginx],
            ),
            (
                "no class, newer other default",
                ingress(None, None),
                vec![&skiff, &nginx_default],
            ),
            ("no class, no classes", ingress(None, None), vec![]),
            ("legacy skiff", ingress(None, Some("skiff")), vec![]),
            (
                "legacy nginx",
                ingress(None, Some("nginx")),
                vec![&skiff, &nginx],
            ),
        ];
        for (what, ing, classes) in cases {
            out.push(format!("{what}: {}", is_ours(&ing, &classes)));
        }
        expect_test::expect![[r#"
            named ours: true
            named other: false
            named missing: false
            no class, ours default: true
            no class, newer other default: false
            no class, no classes: true
            legacy skiff: true
            legacy nginx: false"#]]
        .assert_eq(&out.join("\n"));
    }
}
