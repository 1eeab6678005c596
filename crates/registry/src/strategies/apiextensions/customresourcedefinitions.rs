//! CustomResourceDefinitions: the parts of upstream's validation that users meet first.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use crate::strategies::common::immutable;
use crate::strategies::json::{array_at, bool_at, ensure_object, set_default, str_at};
use crate::Strategy;

pub struct CustomResourceDefinitionStrategy;

const SCOPES: &[&str] = &["Cluster", "Namespaced"];

impl Strategy for CustomResourceDefinitionStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "conversion", json!({"strategy": "None"}));
            if let Some(names) = spec.get_mut("names").filter(|n| n.is_object()) {
                let kind = str_at(names, &["kind"]).to_string();
                if !kind.is_empty() {
                    set_default(names, "listKind", json!(format!("{kind}List")));
                    set_default(names, "singular", json!(kind.to_lowercase()));
                }
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let stored: Vec<Value> = array_at(obj, &["spec", "versions"])
            .iter()
            .filter(|v| bool_at(v, &["storage"]) == Some(true))
            .map(|v| json!(str_at(v, &["name"])))
            .collect();
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"storedVersions": stored}));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let group = str_at(spec, &["group"]);
        let plural = str_at(spec, &["names", "plural"]);
        let name = str_at(obj, &["metadata", "name"]);
        if name != format!("{plural}.{group}") {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be spec.names.plural+\".\"+spec.group",
            ));
        }
        if group.is_empty() {
            errs.push(FieldError::required(path.child("group"), ""));
        } else if !group.contains('.') {
            errs.push(FieldError::invalid(
                path.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        }
        let scope = str_at(spec, &["scope"]);
        if scope.is_empty() {
            errs.push(FieldError::required(path.child("scope"), ""));
        } else if !SCOPES.contains(&scope) {
            errs.push(FieldError::not_supported(
                path.child("scope"),
                scope,
                SCOPES,
            ));
        }
        let names = path.child("names");
        for key in ["plural", "kind"] {
            if str_at(spec, &["names", key]).is_empty() {
                errs.push(FieldError::required(names.child(key), ""));
            }
        }
        let versions = array_at(spec, &["versions"]);
        if versions.is_empty() {
            errs.push(FieldError::invalid(
                path.child("versions"),
                Value::Array(Vec::new()),
                "must have exactly one version marked as storage version",
            ));
        } else {
            let storage = versions
                .iter()
                .filter(|v| bool_at(v, &["storage"]) == Some(true))
                .count();
            if storage != 1 {
                errs.push(FieldError::invalid(
                    path.child("versions"),
                    Value::Array(versions.to_vec()),
                    "must have exactly one version marked as storage version",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(immutable(
            new,
            old,
            &["spec", "group"],
            &Path::new("spec").child("group"),
        ));
        errs.extend(immutable(
            new,
            old,
            &["spec", "names", "plural"],
            &Path::new("spec").child("names").child("plural"),
        ));
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
    fn create() {
        let mut crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}});
        CustomResourceDefinitionStrategy.default(&mut crd);
        CustomResourceDefinitionStrategy.prepare_for_create(&mut crd);
        assert_eq!(crd["status"], json!({"storedVersions": ["v1"]}));
        assert_eq!(crd["spec"]["names"]["listKind"], json!("WidgetList"));
        assert_eq!(
            messages(&CustomResourceDefinitionStrategy.validate(&crd)),
            ""
        );
        crd["metadata"]["name"] = json!("widgets");
        crd["spec"]["versions"][0]["storage"] = json!(false);
        expect![[r#"
            metadata.name: Invalid value: "widgets": must be spec.names.plural+"."+spec.group
            spec.versions: Invalid value: [{"name":"v1","served":true,"storage":false}]: must have exactly one version marked as storage version"#]]
        .assert_eq(&messages(&CustomResourceDefinitionStrategy.validate(&crd)));
    }
}
