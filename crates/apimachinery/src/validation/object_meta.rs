//! `metadata` rules every kind shares: upstream's `ValidateObjectMeta` and
//! `ValidateObjectMetaUpdate`, over JSON.

use serde_json::Value;

use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_path_segment_name,
};
use crate::field::{ErrorType, FieldError, FieldErrors};

/// Sum of the lengths of annotation keys and values that an object may carry.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which format a kind's `metadata.name` must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain: most kinds.
    Subdomain,
    /// DNS-1123 label: namespaces, statefulsets.
    Label,
    /// DNS-1035 label: services.
    Rfc1035Label,
    /// Anything that fits in one URL path segment: RBAC kinds.
    PathSegment,
}

impl NameRule {
    /// Problems with `name`; with `prefix`, `name` is a `generateName` that may end in `-`.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        // A generateName gets a random suffix, so a trailing dash is fine there.
        let masked;
        let name = if prefix && name.ends_with('-') && self != NameRule::PathSegment {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => is_dns1123_subdomain(name),
            NameRule::Label => is_dns1123_label(name),
            NameRule::Rfc1035Label => is_dns1035_label(name),
            NameRule::PathSegment => is_valid_path_segment_name(name),
        }
    }
}

fn str_at<'a>(meta: &'a Value, key: &str) -> &'a str {
    meta.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Checks a new object's metadata (`meta` is the `metadata` value, possibly null). The caller
/// has already turned `generateName` into a name.
pub fn validate_object_meta(meta: &Value, namespaced: bool, rule: NameRule) -> FieldErrors {
    let mut errs = Vec::new();
    let generate_name = str_at(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                msg,
            ));
        }
    }
    let name = str_at(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in rule.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", name, msg));
        }
    }
    let namespace = str_at(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                errs.push(FieldError::invalid("metadata.namespace", namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = meta.get("generation").and_then(Value::as_i64) {
        if g < 0 {
            errs.push(FieldError::invalid(
                "metadata.generation",
                g,
                "must be greater than or equal to 0",
            ));
        }
    }
    errs.extend(validate_labels(meta.get("labels"), "metadata.labels"));
    errs.extend(validate_annotations(
        meta.get("annotations"),
        "metadata.annotations",
    ));
    errs.extend(validate_owner_references(
        meta.get("ownerReferences"),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(
        meta.get("finalizers"),
        "metadata.finalizers",
    ));
    errs
}

/// Checks a label map (`metadata.labels`, a selector's `matchLabels`, a `nodeSelector`...).
/// Upstream reports every problem at the map's path, not at the key.
pub fn validate_labels(labels: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(map) = labels.and_then(Value::as_object) else {
        return errs;
    };
    for (k, v) in map {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        let v = v.as_str().unwrap_or("");
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
    errs
}

pub fn validate_annotations(annotations: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(map) = annotations.and_then(Value::as_object) else {
        return errs;
    };
    let mut total = 0;
    for (k, v) in map {
        // Annotation keys are case-insensitive qualified names.
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError {
            kind: ErrorType::TooLong,
            field: path.to_string(),
            bad_value: None,
            detail: format!("may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        });
    }
    errs
}

pub fn validate_finalizers(finalizers: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(list) = finalizers.and_then(Value::as_array) else {
        return errs;
    };
    for f in list.iter().filter_map(Value::as_str) {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, f, msg));
        }
    }
    let has = |name: &str| list.iter().any(|f| f.as_str() == Some(name));
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            Value::Array(list.clone()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Upstream reports these at the list's path, without an index.
pub fn validate_owner_references(refs: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(list) = refs.and_then(Value::as_array) else {
        return errs;
    };
    let mut controllers = Vec::new();
    for r in list {
        let api_version = str_at(r, "apiVersion");
        let kind = str_at(r, "kind");
        let name = str_at(r, "name");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.kind"),
                kind,
                "kind must not be empty",
            ));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                name,
                "name must not be empty",
            ));
        }
        let uid = str_at(r, "uid");
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.uid"),
                uid,
                "uid must not be empty",
            ));
        }
        if api_version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers.push(format!("{kind}/{name}"));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            Value::Array(list.clone()),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {} and {}",
                controllers[0], controllers[1]
            ),
        ));
    }
    errs
}

