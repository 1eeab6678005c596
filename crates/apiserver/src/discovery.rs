//! Discovery documents: legacy (`/api`, `/apis`, per group and version) and aggregated
//! (`apidiscovery.k8s.io/v2` and `v2beta1`), all derived from the registry's catalog.

use registry::catalog::{self, GroupInfo};
use registry::ResourceInfo;
use serde_json::{json, Value};

use crate::custom_resources::Snapshot;

/// Built-in resources of a group-version, then those CRDs add.
fn resources_of<'a>(
    custom: &'a Snapshot,
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    catalog::all()
        .iter()
        .filter(move |r| r.group == group && r.version == version)
        .chain(custom.resources_of(group, version))
}

/// Built-in groups in upstream's order, then CRD groups: their APIServices have a lower
/// group priority than every built-in one, and sort by name among themselves.
fn groups(custom: &Snapshot) -> Vec<GroupInfo> {
    let mut all = catalog::groups();
    for g in &custom.groups {
        match all.iter_mut().find(|b| b.name == g.name) {
            // A CRD version in a built-in group (rare; upstream allows it with approval).
            Some(b) => {
                for v in &g.versions {
                    if !b.versions.contains(v) {
                        b.versions.push(v);
                    }
                }
            }
            None => all.push(g.clone()),
        }
    }
    all
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }],
    })
}

fn api_group_json(group: &str, versions: &[&str], preferred: &str) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({ "groupVersion": group_version(group, v), "version": v }))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": { "groupVersion": group_version(group, preferred), "version": preferred },
    })
}

/// `/apis`.
pub fn api_group_list(custom: &Snapshot) -> Value {
    let groups: Vec<Value> = groups(custom)
        .iter()
        .filter(|g| !g.name.is_empty())
        .map(|g| api_group_json(g.name, &g.versions, g.preferred_version))
        .chain([crate::node_proxy::metrics::api_group()])
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/{group}`.
pub fn api_group(custom: &Snapshot, group: &str) -> Option<Value> {
    groups(custom)
        .iter()
        .find(|g| g.name == group && !g.name.is_empty())
        .map(|g| {
            let mut v = api_group_json(g.name, &g.versions, g.preferred_version);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            v
        })
}

/// `/api/v1`, `/apis/{group}/{version}`.
pub fn resource_list(custom: &Snapshot, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in resources_of(custom, group, version) {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        resources.push(e);
        for s in r.subresources {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                e["group"] = json!(s.group);
                e["version"] = json!(s.version);
            }
            resources.push(e);
        }
    }
    if resources.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

/// The aggregated-discovery version the client accepts, if any (`v2` or `v2beta1`).
pub fn aggregated_version(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("g=apidiscovery.k8s.io") && p.contains("as=APIGroupDiscoveryList") {
            if p.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if p.contains("v=v2") {
                return Some("v2");
            }
        }
    }
    None
}

fn discovery_resource(r: &ResourceInfo) -> Value {
    let mut e = json!({
        "resource": r.plural,
        "responseKind": { "group": r.group, "version": r.version, "kind": r.kind },
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        e["subresources"] = Value::Array(
            r.subresources
                .iter()
                .map(|s| {
                    json!({
                        "subresource": s.name,
                        "responseKind": { "group": s.group, "version": s.version, "kind": s.kind },
                        "verbs": s.verbs,
                    })
                })
                .collect(),
        );
    }
    e
}

/// `APIGroupDiscoveryList` for `/api` (legacy: only the core group) or `/apis`.
pub fn aggregated(custom: &Snapshot, legacy: bool, version: &str) -> Value {
    let mut items: Vec<Value> = groups(custom)
        .iter()
        .filter(|g| g.name.is_empty() == legacy)
        .map(|gi| {
            let g = gi.name;
            // The catalog lists the preferred version first, as upstream orders them.
            let ordered = &gi.versions;
            let versions: Vec<Value> = ordered
                .iter()
                .map(|v| {
                    json!({
                        "version": v,
                        "resources": resources_of(custom, g, v).map(discovery_resource).collect::<Vec<_>>(),
                        "freshness": "Current",
                    })
                })
                .collect();
            let mut item =
                json!({ "metadata": { "creationTimestamp": null }, "versions": versions });
            if !g.is_empty() {
                item["metadata"]["name"] = json!(g);
            }
            item
        })
        .collect();
    if !legacy {
        items.push(crate::node_proxy::metrics::aggregated_item());
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

pub fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "gitVersion": concat!("v1.37.0-skiff.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
    })
}
