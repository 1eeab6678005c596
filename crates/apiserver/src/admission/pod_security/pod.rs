//! A read-only view of the parts of a pod the Pod Security Standards look at, over the
//! pod's JSON (a pod, or a workload's pod template: both have `metadata` and `spec`).

use serde_json::Value;

pub struct PodView<'a> {
    pub meta: &'a Value,
    pub spec: &'a Value,
}

/// One container of any kind (app, init, ephemeral): all are checked alike.
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub c: &'a Value,
}

impl<'a> PodView<'a> {
    pub fn new(meta: &'a Value, spec: &'a Value) -> Self {
        PodView { meta, spec }
    }

    pub fn containers(&self) -> Vec<ContainerView<'a>> {
        ["initContainers", "containers", "ephemeralContainers"]
            .iter()
            .filter_map(|k| self.spec.get(*k).and_then(Value::as_array))
            .flatten()
            .map(|c| ContainerView {
                name: c.get("name").and_then(Value::as_str).unwrap_or(""),
                c,
            })
            .collect()
    }

    /// A field of the pod's `securityContext` (a JSON pointer below it).
    pub fn sc(&self, pointer: &str) -> Option<&'a Value> {
        self.spec.pointer(&format!("/securityContext{pointer}"))
    }

    /// Windows pods are exempt from the Linux-only Restricted checks.
    pub fn is_windows(&self) -> bool {
        self.spec.pointer("/os/name").and_then(Value::as_str) == Some("windows")
    }

    pub fn flag(&self, key: &str) -> bool {
        self.spec.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn annotations(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.meta
            .get("annotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }

    pub fn volumes(&self) -> impl Iterator<Item = &'a Value> {
        self.spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }
}

impl<'a> ContainerView<'a> {
    /// A field of the container's `securityContext` (a JSON pointer below it).
    pub fn sc(&self, pointer: &str) -> Option<&'a Value> {
        self.c.pointer(&format!("/securityContext{pointer}"))
    }

    pub fn caps(&self, list: &str) -> Vec<&'a str> {
        self.sc(&format!("/capabilities/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }
}

/// `container "a"` or `containers "a", "b"`, as upstream names the offenders.
pub fn containers_phrase(names: &[&str]) -> String {
    plural_phrase("container", "containers", names)
}

pub fn plural_phrase(one: &str, many: &str, names: &[&str]) -> String {
    let word = if names.len() == 1 { one } else { many };
    format!("{word} {}", quoted(names))
}

pub fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn pluralize<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 {
        one
    } else {
        many
    }
}
