//! Workload controllers and their helpers: podtemplates, replicationcontrollers,
//! replicasets, deployments, statefulsets, daemonsets, controllerrevisions,
//! poddisruptionbudgets.

use serde_json::Value;

use super::{
    arr_at, container_cells, creation_age, docs, format_label_selector, format_labels, get, int,
    int_at, int_or_string, label_selector_string, name_cell, s, str_at, Column, Printer, AGE,
    CONTAINERS, IMAGES, NAME,
};

pub static POD_TEMPLATES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        Column::new(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
        Column::new("Pod Labels", "string", "The labels for the pod template."),
    ],
    row: |obj, _now| {
        let (names, images) = container_cells(get(obj, &["template", "spec"]));
        vec![
            name_cell(obj),
            names,
            images,
            s(format_labels(get(obj, &["template", "metadata", "labels"]))),
        ]
    },
};

pub static REPLICATION_CONTROLLERS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Desired", "integer", docs::RC_SPEC_REPLICAS),
        Column::new("Current", "integer", docs::RC_STATUS_REPLICAS),
        Column::new("Ready", "integer", docs::RC_STATUS_READY_REPLICAS),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::new("Selector", "string", docs::RC_SPEC_SELECTOR).wide(),
    ],
    row: |obj, now| {
        let (names, images) = container_cells(get(obj, &["spec", "template", "spec"]));
        vec![
            name_cell(obj),
            int(int_at(obj, &["spec", "replicas"])),
            int(int_at(obj, &["status", "replicas"])),
            int(int_at(obj, &["status", "readyReplicas"])),
            creation_age(obj, now),
            names,
            images,
            s(format_labels(get(obj, &["spec", "selector"]))),
        ]
    },
};

pub static REPLICA_SETS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Desired", "integer", docs::RS_SPEC_REPLICAS),
        Column::new("Current", "integer", docs::RS_STATUS_REPLICAS),
        Column::new("Ready", "integer", docs::RS_STATUS_READY_REPLICAS),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::new("Selector", "string", docs::RS_SPEC_SELECTOR).wide(),
    ],
    row: |obj, now| {
        let (names, images) = container_cells(get(obj, &["spec", "template", "spec"]));
        vec![
            name_cell(obj),
            int(int_at(obj, &["spec", "replicas"])),
            int(int_at(obj, &["status", "replicas"])),
            int(int_at(obj, &["status", "readyReplicas"])),
            creation_age(obj, now),
            names,
            images,
            s(format_label_selector(get(obj, &["spec", "selector"]))),
        ]
    },
};

pub static DEPLOYMENTS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        Column::new("Up-to-date", "string", docs::DEPLOYMENT_STATUS_UPDATED),
        Column::new("Available", "string", docs::DEPLOYMENT_STATUS_AVAILABLE),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::new("Selector", "string", docs::DEPLOYMENT_SPEC_SELECTOR).wide(),
    ],
    row: |obj, now| {
        let (names, images) = container_cells(get(obj, &["spec", "template", "spec"]));
        // Unlike other workloads, an empty selector prints as "" here, not <none>.
        let selector = label_selector_string(get(obj, &["spec", "selector"]))
            .unwrap_or_else(|| "<invalid>".to_string());
        vec![
            name_cell(obj),
            s(format!(
                "{}/{}",
                int_at(obj, &["status", "readyReplicas"]),
                int_at(obj, &["spec", "replicas"])
            )),
            int(int_at(obj, &["status", "updatedReplicas"])),
            int(int_at(obj, &["status", "availableReplicas"])),
            creation_age(obj, now),
            names,
            images,
            s(selector),
        ]
    },
};

pub static STATEFUL_SETS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ],
    row: |obj, now| {
        let (names, images) = container_cells(get(obj, &["spec", "template", "spec"]));
        vec![
            name_cell(obj),
            s(format!(
                "{}/{}",
                int_at(obj, &["status", "readyReplicas"]),
                int_at(obj, &["spec", "replicas"])
            )),
            creation_age(obj, now),
            names,
            images,
        ]
    },
};

pub static DAEMON_SETS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Desired", "integer", docs::DS_STATUS_DESIRED),
        Column::new("Current", "integer", docs::DS_STATUS_CURRENT),
        Column::new("Ready", "integer", docs::DS_STATUS_READY),
        Column::new("Up-to-date", "integer", docs::DS_STATUS_UPDATED),
        Column::new("Available", "integer", docs::DS_STATUS_AVAILABLE),
        Column::new("Node Selector", "string", docs::POD_SPEC_NODE_SELECTOR),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::new("Selector", "string", docs::DS_SPEC_SELECTOR).wide(),
    ],
    row: |obj, now| {
        let (names, images) = container_cells(get(obj, &["spec", "template", "spec"]));
        vec![
            name_cell(obj),
            int(int_at(obj, &["status", "desiredNumberScheduled"])),
            int(int_at(obj, &["status", "currentNumberScheduled"])),
            int(int_at(obj, &["status", "numberReady"])),
            int(int_at(obj, &["status", "updatedNumberScheduled"])),
            int(int_at(obj, &["status", "numberAvailable"])),
            s(format_labels(get(
                obj,
                &["spec", "template", "spec", "nodeSelector"],
            ))),
            creation_age(obj, now),
            names,
            images,
            s(format_label_selector(get(obj, &["spec", "selector"]))),
        ]
    },
};

pub static CONTROLLER_REVISIONS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Controller", "string", "Controller of the object"),
        Column::new("Revision", "string", docs::CONTROLLER_REVISION_REVISION),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(controller_name(obj)),
            int(int_at(obj, &["revision"])),
            creation_age(obj, now),
        ]
    },
};

/// The controlling owner as `kind.group/name` (lowercased kind and group), `<none>` when the
/// object has no controller.
fn controller_name(obj: &Value) -> String {
    let owner = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| get(r, &["controller"]).and_then(Value::as_bool) == Some(true));
    let Some(owner) = owner else {
        return "<none>".to_string();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    // "v1" has no group; "apps/v1" has group "apps".
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = str_at(owner, &["kind"]);
    let name = str_at(owner, &["name"]);
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    if group_kind.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", group_kind.to_lowercase())
    }
}

pub static POD_DISRUPTION_BUDGETS: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        Column::new(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        Column::new(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        AGE,
    ],
    row: |obj, now| {
        let bound = |field: &str| {
            get(obj, &["spec", field])
                .map(int_or_string)
                .unwrap_or_else(|| "N/A".to_string())
        };
        vec![
            name_cell(obj),
            s(bound("minAvailable")),
            s(bound("maxUnavailable")),
            int(int_at(obj, &["status", "disruptionsAllowed"])),
            creation_age(obj, now),
        ]
    },
};
