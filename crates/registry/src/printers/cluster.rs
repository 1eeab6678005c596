//! Cluster-scoped core kinds: nodes, namespaces, componentstatuses.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    arr_at, bool_at, condition, creation_age, docs, map_at, name_cell, s, str_at, Column, Printer,
    AGE, NAME,
};

pub static NODES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Status", "string", "The status of the node"),
        Column::new("Roles", "string", "The roles of the node"),
        AGE,
        Column::new("Version", "string", docs::NODE_INFO_KUBELET_VERSION),
        Column::new("Internal-IP", "string", docs::NODE_STATUS_ADDRESSES).wide(),
        Column::new("External-IP", "string", docs::NODE_STATUS_ADDRESSES).wide(),
        Column::new("OS-Image", "string", docs::NODE_INFO_OS_IMAGE).wide(),
        Column::new("Kernel-Version", "string", docs::NODE_INFO_KERNEL_VERSION).wide(),
        Column::new(
            "Container-Runtime",
            "string",
            docs::NODE_INFO_CONTAINER_RUNTIME,
        )
        .wide(),
    ],
    row: node_row,
};

fn node_row(node: &Value, now: i64) -> Vec<Value> {
    let info = |field: &str| match str_at(node, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name_cell(node),
        s(node_status(node)),
        s(node_roles(node)),
        creation_age(node, now),
        s(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

/// `Ready` / `NotReady` / `Unknown`, plus `SchedulingDisabled` when cordoned.
fn node_status(node: &Value) -> String {
    // Upstream keeps the last condition of a type when there are duplicates.
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role`
/// label value, sorted; `<none>` without any.
fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in map_at(node, &["metadata", "labels"]).into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role" {
            if let Some(role) = value.as_str().filter(|r| !r.is_empty()) {
                roles.insert(role.to_string());
            }
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// The first address of a type, `<none>` without one.
fn node_address(node: &Value, type_: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

pub static NAMESPACES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Status", "string", "The status of the namespace"),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["status", "phase"])),
            creation_age(obj, now),
        ]
    },
};

pub static COMPONENT_STATUSES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Status", "string", "Status of the component conditions"),
        Column::new("Message", "string", "Message of the component conditions"),
        Column::new("Error", "string", "Error of the component conditions"),
    ],
    row: |obj, _now| {
        let (status, message, error) = match condition(obj, &["conditions"], "Healthy") {
            Some(c) => (
                if str_at(c, &["status"]) == "True" {
                    "Healthy"
                } else {
                    "Unhealthy"
                },
                str_at(c, &["message"]),
                str_at(c, &["error"]),
            ),
            None => ("Unknown", "", ""),
        };
        vec![name_cell(obj), s(status), s(message), s(error)]
    },
};
