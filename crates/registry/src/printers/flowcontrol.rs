//! API priority and fairness (flowschemas, prioritylevelconfigurations) and the
//! apiserver-internal storageversions.

use super::{
    arr_at, condition, creation_age, docs, get, int, int_at, list_with_more, name_cell, opt_int,
    opt_str, s, str_at, Column, Printer, AGE, NAME,
};

pub static FLOW_SCHEMAS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("PriorityLevel", "string", docs::FLOW_SCHEMA_PRIORITY_LEVEL),
        Column::new(
            "MatchingPrecedence",
            "string",
            docs::FLOW_SCHEMA_MATCHING_PRECEDENCE,
        ),
        Column::new(
            "DistinguisherMethod",
            "string",
            docs::FLOW_SCHEMA_DISTINGUISHER_METHOD,
        ),
        AGE,
        Column::new(
            "MissingPL",
            "string",
            "references a broken or non-existent PriorityLevelConfiguration",
        ),
    ],
    row: |obj, now| {
        let distinguisher = opt_str(obj, &["spec", "distinguisherMethod", "type"])
            .or_else(|| get(obj, &["spec", "distinguisherMethod"]).map(|_| ""))
            .unwrap_or("<none>");
        let dangling = condition(obj, &["status", "conditions"], "Dangling")
            .map(|c| str_at(c, &["status"]))
            .unwrap_or("?");
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "priorityLevelConfiguration", "name"])),
            int(int_at(obj, &["spec", "matchingPrecedence"])),
            s(distinguisher),
            creation_age(obj, now),
            s(dangling),
        ]
    },
};

pub static PRIORITY_LEVEL_CONFIGURATIONS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Type", "string", docs::PLC_SPEC_TYPE),
        Column::new(
            "NominalConcurrencyShares",
            "string",
            docs::PLC_NOMINAL_CONCURRENCY_SHARES,
        ),
        Column::new("Queues", "string", docs::QUEUING_QUEUES),
        Column::new("HandSize", "string", docs::QUEUING_HAND_SIZE),
        Column::new(
            "QueueLengthLimit",
            "string",
            docs::QUEUING_QUEUE_LENGTH_LIMIT,
        ),
        AGE,
    ],
    row: |obj, now| {
        let none = || s("<none>");
        let (mut shares, mut queues, mut hand_size, mut queue_length) =
            (none(), none(), none(), none());
        if let Some(limited) = get(obj, &["spec", "limited"]) {
            shares = int(opt_int(limited, &["nominalConcurrencyShares"]).unwrap_or(0));
            if let Some(queuing) = get(limited, &["limitResponse", "queuing"]) {
                queues = int(int_at(queuing, &["queues"]));
                hand_size = int(int_at(queuing, &["handSize"]));
                queue_length = int(int_at(queuing, &["queueLengthLimit"]));
            }
        }
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "type"])),
            shares,
            queues,
            hand_size,
            queue_length,
            creation_age(obj, now),
        ]
    },
};

pub static STORAGE_VERSIONS: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "CommonEncodingVersion",
            "string",
            docs::STORAGE_VERSION_COMMON_ENCODING_VERSION,
        ),
        Column::new(
            "StorageVersions",
            "string",
            docs::STORAGE_VERSION_STORAGE_VERSIONS,
        ),
        AGE,
    ],
    row: |obj, now| {
        let versions: Vec<String> = arr_at(obj, &["status", "storageVersions"])
            .iter()
            .map(|v| {
                format!(
                    "{}={}",
                    str_at(v, &["apiServerID"]),
                    str_at(v, &["encodingVersion"])
                )
            })
            .collect();
        vec![
            name_cell(obj),
            s(opt_str(obj, &["status", "commonEncodingVersion"]).unwrap_or("<unset>")),
            s(list_with_more(&versions, 3)),
            creation_age(obj, now),
        ]
    },
};
