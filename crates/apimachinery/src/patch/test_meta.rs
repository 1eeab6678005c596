//! A `PatchMeta` built from a small JSON description, for tests.
//!
//! Each key names a field; its value is either an object (the field's own fields; its lists are
//! replaced) or `[strategy]` / `[strategy, {fields of the items}]`, where strategy is
//! `"replace"`, `"scalars"` or `"key:<mergeKey>"`:
//!
//! ```text
//! {"spec": {"containers": ["key:name", {"env": ["key:name"]}]}, "metadata": {"finalizers": ["scalars"]}}
//! ```

use std::collections::HashMap;

use serde_json::Value;

use super::{ListStrategy, PatchMeta};

#[derive(Debug, Default, Clone)]
pub(crate) struct TestMeta(HashMap<String, (ListStrategy, TestMeta)>);

impl TestMeta {
    pub(crate) fn from_json(desc: &Value) -> TestMeta {
        let mut fields = HashMap::new();
        if let Value::Object(m) = desc {
            for (name, v) in m {
                let entry = match v {
                    Value::Array(parts) => {
                        let strategy = match parts.first().and_then(Value::as_str) {
                            Some("scalars") => ListStrategy::MergeScalars,
                            Some(s) if s.starts_with("key:") => {
                                ListStrategy::MergeByKey(s["key:".len()..].to_string())
                            }
                            _ => ListStrategy::Replace,
                        };
                        let child = parts.get(1).map(TestMeta::from_json).unwrap_or_default();
                        (strategy, child)
                    }
                    other => (ListStrategy::Replace, TestMeta::from_json(other)),
                };
                fields.insert(name.clone(), entry);
            }
        }
        TestMeta(fields)
    }
}

impl PatchMeta for TestMeta {
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>> {
        self.0
            .get(name)
            .map(|(_, child)| Box::new(child) as Box<dyn PatchMeta + '_>)
    }
    fn list_strategy(&self, name: &str) -> ListStrategy {
        self.0
            .get(name)
            .map(|(s, _)| s.clone())
            .unwrap_or(ListStrategy::Replace)
    }
}
