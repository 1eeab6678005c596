//! Storage: persistentvolumes, persistentvolumeclaims, storageclasses,
//! volumeattributesclasses, volumeattachments, csidrivers, csinodes.

use serde_json::Value;

use super::{
    arr_at, bool_at, creation_age, docs, get, int, len_at, name_cell, opt_bool, opt_str, quantity,
    s, str_at, Column, Printer, AGE, NAME,
};

/// Annotation that predates `storageClassName` and still wins over it.
const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

pub static PERSISTENT_VOLUMES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Capacity", "string", docs::PV_SPEC_CAPACITY),
        Column::new("Access Modes", "string", docs::PV_SPEC_ACCESS_MODES),
        Column::new("Reclaim Policy", "string", docs::PV_SPEC_RECLAIM_POLICY),
        Column::new("Status", "string", docs::PV_STATUS_PHASE),
        Column::new("Claim", "string", docs::PV_SPEC_CLAIM_REF),
        Column::new("StorageClass", "string", "StorageClass of the pv"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        Column::new("Reason", "string", docs::PV_STATUS_REASON),
        AGE,
        Column::new("VolumeMode", "string", docs::PV_SPEC_VOLUME_MODE).wide(),
    ],
    row: |pv, now| {
        let claim = match get(pv, &["spec", "claimRef"]) {
            Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
            None => String::new(),
        };
        vec![
            name_cell(pv),
            s(quantity(get(pv, &["spec", "capacity", "storage"]), "0")),
            s(access_modes(arr_at(pv, &["spec", "accessModes"]))),
            s(str_at(pv, &["spec", "persistentVolumeReclaimPolicy"])),
            s(phase(pv)),
            s(claim),
            s(storage_class(pv)),
            s(opt_str(pv, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
            s(str_at(pv, &["status", "reason"])),
            creation_age(pv, now),
            s(opt_str(pv, &["spec", "volumeMode"]).unwrap_or("<unset>")),
        ]
    },
};

/// The status phase, or `Terminating` once deletion started.
fn phase(obj: &Value) -> String {
    if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating".to_string()
    } else {
        str_at(obj, &["status", "phase"]).to_string()
    }
}

/// The class from the beta annotation, else `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    opt_str(obj, &["metadata", "annotations", BETA_STORAGE_CLASS])
        .or_else(|| opt_str(obj, &["spec", "storageClassName"]))
        .unwrap_or("")
        .to_string()
}

/// Access modes abbreviated in a fixed order: RWO, ROX, RWX, RWOP.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

pub static PERSISTENT_VOLUME_CLAIMS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Status", "string", docs::PVC_STATUS_PHASE),
        Column::new("Volume", "string", docs::PVC_SPEC_VOLUME_NAME),
        Column::new("Capacity", "string", docs::PVC_STATUS_CAPACITY),
        Column::new("Access Modes", "string", docs::PVC_STATUS_ACCESS_MODES),
        Column::new("StorageClass", "string", "StorageClass of the pvc"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        Column::new("VolumeMode", "string", docs::PVC_SPEC_VOLUME_MODE).wide(),
    ],
    row: |pvc, now| {
        let volume = str_at(pvc, &["spec", "volumeName"]);
        // Capacity and access modes are only meaningful once bound.
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                quantity(get(pvc, &["status", "capacity", "storage"]), "0"),
                access_modes(arr_at(pvc, &["status", "accessModes"])),
            )
        };
        vec![
            name_cell(pvc),
            s(phase(pvc)),
            s(volume),
            s(capacity),
            s(modes),
            s(storage_class(pvc)),
            s(opt_str(pvc, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
            creation_age(pvc, now),
            s(opt_str(pvc, &["spec", "volumeMode"]).unwrap_or("<unset>")),
        ]
    },
};

fn annotation_is_true(obj: &Value, key: &str) -> bool {
    opt_str(obj, &["metadata", "annotations", key]) == Some("true")
}

