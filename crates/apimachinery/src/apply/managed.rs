//! `metadata.managedFields`: one entry per manager, operation, (for updates) API version and
//! subresource, each with the set of fields it owns.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::fieldset::{go_json, FieldSet};
use super::ApplyError;

/// Whether an entry records a server-side apply or any other write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339 time of the entry's last change; upstream omits it where it never set one.
    pub time: Option<String>,
    /// Empty for the main resource.
    pub subresource: String,
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// Whether two entries are the same manager. An applier is one manager whatever version it
    /// applies with (its entry takes the latest version); an updater is one per version.
    pub fn same_manager(&self, other: &ManagedEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// Upstream's identifier of this manager (the JSON of the entry without fields, time and,
    /// for appliers, version): managers in conflict messages are sorted by it.
    pub(crate) fn identifier(&self) -> String {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert(
            "operation".into(),
            Value::String(self.operation.as_str().into()),
        );
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        }
        if !self.subresource.is_empty() {
            m.insert(
                "subresource".into(),
                Value::String(self.subresource.clone()),
            );
        }
        // Field order is the Go struct's, which is the insertion order above.
        let parts: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{}:{}", go_json(&Value::String(k.clone())), go_json(v)))
            .collect();
        format!("{{{}}}", parts.join(","))
    }

    /// Seconds since the epoch of `time`; no time (or one that does not parse) sorts first.
    pub(crate) fn seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .map_or(0, OffsetDateTime::unix_timestamp)
    }
}

/// All entries of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagedFields(pub Vec<ManagedEntry>);

impl ManagedFields {
    /// Reads `metadata.managedFields` (absent or `null`: no entries). Errors carry upstream's
    /// text; a later entry for the same manager replaces an earlier one, as upstream.
    pub fn from_object(obj: &Value) -> Result<ManagedFields, ApplyError> {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(ManagedFields::default()),
            Some(Value::Array(entries)) => {
                let mut out = ManagedFields::default();
                for (i, e) in entries.iter().enumerate() {
                    out.put(decode_entry(i, e).map_err(ApplyError::Invalid)?);
                }
                Ok(out)
            }
            Some(other) => Err(ApplyError::Invalid(format!(
                "metadata.managedFields must be a list, got {other}"
            ))),
        }
    }

    /// Writes the entries to `metadata.managedFields` in upstream's order (appliers first, then
    /// by time, manager, version, subresource), dropping empty ones; no entries removes the
    /// field.
    pub fn write_to(&self, obj: &mut Value) {
        let mut entries: Vec<&ManagedEntry> =
            self.0.iter().filter(|e| !e.fields.is_empty()).collect();
        entries.sort_by(|p, q| {
            p.operation
                .cmp(&q.operation)
                .then_with(|| p.seconds().cmp(&q.seconds()))
                .then_with(|| p.manager.cmp(&q.manager))
                .then_with(|| p.api_version.cmp(&q.api_version))
                .then_with(|| p.subresource.cmp(&q.subresource))
        });
        let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
            if entries.is_empty() {
                return;
            }
            if let Value::Object(root) = obj {
                root.insert("metadata".into(), Value::Object(Map::new()));
            }
            return self.write_to(obj);
        };
        if entries.is_empty() {
            meta.shift_remove("managedFields");
            return;
        }
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.into_iter().map(encode_entry).collect()),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry of the same manager as `like`.
    pub fn get(&self, like: &ManagedEntry) -> Option<&ManagedEntry> {
        self.0.iter().find(|e| e.same_manager(like))
    }

    /// Adds `entry`, replacing the entry of the same manager.
    pub fn put(&mut self, entry: ManagedEntry) {
        match self.0.iter_mut().find(|e| e.same_manager(&entry)) {
            Some(e) => *e = entry,
            None => self.0.push(entry),
        }
    }

    /// Removes the entry of the same manager as `like`, returning it.
    pub(crate) fn take(&mut self, like: &ManagedEntry) -> Option<ManagedEntry> {
        let i = self.0.iter().position(|e| e.same_manager(like))?;
        Some(self.0.remove(i))
    }

    /// Drops entries that own nothing.
    pub(crate) fn drop_empty(&mut self) {
        self.0.retain(|e| !e.fields.is_empty());
    }
}

fn decode_entry(i: usize, e: &Value) -> Result<ManagedEntry, String> {
    let Value::Object(m) = e else {
        return Err(format!("managed fields entry {i} is not an object"));
    };
    let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let operation = match text("operation").as_str() {
        "Apply" => Operation::Apply,
        "Update" => Operation::Update,
        _ => return Err("operation must be `Apply` or `Update`".into()),
    };
    let api_version = text("apiVersion");
    if api_version.is_empty() {
        return Err("apiVersion must not be empty".into());
    }
    match text("fieldsType").as_str() {
        "FieldsV1" => {}
        "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
        other => {
            return Err(format!(
                "invalid fieldsType {other:?} in managed fields entry {i}"
            ))
        }
    }
    let fields = match m.get("fieldsV1") {
        None | Some(Value::Null) => FieldSet::new(),
        Some(v) => {
            FieldSet::from_fields_v1(v).map_err(|err| format!("error decoding set: {err}"))?
        }
    };
    Ok(ManagedEntry {
        manager: text("manager"),
        operation,
        api_version,
        time: m.get("time").and_then(Value::as_str).map(str::to_string),
        subresource: text("subresource"),
        fields,
    })
}

/// The entry as JSON, fields in the order of upstream's Go struct.
fn encode_entry(e: &ManagedEntry) -> Value {
    let mut m = Map::new();
    if !e.manager.is_empty() {
        m.insert("manager".into(), Value::String(e.manager.clone()));
    }
    m.insert(
        "operation".into(),
        Value::String(e.operation.as_str().into()),
    );
    m.insert("apiVersion".into(), Value::String(e.api_version.clone()));
    if let Some(t) = &e.time {
        m.insert("time".into(), Value::String(t.clone()));
    }
    m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
    m.insert("fieldsV1".into(), e.fields.to_fields_v1());
    if !e.subresource.is_empty() {
        m.insert("subresource".into(), Value::String(e.subresource.clone()));
    }
    Value::Object(m)
}
