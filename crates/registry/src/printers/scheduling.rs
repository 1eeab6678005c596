//! Priority classes and runtime classes.

use serde_json::Value;

use super::{
    bool_at, creation_age, docs, int, int_at, name_cell, s, str_at, Column, Printer, AGE, NAME,
};

pub static PRIORITY_CLASSES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Value", "integer", docs::PRIORITY_CLASS_VALUE),
        Column::new(
            "Global-Default",
            "boolean",
            docs::PRIORITY_CLASS_GLOBAL_DEFAULT,
        ),
        AGE,
        // Upstream defines no priority here but fills the cell only for wide output.
        Column::new(
            "PreemptionPolicy",
            "string",
            docs::PRIORITY_CLASS_PREEMPTION_POLICY,
        ),
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            int(int_at(obj, &["value"])),
            Value::Bool(bool_at(obj, &["globalDefault"])),
            creation_age(obj, now),
            s(str_at(obj, &["preemptionPolicy"])),
        ]
    },
};

pub static RUNTIME_CLASSES: Printer = Printer {
    // Upstream looks "handler" up in ObjectMeta's docs, which have none.
    columns: &[NAME, Column::new("Handler", "string", ""), AGE],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["handler"])),
            creation_age(obj, now),
        ]
    },
};
