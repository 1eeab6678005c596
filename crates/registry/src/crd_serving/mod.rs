//! What a CustomResourceDefinition serves: one [`ServedVersion`] per version with
//! `served: true`, holding everything the apiserver needs to serve it (names, scope,
//! subresources, printer columns, schema) without looking at the CRD again.
//!
//! Pure: the apiserver turns these into catalog entries and strategies.

mod columns;
mod jsonpath;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use columns::{cells, definitions as column_definitions, PrinterColumn};
pub use jsonpath::{JsonPath, JsonPathError};

/// Where the scale subresource reads and writes, as JSON paths of the custom resource
/// (`.spec.replicas`). Built-in workloads use [`ScalePaths::WORKLOAD`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// Optional: a label selector in its string form, for the HPA.
    pub label_selector: Option<String>,
}

impl ScalePaths {
    pub fn workload() -> ScalePaths {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        }
    }
}

/// One served version of a CRD.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedVersion {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Whether objects are stored in this version.
    pub storage: bool,
    /// The version objects are stored in (upstream writes every object in it).
    pub storage_version: String,
    pub status: bool,
    pub scale: Option<ScalePaths>,
    /// Printer columns, upstream's default (Age) when the CRD declares none.
    pub columns: Vec<PrinterColumn>,
    /// `schema.openAPIV3Schema`, if any.
    pub schema: Option<Value>,
    /// `Some(warning)` for a deprecated version: the text clients get in a Warning header.
    pub deprecation_warning: Option<String>,
    /// Objects live at `/registry/{group}/{plural}/...` (upstream's etcd layout).
    pub storage_prefix: String,
}

/// The catalog's decode hook for custom resources: their strategy decodes them.
pub fn untyped_decode(v: Value) -> Result<Value, serde_json::Error> {
    Ok(v)
}

/// The catalog's schema hook for custom resources: their schema comes from the CRD (see
/// `openapi::v3_custom_document`).
pub fn opaque_schema(_gen: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::Schema::from(true)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(next) => cur = next,
            None => return Vec::new(),
        }
    }
    cur.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the CRD has been accepted and may be served (`Established=True`): the apiserver
/// serves only established CRDs, as upstream does.
pub fn is_established(crd: &Value) -> bool {
    condition_status(crd, "Established") == Some("True")
}

/// `status` of the condition of this type, if present.
pub fn condition_status<'a>(crd: &'a Value, kind: &str) -> Option<&'a str> {
    crd.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?
        .get("status")?
        .as_str()
}

/// The versions a CRD serves, in the CRD's order. A CRD missing its group, names or
/// versions serves nothing (validation refuses such CRDs; this is for stored leftovers).
pub fn served_versions(crd: &Value) -> Vec<ServedVersion> {
    let spec = crd.get("spec").unwrap_or(&Value::Null);
    let group = str_at(spec, &["group"]);
    // Upstream serves the names the naming controller accepted: a later change of
    // `spec.names` that clashes with another CRD leaves the served names as they were.
    let names = match crd.pointer("/status/acceptedNames") {
        Some(accepted)
            if !str_at(accepted, &["plural"]).is_empty()
                && !str_at(accepted, &["kind"]).is_empty() =>
        {
            accepted
        }
        _ => spec.get("names").unwrap_or(&Value::Null),
    };
    let kind = str_at(names, &["kind"]);
    let plural = str_at(names, &["plural"]);
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let singular = match str_at(names, &["singular"]) {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let list_kind = match str_at(names, &["listKind"]) {
        "" => format!("{kind}List"),
        s => s.to_string(),
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| str_at(v, &["name"]).to_string())
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .map(|v| {
            let version = str_at(v, &["name"]).to_string();
            let subresources = v.get("subresources").unwrap_or(&Value::Null);
            let scale = subresources
                .get("scale")
                .filter(|s| s.is_object())
                .map(|s| {
                    let selector = str_at(s, &["labelSelectorPath"]);
                    ScalePaths {
                        spec_replicas: str_at(s, &["specReplicasPath"]).to_string(),
                        status_replicas: str_at(s, &["statusReplicasPath"]).to_string(),
                        label_selector: (!selector.is_empty()).then(|| selector.to_string()),
                    }
                });
            let deprecated = v.get("deprecated").and_then(Value::as_bool) == Some(true);
            let deprecation_warning =
                deprecated.then(
                    || match v.get("deprecationWarning").and_then(Value::as_str) {
                        Some(w) => w.to_string(),
                        None => format!("{group}/{version} {kind} is deprecated"),
                    },
                );
            ServedVersion {
                group: group.to_string(),
                kind: kind.to_string(),
                list_kind: list_kind.clone(),
                plural: plural.to_string(),
                singular: singular.clone(),
                namespaced: str_at(spec, &["scope"]) != "Cluster",
                short_names: strings_at(names, &["shortNames"]),
                categories: strings_at(names, &["categories"]),
                storage: v.get("storage").and_then(Value::as_bool) == Some(true),
                storage_version: storage_version.clone(),
                status: subresources.get("status").is_some_and(Value::is_object),
                scale,
                columns: columns::for_version(v),
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                deprecation_warning,
                storage_prefix: storage_prefix(group, plural),
                version,
            }
        })
        .collect()
}

/// Where a CRD's objects live under `/registry/` (upstream's etcd layout).
pub fn storage_prefix(group: &str, plural: &str) -> String {
    format!("{group}/{plural}")
}

/// Upstream's order of versions within a group: GA before beta before alpha, higher
/// numbers first, then anything else alphabetically (`v2 > v1 > v1beta2 > v1beta1 >
/// v1alpha1 > foo`).
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(v: &str) -> (u8, u64, u64, String) {
        let parsed = v.strip_prefix('v').and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let major: u64 = digits.parse().ok()?;
            let tail = &rest[digits.len()..];
            let (level, minor) = if tail.is_empty() {
                (3, 0)
            } else if let Some(n) = tail.strip_prefix("beta") {
                (2, n.parse().ok()?)
            } else if let Some(n) = tail.strip_prefix("alpha") {
                (1, n.parse().ok()?)
            } else {
                return None;
            };
            Some((level, major, minor))
        });
        match parsed {
            // Larger sorts first: invert.
            Some((level, major, minor)) => {
                (3 - level, u64::MAX - major, u64::MAX - minor, String::new())
            }
            None => (4, 0, 0, v.to_string()),
        }
    }
    key(a).cmp(&key(b))
}
