//! Dynamic resource allocation: deviceclasses, resourceclaims, resourceclaimtemplates,
//! resourceslices.

use serde_json::Value;

use super::{arr_at, creation_age, docs, get, name_cell, s, str_at, Column, Printer, AGE, NAME};

pub static DEVICE_CLASSES: Printer = Printer {
    columns: &[NAME, AGE],
    row: |obj, now| vec![name_cell(obj), creation_age(obj, now)],
};

pub static RESOURCE_CLAIM_TEMPLATES: Printer = Printer {
    columns: &[NAME, AGE],
    row: |obj, now| vec![name_cell(obj), creation_age(obj, now)],
};

pub static RESOURCE_CLAIMS: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "State",
            "string",
            "A summary of the current state (allocated, pending, reserved, etc.).",
        ),
        AGE,
    ],
    row: |obj, now| vec![name_cell(obj), s(claim_state(obj)), creation_age(obj, now)],
};

/// "deleted", "pending", "allocated", "reserved", comma-joined as they apply.
fn claim_state(obj: &Value) -> String {
    let deleted = get(obj, &["metadata", "deletionTimestamp"]).is_some();
    let mut states = Vec::new();
    if deleted {
        states.push("deleted");
    }
    if get(obj, &["status", "allocation"]).is_none() {
        if !deleted {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !arr_at(obj, &["status", "reservedFor"]).is_empty() {
            states.push("reserved");
        }
    }
    states.join(",")
}

pub static RESOURCE_SLICES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Node", "string", docs::RESOURCE_SLICE_NODE_NAME),
        Column::new("Driver", "string", docs::RESOURCE_SLICE_DRIVER),
        Column::new("Pool", "string", docs::RESOURCE_POOL_NAME),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "nodeName"])),
            s(str_at(obj, &["spec", "driver"])),
            s(str_at(obj, &["spec", "pool", "name"])),
            creation_age(obj, now),
        ]
    },
};
