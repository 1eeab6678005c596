//! `labelSelector` and `fieldSelector` of list, watch and deletecollection.

use apimachinery::selector::{self, FieldSelector, LabelSelector};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::rest::Scope;
use crate::watch_cache::CachedObject;

pub struct Filter {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
    strategy: &'static dyn registry::Strategy,
    namespaced: bool,
}

impl Filter {
    pub fn from_scope(scope: &Scope<'_>) -> ApiResult<Filter> {
        let label = match scope
            .param("labelSelector")
            .filter(|s| !s.trim().is_empty())
        {
            Some(s) => Some(
                selector::parse_label_selector(s)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            ),
            None => None,
        };
        let field = match scope
            .param("fieldSelector")
            .filter(|s| !s.trim().is_empty())
        {
            Some(s) => {
                let f = selector::parse_field_selector(s)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                for r in f.requirements() {
                    let known = matches!(r.field.as_str(), "metadata.name" | "metadata.namespace")
                        || scope.strategy.field_label(&Value::Null, &r.field).is_some();
                    if !known {
                        return Err(ApiError::bad_request(format!(
                            "field label not supported: {}",
                            r.field
                        )));
                    }
                }
                Some(f)
            }
            None => None,
        };
        Ok(Filter {
            label,
            field,
            strategy: scope.strategy,
            namespaced: scope.info.namespaced,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.label.is_none() && self.field.is_none()
    }

    pub fn matches(&self, obj: &CachedObject) -> bool {
        self.matches_parsed(obj, &std::sync::OnceLock::new())
    }

    /// As [`Filter::matches`], parsing what field selectors read of `obj`
    /// ([`crate::selectable`]) into `parsed` only if one needs it (callers share one cell
    /// per object among many filters).
    pub fn matches_parsed(&self, obj: &CachedObject, parsed: &std::sync::OnceLock<Value>) -> bool {
        if let Some(l) = &self.label {
            if !l.matches(&obj.labels) {
                return false;
            }
        }
        match &self.field {
            None => true,
            // Name and namespace are read off the key (`.../{namespace}/{name}`), so the
            // common by-name watch never parses the object.
            Some(f)
                if f.requirements()
                    .iter()
                    .all(|r| r.field == "metadata.name" || r.field == "metadata.namespace") =>
            {
                let mut parts = obj.key.rsplit('/');
                let name = parts.next().unwrap_or("").to_string();
                let namespace = if self.namespaced {
                    parts.next().unwrap_or("").to_string()
                } else {
                    String::new()
                };
                f.matches(|field| {
                    Some(if field == "metadata.name" {
                        name.clone()
                    } else {
                        namespace.clone()
                    })
                })
            }
            // Deeper than any field label today (say a custom resource's selectable field
            // some day): the whole object, not the shared parse of what labels can read.
            Some(f)
                if f.requirements()
                    .iter()
                    .any(|r| r.field.matches('.').count() > 1) =>
            {
                let v = obj.value();
                f.matches(|field| field_value(self.strategy, &v, field))
            }
            Some(f) => {
                let v = parsed.get_or_init(|| crate::selectable::parse(&obj.json));
                f.matches(|field| field_value(self.strategy, v, field))
            }
        }
    }
}

fn field_value(strategy: &dyn registry::Strategy, v: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        "metadata.namespace" => Some(
            v.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        other => strategy.field_label(v, other),
    }
}