/// Checks metadata on update: what may never change, and the new labels/annotations.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let (n, o) = (
            new.get(key).unwrap_or(&Value::Null),
            old.get(key).unwrap_or(&Value::Null),
        );
        if n != o {
            errs.push(FieldError::immutable(format!("metadata.{key}"), n.clone()));
        }
    }
    let gen = |m: &Value| m.get("generation").and_then(Value::as_i64).unwrap_or(0);
    if gen(new) < gen(old) {
        errs.push(FieldError::invalid(
            "metadata.generation",
            gen(new),
            "must not be decremented",
        ));
    }
    if old.get("deletionTimestamp").is_some_and(|t| !t.is_null()) {
        let old_f: Vec<&Value> = old
            .get("finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let added: Vec<Value> = new
            .get("finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter(|f| !old_f.contains(f)).cloned().collect())
            .unwrap_or_default();
        if !added.is_empty() {
            let list = added
                .iter()
                .filter_map(Value::as_str)
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"),
            ));
        }
    }
    errs.extend(validate_labels(new.get("labels"), "metadata.labels"));
    errs.extend(validate_annotations(
        new.get("annotations"),
        "metadata.annotations",
    ));
    errs.extend(validate_owner_references(
        new.get("ownerReferences"),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(
        new.get("finalizers"),
        "metadata.finalizers",
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};
    use serde_json::json;

    fn render(errs: FieldErrors) -> String {
        errs.iter()
            .map(FieldError::message)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn check(meta: Value, namespaced: bool, rule: NameRule, expected: Expect) {
        expected.assert_eq(&render(validate_object_meta(&meta, namespaced, rule)));
    }

    #[test]
    fn valid_metadata_passes() {
        check(
            json!({"name": "web", "namespace": "default", "labels": {"app": "web", "x.io/y": ""},
                   "annotations": {"A.io/B": "x"}, "finalizers": ["kubernetes", "x.io/f"],
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "u", "controller": true}]}),
            true,
            NameRule::Subdomain,
            expect![""],
        );
        check(
            json!({"name": "system:node", "generateName": "x-"}),
            false,
            NameRule::PathSegment,
            expect![""],
        );
        check(
            json!({"name": "ab", "generateName": "a-"}),
            false,
            NameRule::Rfc1035Label,
            expect![""],
        );
    }

    #[test]
    fn metadata_errors() {
        check(
            json!({}),
            true,
            NameRule::Subdomain,
            expect![[r#"
            metadata.name: Required value: name or generateName is required
            metadata.namespace: Required value"#]],
        );
        check(
            json!({"name": "x", "namespace": "ns"}),
            false,
            NameRule::Subdomain,
            expect!["metadata.namespace: Forbidden: not allowed on this type"],
        );
        check(
            json!({"name": "a.b"}),
            false,
            NameRule::Label,
            expect![[r#"metadata.name: Invalid value: "a.b": must not contain dots"#]],
        );
        check(
            json!({"name": "Web"}),
            false,
            NameRule::Subdomain,
            expect![[
                r#"metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#
            ]],
        );
        check(
            json!({"name": "x", "labels": {"a": "-b"}, "finalizers": ["orphan", "foregroundDeletion", "a/b/c"]}),
            false,
            NameRule::Subdomain,
            expect![[r#"
            metadata.labels: Invalid value: "-b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')
            metadata.finalizers: Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')
            metadata.finalizers: Invalid value: ["orphan","foregroundDeletion","a/b/c"]: finalizer orphan and foregroundDeletion cannot be both set"#]],
        );
        check(
            json!({"name": "x", "annotations": {"big": "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT)}}),
            false,
            NameRule::Subdomain,
            expect!["metadata.annotations: Too long: may not be more than 262144 bytes"],
        );
        check(
            json!({"name": "x", "ownerReferences": [
                {"apiVersion": "", "controller": true, "kind": "", "name": "", "uid": ""},
                {"apiVersion": "v1", "controller": true, "kind": "Event", "name": "b", "uid": "u"}]}),
            false,
            NameRule::Subdomain,
            expect![[r#"
                metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty
                metadata.ownerReferences.kind: Invalid value: "": kind must not be empty
                metadata.ownerReferences.name: Invalid value: "": name must not be empty
                metadata.ownerReferences.uid: Invalid value: "": uid must not be empty
                metadata.ownerReferences: Invalid value: {"apiVersion":"v1","controller":true,"kind":"Event","name":"b","uid":"u"}: /v1, Kind=Event is disallowed from being an owner
                metadata.ownerReferences: Invalid value: [{"apiVersion":"","controller":true,"kind":"","name":"","uid":""},{"apiVersion":"v1","controller":true,"kind":"Event","name":"b","uid":"u"}]: Only one reference can have Controller set to true. Found "true" in references for / and Event/b"#]],
        );
    }

    #[test]
    fn metadata_update() {
        let old = json!({"name": "a", "namespace": "n", "uid": "1", "creationTimestamp": "t", "generation": 2});
        expect![""].assert_eq(&render(validate_object_meta_update(&old.clone(), &old)));
        let new = json!({"name": "b", "namespace": "n", "uid": "2", "creationTimestamp": "t", "generation": 1});
        expect![[r#"
            metadata.name: Invalid value: "b": field is immutable
            metadata.uid: Invalid value: "2": field is immutable
            metadata.generation: Invalid value: 1: must not be decremented"#]]
        .assert_eq(&render(validate_object_meta_update(&new, &old)));
        let old = json!({"name": "a", "deletionTimestamp": "t", "finalizers": ["x"]});
        let new = json!({"name": "a", "deletionTimestamp": "t", "finalizers": ["x", "y"]});
        expect![[r#"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"y"}"#]]
            .assert_eq(&render(validate_object_meta_update(&new, &old)));
    }
}
