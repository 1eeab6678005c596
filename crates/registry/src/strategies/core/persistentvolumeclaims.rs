//! PersistentVolumeClaims and PersistentVolumes.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use crate::strategies::json::{array_at, ensure_object, get, object_at, set_default, str_at};
use crate::Strategy;
use apimachinery::quantity;

pub struct PersistentVolumeClaimStrategy;
pub struct PersistentVolumeStrategy;

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];

fn validate_access_modes(spec: &Value, path: &Path, errs: &mut FieldErrors) {
    let modes = array_at(spec, &["accessModes"]);
    if modes.is_empty() {
        errs.push(FieldError::required(
            path.child("accessModes"),
            "at least 1 access mode is required",
        ));
    }
    for m in modes.iter().filter_map(Value::as_str) {
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(
                path.child("accessModes"),
                m,
                ACCESS_MODES,
            ));
        }
    }
    let mode = str_at(spec, &["volumeMode"]);
    if !mode.is_empty() && !VOLUME_MODES.contains(&mode) {
        errs.push(FieldError::not_supported(
            path.child("volumeMode"),
            mode,
            VOLUME_MODES,
        ));
    }
}

impl Strategy for PersistentVolumeClaimStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "volumeMode", json!("Filesystem"));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Pending"}));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        validate_access_modes(spec, &path, &mut errs);
        let storage_path = path.child("resources").key("storage");
        match get(spec, &["resources", "requests", "storage"]) {
            None => errs.push(FieldError::required(storage_path, "")),
            Some(q) => {
                if quantity::parse(q).is_none_or(|v| v <= 0.0) {
                    errs.push(FieldError::invalid(
                        storage_path,
                        q.clone(),
                        "must be greater than zero",
                    ));
                }
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        // Only requests (expansion), the attributes class and a first binding may change.
        let strip = |obj: &Value, keep_volume_name: bool| {
            let mut spec = obj.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = spec.as_object_mut() {
                m.remove("volumeAttributesClassName");
                if !keep_volume_name {
                    m.remove("volumeName");
                }
                if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
            }
            spec
        };
        let binding = str_at(old, &["spec", "volumeName"]).is_empty();
        if strip(new, !binding) != strip(old, !binding) {
            errs.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }
}

impl Strategy for PersistentVolumeStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            set_default(spec, "volumeMode", json!("Filesystem"));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Pending"}));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        validate_access_modes(spec, &path, &mut errs);
        if object_at(spec, &["capacity"]).is_none_or(|c| !c.contains_key("storage")) {
            errs.push(FieldError::required(path.child("capacity"), ""));
        }
        let policy = str_at(spec, &["persistentVolumeReclaimPolicy"]);
        if !policy.is_empty() && !RECLAIM_POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(
                path.child("persistentVolumeReclaimPolicy"),
                policy,
                RECLAIM_POLICIES,
            ));
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn claims() {
        let mut pvc = json!({"spec": {"resources": {}}});
        PersistentVolumeClaimStrategy.default(&mut pvc);
        expect![[r#"
            spec.accessModes: Required value: at least 1 access mode is required
            spec.resources[storage]: Required value"#]]
        .assert_eq(&messages(&PersistentVolumeClaimStrategy.validate(&pvc)));
        let old = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let mut new = old.clone();
        new["spec"]["volumeName"] = json!("pv-1");
        new["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert_eq!(
            messages(&PersistentVolumeClaimStrategy.validate_update(&new, &old)),
            ""
        );
        new["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        expect!["spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"]
            .assert_eq(&messages(&PersistentVolumeClaimStrategy.validate_update(&new, &old)));
    }
}