pub static STORAGE_CLASSES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Provisioner", "string", docs::STORAGE_CLASS_PROVISIONER),
        Column::new(
            "ReclaimPolicy",
            "string",
            docs::STORAGE_CLASS_RECLAIM_POLICY,
        ),
        Column::new(
            "VolumeBindingMode",
            "string",
            docs::STORAGE_CLASS_VOLUME_BINDING_MODE,
        ),
        Column::new(
            "AllowVolumeExpansion",
            "string",
            docs::STORAGE_CLASS_ALLOW_VOLUME_EXPANSION,
        ),
        AGE,
    ],
    row: |obj, now| {
        let mut name = str_at(obj, &["metadata", "name"]).to_string();
        if annotation_is_true(obj, "storageclass.kubernetes.io/is-default-class")
            || annotation_is_true(obj, "storageclass.beta.kubernetes.io/is-default-class")
        {
            name.push_str(" (default)");
        }
        vec![
            s(name),
            s(str_at(obj, &["provisioner"])),
            s(opt_str(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
            s(opt_str(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
            Value::Bool(bool_at(obj, &["allowVolumeExpansion"])),
            creation_age(obj, now),
        ]
    },
};

pub static VOLUME_ATTRIBUTES_CLASSES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "DriverName",
            "string",
            docs::VOLUME_ATTRIBUTES_CLASS_DRIVER_NAME,
        ),
        AGE,
    ],
    row: |obj, now| {
        let mut name = str_at(obj, &["metadata", "name"]).to_string();
        if annotation_is_true(
            obj,
            "volumeattributesclass.alpha.kubernetes.io/is-default-class",
        ) {
            name.push_str(" (default)");
        }
        vec![
            s(name),
            s(str_at(obj, &["driverName"])),
            creation_age(obj, now),
        ]
    },
};

pub static VOLUME_ATTACHMENTS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Attacher", "string", docs::VOLUME_ATTACHMENT_SPEC_ATTACHER).named(),
        Column::new("PV", "string", docs::VOLUME_ATTACHMENT_SOURCE_PV),
        Column::new("Node", "string", docs::VOLUME_ATTACHMENT_SPEC_NODE_NAME),
        Column::new(
            "Attached",
            "boolean",
            docs::VOLUME_ATTACHMENT_STATUS_ATTACHED,
        ),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "attacher"])),
            s(str_at(obj, &["spec", "source", "persistentVolumeName"])),
            s(str_at(obj, &["spec", "nodeName"])),
            Value::Bool(bool_at(obj, &["status", "attached"])),
            creation_age(obj, now),
        ]
    },
};

pub static CSI_DRIVERS: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "AttachRequired",
            "boolean",
            docs::CSI_DRIVER_ATTACH_REQUIRED,
        ),
        Column::new(
            "PodInfoOnMount",
            "boolean",
            docs::CSI_DRIVER_POD_INFO_ON_MOUNT,
        ),
        Column::new(
            "StorageCapacity",
            "boolean",
            docs::CSI_DRIVER_STORAGE_CAPACITY,
        ),
        Column::new("TokenRequests", "string", docs::CSI_DRIVER_TOKEN_REQUESTS),
        Column::new(
            "RequiresRepublish",
            "boolean",
            docs::CSI_DRIVER_REQUIRES_REPUBLISH,
        ),
        Column::new("Modes", "string", docs::CSI_DRIVER_VOLUME_LIFECYCLE_MODES),
        AGE,
    ],
    row: |obj, now| {
        let spec_bool = |field: &str, default: bool| {
            Value::Bool(opt_bool(obj, &["spec", field]).unwrap_or(default))
        };
        let token_requests = match get(obj, &["spec", "tokenRequests"]).and_then(Value::as_array) {
            None => "<unset>".to_string(),
            Some(requests) => requests
                .iter()
                .map(|t| str_at(t, &["audience"]))
                .collect::<Vec<_>>()
                .join(","),
        };
        let modes: Vec<&str> = arr_at(obj, &["spec", "volumeLifecycleModes"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let modes = if modes.is_empty() {
            "<none>".to_string()
        } else {
            modes.join(",")
        };
        vec![
            name_cell(obj),
            spec_bool("attachRequired", true),
            spec_bool("podInfoOnMount", false),
            spec_bool("storageCapacity", false),
            s(token_requests),
            spec_bool("requiresRepublish", false),
            s(modes),
            creation_age(obj, now),
        ]
    },
};

pub static CSI_NODES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Drivers",
            "integer",
            "Drivers indicates the number of CSI drivers registered on the node",
        ),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            int(len_at(obj, &["spec", "drivers"])),
            creation_age(obj, now),
        ]
    },
};
