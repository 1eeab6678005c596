//! core `v1` Event ↔ `events.k8s.io/v1` Event.
//!
//! Upstream converts both through the internal `core.Event`; every field has a counterpart,
//! so the conversion is a renaming and lossless both ways. It fills no defaults (in particular
//! `reportingController` is not derived from `source.component`): a legacy event read through
//! events.k8s.io simply has no `reportingController`.

use serde_json::{Map, Value};

use super::copy;

pub(super) const CORE: &str = "v1";
pub(super) const EVENTS: &str = "events.k8s.io/v1";

/// (core name, events.k8s.io name), in the field order of the core type.
const CORE_FIELDS: [(&str, &str); 15] = [
    ("metadata", "metadata"),
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    // Both series types are {count, lastObservedTime}; upstream casts one to the other.
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    // The core field is `ReportingController` in Go but serialized as `reportingComponent`.
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
];

/// The events.k8s.io field names in the field order of that type.
const EVENTS_ORDER: [&str; 15] = [
    "metadata",
    "eventTime",
    "series",
    "reportingController",
    "reportingInstance",
    "action",
    "reason",
    "regarding",
    "related",
    "note",
    "type",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
];

pub(super) fn core_to_events(obj: Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(EVENTS.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    for events_name in EVENTS_ORDER {
        if let Some((core_name, _)) = CORE_FIELDS.iter().find(|(_, e)| *e == events_name) {
            copy(&mut out, events_name, &obj, core_name);
        }
    }
    Value::Object(out)
}

pub(super) fn events_to_core(obj: Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(CORE.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    for (core_name, events_name) in CORE_FIELDS {
        copy(&mut out, core_name, &obj, events_name);
    }
    Value::Object(out)
}
