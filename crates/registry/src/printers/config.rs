//! Namespaced configuration: secrets, configmaps, serviceaccounts, resourcequotas.

use serde_json::Value;

use super::{
    creation_age, docs, get, int, len_at, map_at, name_cell, quantity, s, str_at, Column, Printer,
    AGE, NAME,
};

pub static SECRETS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Type", "string", docs::SECRET_TYPE),
        Column::new("Data", "string", docs::SECRET_DATA),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["type"])),
            int(len_at(obj, &["data"])),
            creation_age(obj, now),
        ]
    },
};

pub static CONFIG_MAPS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Data", "string", docs::CONFIG_MAP_DATA),
        AGE,
    ],
    row: |obj, now| {
        let entries = len_at(obj, &["data"]) + len_at(obj, &["binaryData"]);
        vec![name_cell(obj), int(entries), creation_age(obj, now)]
    },
};

pub static SERVICE_ACCOUNTS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Secrets", "string", docs::SERVICE_ACCOUNT_SECRETS),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            int(len_at(obj, &["secrets"])),
            creation_age(obj, now),
        ]
    },
};

pub static RESOURCE_QUOTAS: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        Column::new(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        AGE,
    ],
    row: |obj, now| {
        let (requests, limits) = quota_usage(obj);
        vec![name_cell(obj), s(requests), s(limits), creation_age(obj, now)]
    },
};

/// `resource: used/hard` for every hard limit in status, sorted by resource name; resources
/// named `limits.*` go to the second string.
fn quota_usage(obj: &Value) -> (String, String) {
    let mut resources: Vec<&String> = map_at(obj, &["status", "hard"])
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for resource in resources {
        let used = quantity(get(obj, &["status", "used", resource]), "0");
        let hard = quantity(get(obj, &["status", "hard", resource]), "0");
        let entry = format!("{resource}: {used}/{hard}");
        let mut pieces = resource.split('.');
        let is_limit = pieces.next() == Some("limits") && pieces.next().is_some();
        if is_limit {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    (requests.join(", "), limits.join(", "))
}
