//! The resource catalog: every resource a v1.37 apiserver serves by default (GA group-versions,
//! no feature gates), with what discovery reports about it and how to decode it.
//!
//! The table itself lives in [`entries`]; this module holds the lookups and the group order.

mod entries;
#[cfg(test)]
mod tests;

use crate::ResourceInfo;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub use entries::RESOURCES;

/// Every built-in resource, grouped by group-version in discovery order.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource served at `/{group}/{version}/{plural}` (core group: `group == ""`).
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource whose objects have this group, version and kind.
pub fn find_by_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Resources of one group-version, in catalog order.
pub fn resources_of<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// One API group as `/api` + `/apis` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `""` for the core (legacy) group.
    pub name: &'static str,
    /// Served versions, preferred first (upstream sorts by version priority).
    pub versions: Vec<&'static str>,
    pub preferred_version: &'static str,
}

/// Groups in upstream's discovery order: core first, then the aggregator's own group, then by
/// upstream's APIService group priority (highest first; ties by name).
const GROUP_ORDER: &[(&str, &[&str])] = &[
    ("", &["v1"]),
    ("apiregistration.k8s.io", &["v1"]),
    ("apps", &["v1"]),
    ("events.k8s.io", &["v1"]),
    ("authentication.k8s.io", &["v1"]),
    ("authorization.k8s.io", &["v1"]),
    ("autoscaling", &["v2", "v1"]),
    ("batch", &["v1"]),
    ("certificates.k8s.io", &["v1"]),
    ("networking.k8s.io", &["v1"]),
    ("policy", &["v1"]),
    ("rbac.authorization.k8s.io", &["v1"]),
    ("storage.k8s.io", &["v1"]),
    ("admissionregistration.k8s.io", &["v1"]),
    ("apiextensions.k8s.io", &["v1"]),
    ("scheduling.k8s.io", &["v1"]),
    ("coordination.k8s.io", &["v1"]),
    ("node.k8s.io", &["v1"]),
    ("discovery.k8s.io", &["v1"]),
    ("resource.k8s.io", &["v1"]),
    ("flowcontrol.apiserver.k8s.io", &["v1"]),
    ("storagemigration.k8s.io", &["v1"]),
];

/// Served groups in discovery order, each with its versions (preferred first).
pub fn groups() -> Vec<GroupInfo> {
    GROUP_ORDER
        .iter()
        .map(|(name, versions)| GroupInfo {
            name,
            versions: versions.to_vec(),
            preferred_version: versions[0],
        })
        .collect()
}

/// The preferred version of a group, if the group is served.
pub fn preferred_version(group: &str) -> Option<&'static str> {
    GROUP_ORDER
        .iter()
        .find(|(name, _)| *name == group)
        .map(|(_, versions)| versions[0])
}

/// Round-trips `value` through the typed struct `T`: the type check of a write, and the drop
/// of fields `T` does not know.
pub fn decode<T: DeserializeOwned + Serialize>(value: Value) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(value)?;
    serde_json::to_value(typed)
}

/// The schema of `T` as a `$ref` into the generator's definitions (upstream's definition name).
pub fn schema<T: schemars::JsonSchema>(gen: &mut schemars::SchemaGenerator) -> schemars::Schema {
    gen.subschema_for::<T>()
}
