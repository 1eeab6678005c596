//! CustomResourceDefinitions: the parts of upstream's validation that users meet first.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use crate::crd_schema::check_structural;
use crate::crd_serving::JsonPath;
use crate::strategies::common::immutable;
use crate::strategies::json::{array_at, bool_at, ensure_object, set_default, str_at};
use crate::Strategy;

pub struct CustomResourceDefinitionStrategy;

const SCOPES: &[&str] = &["Cluster", "Namespaced"];
/// The annotation a CRD in a `k8s.io`/`kubernetes.io` group must carry (upstream's API review).
const APPROVAL: &str = "api-approved.kubernetes.io";

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

    /// A new storage version joins `status.storedVersions` (objects may now be stored in
    /// it); the old ones stay until a storage migration removes them.
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        let storage: Vec<String> = array_at(new, &["spec", "versions"])
            .iter()
            .filter(|v| bool_at(v, &["storage"]) == Some(true))
            .map(|v| str_at(v, &["name"]).to_string())
            .collect();
        let mut stored: Vec<Value> = array_at(new, &["status", "storedVersions"]).to_vec();
        let mut changed = false;
        for v in storage {
            if !stored.iter().any(|s| s.as_str() == Some(v.as_str())) {
                stored.push(json!(v));
                changed = true;
            }
        }
        if changed {
            if !new.get("status").is_some_and(Value::is_object) {
                new["status"] = json!({});
            }
            new["status"]["storedVersions"] = Value::Array(stored);
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
        if !group.is_empty() && crate::catalog::preferred_version(group).is_some() {
            errs.push(FieldError::invalid(
                path.child("group"),
                group,
                "a built-in API group cannot be extended by a CustomResourceDefinition",
            ));
        }
        let protected = ["k8s.io", "kubernetes.io"]
            .iter()
            .any(|d| group == *d || group.ends_with(&format!(".{d}")));
        if protected
            && crate::strategies::json::get(obj, &["metadata", "annotations", APPROVAL]).is_none()
        {
            errs.push(FieldError::required(
                format!("metadata.annotations[{APPROVAL}]"),
                format!("protected groups must have approval annotation \"{APPROVAL}\", see https://github.com/kubernetes/enhancements/pull/1111"),
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
        for (i, v) in versions.iter().enumerate() {
            let vpath = path.child("versions").index(i);
            let name = str_at(v, &["name"]);
            if versions[..i].iter().any(|w| str_at(w, &["name"]) == name) {
                errs.push(FieldError::duplicate(vpath.child("name"), name));
            }
            errs.extend(validate_version(v, &vpath));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        // Objects may be stored in any stored version: each must stay in the spec.
        let versions = array_at(new, &["spec", "versions"]);
        for stored in array_at(old, &["status", "storedVersions"]) {
            let stored = stored.as_str().unwrap_or("");
            if !versions.iter().any(|v| str_at(v, &["name"]) == stored) {
                errs.push(FieldError::invalid(
                    "status.storedVersions",
                    Value::Array(array_at(old, &["status", "storedVersions"]).to_vec()),
                    format!("must appear in spec.versions: {stored}"),
                ));
            }
        }
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

/// One version's schema (structural, its CEL rules compile) and printer columns.
fn validate_version(v: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let schema_path = path.child("schema").child("openAPIV3Schema");
    match v.pointer("/schema/openAPIV3Schema") {
        None | Some(Value::Null) => {
            errs.push(FieldError::required(schema_path, "schemas are required"));
        }
        Some(schema) => {
            errs.extend(check_structural(schema, &schema_path));
            let mut rules = Vec::new();
            collect_rules(schema, &schema_path, &mut rules);
            for (rule_path, rule) in rules {
                if let Err(e) = cel::cached(&rule) {
                    errs.push(FieldError::invalid(rule_path, rule.clone(), e.to_string()));
                }
            }
        }
    }
    if let Some(scale) = v.pointer("/subresources/scale").filter(|s| s.is_object()) {
        let sp = path.child("subresources").child("scale");
        for (key, under) in [
            ("specReplicasPath", ".spec."),
            ("statusReplicasPath", ".status."),
        ] {
            let p = str_at(scale, &[key]);
            if p.is_empty() {
                errs.push(FieldError::required(sp.child(key), ""));
            } else if !p.starts_with(under)
                || JsonPath::parse(p)
                    .ok()
                    .and_then(|j| j.fields().map(|_| ()))
                    .is_none()
            {
                errs.push(FieldError::invalid(
                    sp.child(key),
                    p,
                    format!(
                        "should be a json path under {}",
                        under.trim_end_matches('.')
                    ),
                ));
            }
        }
    }
    for (j, c) in array_at(v, &["additionalPrinterColumns"])
        .iter()
        .enumerate()
    {
        let p = path.child("additionalPrinterColumns").index(j);
        if str_at(c, &["name"]).is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        let json_path = str_at(c, &["jsonPath"]);
        if json_path.is_empty() {
            errs.push(FieldError::required(p.child("jsonPath"), ""));
        } else if JsonPath::parse(json_path).is_err() {
            errs.push(FieldError::invalid(
                p.child("jsonPath"),
                json_path,
                "must be a simple json path",
            ));
        }
        let ty = str_at(c, &["type"]);
        if !COLUMN_TYPES.contains(&ty) {
            errs.push(FieldError::not_supported(p.child("type"), ty, COLUMN_TYPES));
        }
    }
    errs
}

const COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];

/// Every `x-kubernetes-validations[i].rule` in a schema, with its field path.
fn collect_rules(schema: &Value, path: &Path, out: &mut Vec<(Path, String)>) {
    let Some(m) = schema.as_object() else {
        return;
    };
    for (i, r) in m
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(rule) = r.get("rule").and_then(Value::as_str) {
            out.push((
                path.child("x-kubernetes-validations")
                    .index(i)
                    .child("rule"),
                rule.to_string(),
            ));
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            collect_rules(v, &path.child("properties").key(k), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = m.get(key).filter(|v| v.is_object()) {
            collect_rules(v, &path.child(key), out);
        }
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
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        CustomResourceDefinitionStrategy.default(&mut crd);
        CustomResourceDefinitionStrategy.prepare_for_create(&mut crd);
        assert_eq!(crd["status"], json!({"storedVersions": ["v1"]}));
        assert_eq!(crd["spec"]["names"]["listKind"], json!("WidgetList"));
        let old = crd.clone();
        let mut moved = crd.clone();
        moved["spec"]["versions"] = json!([{"name": "v1", "served": true, "storage": false}, {"name": "v2", "served": true, "storage": true}]);
        CustomResourceDefinitionStrategy.prepare_for_update(&mut moved, &old);
        assert_eq!(moved["status"]["storedVersions"], json!(["v1", "v2"]));
        assert_eq!(
            messages(&CustomResourceDefinitionStrategy.validate(&crd)),
            ""
        );
        crd["metadata"]["name"] = json!("widgets");
        crd["spec"]["versions"][0]["storage"] = json!(false);
        crd["spec"]["versions"][0]["schema"] = Value::Null;
        expect![[r#"
            metadata.name: Invalid value: "widgets": must be spec.names.plural+"."+spec.group
            spec.versions: Invalid value: [{"name":"v1","served":true,"storage":false,"schema":null}]: must have exactly one version marked as storage version
            spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"#]]
        .assert_eq(&messages(&CustomResourceDefinitionStrategy.validate(&crd)));
    }

    #[test]
    fn schema_rules_and_columns() {
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "additionalPrinterColumns": [{"name": "A", "type": "string", "jsonPath": "spec.a"}, {"name": "B", "type": "float", "jsonPath": ".spec.b"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}],
                        "properties": {"a": {"type": "string"}, "b": {}}}}}}}]}});
        expect![[r#"
            spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[b].type: Required value: must not be empty for specified object fields
            spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: "self.a >": compilation failed: ERROR: <input>:1:9: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}
            | self.a >
            | ........^
            spec.versions[0].additionalPrinterColumns[0].jsonPath: Invalid value: "spec.a": must be a simple json path
            spec.versions[0].additionalPrinterColumns[1].type: Unsupported value: "float": supported values: "boolean", "date", "integer", "number", "string""#]]
        .assert_eq(&messages(&CustomResourceDefinitionStrategy.validate(&crd)));
    }

    #[test]
    fn groups_versions_and_scale_paths() {
        let base = |group: &str| {
            json!({"metadata": {"name": format!("things.{group}")}, "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"scale": {"specReplicasPath": ".status.replicas", "statusReplicasPath": ""}}},
                    {"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
        };
        let mut out = Vec::new();
        for group in ["apps", "x.k8s.io", "example.com"] {
            out.push(messages(
                &CustomResourceDefinitionStrategy.validate(&base(group)),
            ));
        }
        let mut approved = base("x.k8s.io");
        approved["metadata"]["annotations"] =
            json!({"api-approved.kubernetes.io": "https://example.com/pr/1"});
        out.push(messages(
            &CustomResourceDefinitionStrategy.validate(&approved),
        ));
        let mut old = base("example.com");
        old["status"] = json!({"storedVersions": ["v1beta1"]});
        out.push(messages(
            &CustomResourceDefinitionStrategy.validate_update(&base("example.com"), &old),
        ));
        expect![[r#"
            spec.group: Invalid value: "apps": should be a domain with at least one dot
            spec.group: Invalid value: "apps": a built-in API group cannot be extended by a CustomResourceDefinition
            spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec
            spec.versions[0].subresources.scale.statusReplicasPath: Required value
            spec.versions[1].name: Duplicate value: "v1"
            ---
            metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111
            spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec
            spec.versions[0].subresources.scale.statusReplicasPath: Required value
            spec.versions[1].name: Duplicate value: "v1"
            ---
            spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec
            spec.versions[0].subresources.scale.statusReplicasPath: Required value
            spec.versions[1].name: Duplicate value: "v1"
            ---
            spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec
            spec.versions[0].subresources.scale.statusReplicasPath: Required value
            spec.versions[1].name: Duplicate value: "v1"
            ---
            spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec
            spec.versions[0].subresources.scale.statusReplicasPath: Required value
            spec.versions[1].name: Duplicate value: "v1"
            status.storedVersions: Invalid value: ["v1beta1"]: must appear in spec.versions: v1beta1"#]]
        .assert_eq(&out.join("\n---\n"));
    }
}
