//! Admission configuration: webhook configurations, admission policies and their bindings.

use serde_json::Value;

use super::selectors::label_selector_struct_string;
use super::{creation_age, get, int, len_at, name_cell, s, str_at, Column, Printer, AGE, NAME};

const WEBHOOKS: Column = Column::new(
    "Webhooks",
    "integer",
    "Webhooks indicates the number of webhooks registered in this configuration",
);

pub static MUTATING_WEBHOOK_CONFIGURATIONS: Printer = Printer {
    columns: &[NAME, WEBHOOKS, AGE],
    row: webhook_row,
};
pub static VALIDATING_WEBHOOK_CONFIGURATIONS: Printer = Printer {
    columns: &[NAME, WEBHOOKS, AGE],
    row: webhook_row,
};

fn webhook_row(obj: &Value, now: i64) -> Vec<Value> {
    vec![
        name_cell(obj),
        int(len_at(obj, &["webhooks"])),
        creation_age(obj, now),
    ]
}

const PARAM_KIND: Column = Column::new(
    "ParamKind",
    "string",
    "ParamKind specifies the kind of resources used to parameterize this policy",
);

pub static VALIDATING_ADMISSION_POLICIES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Validations",
            "integer",
            "Validations indicates the number of validation rules defined in this configuration",
        ),
        PARAM_KIND,
        AGE,
    ],
    row: |obj, now| policy_row(obj, "validations", now),
};

pub static MUTATING_ADMISSION_POLICIES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Mutations",
            "integer",
            "Mutation indicates the number of mutations rules defined in this configuration",
        ),
        PARAM_KIND,
        AGE,
    ],
    row: |obj, now| policy_row(obj, "mutations", now),
};

fn policy_row(obj: &Value, rules: &str, now: i64) -> Vec<Value> {
    let param_kind = match get(obj, &["spec", "paramKind"]) {
        Some(p) => format!("{}/{}", str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
        None => "<unset>".to_string(),
    };
    vec![
        name_cell(obj),
        int(len_at(obj, &["spec", rules])),
        s(param_kind),
        creation_age(obj, now),
    ]
}

const BINDING_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "PolicyName",
        "string",
        "PolicyName indicates the policy definition which the policy binding binded to",
    ),
    Column::new(
        "ParamRef",
        "string",
        "ParamRef indicates the param resource which sets the configration param",
    ),
    AGE,
];

pub static VALIDATING_ADMISSION_POLICY_BINDINGS: Printer = Printer {
    columns: BINDING_COLUMNS,
    row: binding_row,
};
pub static MUTATING_ADMISSION_POLICY_BINDINGS: Printer = Printer {
    columns: BINDING_COLUMNS,
    row: binding_row,
};

fn binding_row(obj: &Value, now: i64) -> Vec<Value> {
    let param = match get(obj, &["spec", "paramRef"]) {
        None => "<unset>".to_string(),
        Some(p) => {
            let name = str_at(p, &["name"]);
            let namespace = str_at(p, &["namespace"]);
            match get(p, &["selector"]) {
                _ if !name.is_empty() && !namespace.is_empty() => format!("{namespace}/{name}"),
                // Whether the param is cluster-scoped is unknown here, so "*" stands in.
                _ if !name.is_empty() => format!("*/{name}"),
                Some(selector) => label_selector_struct_string(selector),
                None => "<unset>".to_string(),
            }
        }
    };
    vec![
        name_cell(obj),
        s(str_at(obj, &["spec", "policyName"])),
        s(param),
        creation_age(obj, now),
    ]
}
