//! A `PatchMeta` for apply tests, from a small JSON description.
//!
//! Each key names a field. Its value is an object (the field's own fields) or a list
//! `[kind, {fields of the items}]` where kind is `"atomic"`, `"set"` or `"map:k1,k2=default"`.
//! An object may carry `"$atomic": true` (an atomic object) and `"$present": true` (present in
//! an empty object of the type, as a Go non-pointer struct).
//!
//! ```text
//! {"spec": {"$present": true, "containers": ["map:name", {"ports": ["map:containerPort,protocol=TCP"]}]}}
//! ```

use std::collections::HashMap;

use serde_json::Value;

use crate::patch::{ListStrategy, ListType, PatchMeta};

#[derive(Debug, Default, Clone)]
pub(crate) struct ApplyTestMeta(HashMap<String, Field>);

#[derive(Debug, Default, Clone)]
struct Field {
    list: Option<ListType>,
    key_defaults: HashMap<String, Value>,
    atomic: bool,
    present: bool,
    child: ApplyTestMeta,
}

impl ApplyTestMeta {
    pub(crate) fn from_json(desc: &Value) -> ApplyTestMeta {
        let mut fields = HashMap::new();
        let Value::Object(m) = desc else {
            return ApplyTestMeta::default();
        };
        for (name, v) in m.iter().filter(|(n, _)| !n.starts_with('$')) {
            let field = match v {
                Value::Array(parts) => {
                    let kind = parts.first().and_then(Value::as_str).unwrap_or("atomic");
                    let mut key_defaults = HashMap::new();
                    let list = match kind {
                        "set" => ListType::Set,
                        k if k.starts_with("map:") => ListType::Map(
                            k["map:".len()..]
                                .split(',')
                                .map(|key| match key.split_once('=') {
                                    Some((key, default)) => {
                                        key_defaults.insert(
                                            key.to_string(),
                                            Value::String(default.to_string()),
                                        );
                                        key.to_string()
                                    }
                                    None => key.to_string(),
                                })
                                .collect(),
                        ),
                        _ => ListType::Atomic,
                    };
                    Field {
                        list: Some(list),
                        key_defaults,
                        child: parts
                            .get(1)
                            .map(ApplyTestMeta::from_json)
                            .unwrap_or_default(),
                        ..Field::default()
                    }
                }
                other => Field {
                    atomic: other.get("$atomic") == Some(&Value::Bool(true)),
                    present: other.get("$present") == Some(&Value::Bool(true)),
                    child: ApplyTestMeta::from_json(other),
                    ..Field::default()
                },
            };
            fields.insert(name.clone(), field);
        }
        ApplyTestMeta(fields)
    }
}

impl PatchMeta for ApplyTestMeta {
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>> {
        self.0
            .get(name)
            .map(|f| Box::new(&f.child) as Box<dyn PatchMeta + '_>)
    }
    fn list_strategy(&self, name: &str) -> ListStrategy {
        match self.list_type(name) {
            ListType::Map(keys) => ListStrategy::MergeByKey(keys[0].clone()),
            ListType::Set => ListStrategy::MergeScalars,
            ListType::Atomic => ListStrategy::Replace,
        }
    }
    fn list_type(&self, name: &str) -> ListType {
        self.0
            .get(name)
            .and_then(|f| f.list.clone())
            .unwrap_or(ListType::Atomic)
    }
    fn list_key_default(&self, list: &str, key: &str) -> Option<Value> {
        self.0.get(list)?.key_defaults.get(key).cloned()
    }
    fn atomic_object(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|f| f.atomic)
    }
    fn always_present(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|f| f.present)
    }
}
