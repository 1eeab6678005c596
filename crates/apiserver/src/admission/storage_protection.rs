//! Upstream's `StorageObjectInUseProtection` admission plugin: every new claim gets the
//! `kubernetes.io/pvc-protection` finalizer and every new volume `kubernetes.io/pv-protection`,
//! so that deleting one still in use (a claim a pod mounts, a volume still Bound) waits
//! until it is not (`controllers::persistentvolume::protection` removes them).

use serde_json::{json, Value};

pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

pub fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if list.is_null() {
        *list = json!([]);
    }
    if let Some(items) = list.as_array_mut() {
        if !items.iter().any(|f| f.as_str() == Some(finalizer)) {
            items.push(json!(finalizer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalizer_added_once() {
        let cases = [
            (json!({"metadata": {"name": "a"}}), json!([PVC_PROTECTION])),
            (
                json!({"metadata": {"finalizers": null}}),
                json!([PVC_PROTECTION]),
            ),
            (
                json!({"metadata": {"finalizers": ["x"]}}),
                json!(["x", PVC_PROTECTION]),
            ),
            (
                json!({"metadata": {"finalizers": [PVC_PROTECTION]}}),
                json!([PVC_PROTECTION]),
            ),
        ];
        for (mut obj, want) in cases {
            add_finalizer(&mut obj, PVC_PROTECTION);
            assert_eq!(obj["metadata"]["finalizers"], want);
        }
    }
}
