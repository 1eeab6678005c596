//! Events, core/v1 and events.k8s.io/v1 alike (upstream prints both from the internal core
//! Event, so events.k8s.io fields are read under their core names).

use serde_json::Value;

use super::{age, docs, get, int, opt_int, opt_str, s, str_at, Column, Printer, NAME};

const COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", docs::EVENT_LAST_TIMESTAMP),
    Column::new("Type", "string", docs::EVENT_TYPE),
    Column::new("Reason", "string", docs::EVENT_REASON),
    Column::new("Object", "string", docs::EVENT_INVOLVED_OBJECT),
    Column::new("Subobject", "string", docs::OBJECT_REFERENCE_FIELD_PATH).wide(),
    Column::new("Source", "string", docs::EVENT_SOURCE).wide(),
    Column::new("Message", "string", docs::EVENT_MESSAGE),
    Column::new("First Seen", "string", docs::EVENT_FIRST_TIMESTAMP).wide(),
    Column::new("Count", "string", docs::EVENT_COUNT).wide(),
    NAME.wide(),
];

pub static CORE_EVENTS: Printer = Printer {
    columns: COLUMNS,
    row: |obj, now| event_row(obj, &CORE, now),
};
pub static EVENTS_V1: Printer = Printer {
    columns: COLUMNS,
    row: |obj, now| event_row(obj, &V1, now),
};

/// Where each field the printer reads lives in one API version of Event.
struct Fields {
    involved_object: &'static str,
    message: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
}

const CORE: Fields = Fields {
    involved_object: "involvedObject",
    message: "message",
    source: "source",
    first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp",
    count: "count",
};

const V1: Fields = Fields {
    involved_object: "regarding",
    message: "note",
    source: "deprecatedSource",
    first_timestamp: "deprecatedFirstTimestamp",
    last_timestamp: "deprecatedLastTimestamp",
    count: "deprecatedCount",
};

fn event_row(event: &Value, f: &Fields, now: i64) -> Vec<Value> {
    let mut first_seen = age(opt_str(event, &[f.first_timestamp]), now);
    if opt_str(event, &[f.first_timestamp]).is_none() {
        first_seen = age(opt_str(event, &["eventTime"]), now);
    }
    let mut last_seen = match opt_str(event, &[f.last_timestamp]) {
        Some(t) => age(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = opt_int(event, &[f.count]).unwrap_or(0);
    if let Some(series) = get(event, &["series"]) {
        last_seen = age(opt_str(series, &["lastObservedTime"]), now);
        count = opt_int(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }

    let kind = str_at(event, &[f.involved_object, "kind"]).to_lowercase();
    let object_name = str_at(event, &[f.involved_object, "name"]);
    let target = if object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{object_name}")
    };

    let first_non_empty = |a: &'static str, b: &str| -> String {
        match str_at(event, &[f.source, a]) {
            "" => str_at(event, &[b]).to_string(),
            v => v.to_string(),
        }
    };
    let component = first_non_empty("component", "reportingController");
    let instance = first_non_empty("host", "reportingInstance");
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };

    vec![
        s(last_seen),
        s(str_at(event, &["type"])),
        s(str_at(event, &["reason"])),
        s(target),
        s(str_at(event, &[f.involved_object, "fieldPath"])),
        s(source),
        s(str_at(event, &[f.message]).trim()),
        s(first_seen),
        int(count),
        s(str_at(event, &["metadata", "name"])),
    ]
}
