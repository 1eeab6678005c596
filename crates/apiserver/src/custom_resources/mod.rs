//! Serving CustomResourceDefinitions: the table of resources that established CRDs add to
//! the built-in catalog, and the controller ([`controller`]) that names, establishes and
//! cleans up CRDs.
//!
//! The REST handlers take `&'static` catalog entries and strategies, as built-in kinds have
//! them. A served CRD version gets the same by leaking its entry once per distinct shape
//! (interned by content): CRDs change rarely, and an unchanged CRD written again (status,
//! conversion caBundle) reuses what it has.

pub mod controller;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use registry::catalog::GroupInfo;
use registry::crd_serving::{self, ServedVersion};
use registry::strategies::custom_resources::CustomResourceStrategy;
use registry::{ResourceInfo, Strategy, Subresource};
use serde_json::Value;

/// One served custom resource version.
#[derive(Clone, Copy)]
pub struct Served {
    pub info: &'static ResourceInfo,
    pub strategy: &'static CustomResourceStrategy,
    /// `openAPIV3Schema` of the version, for the OpenAPI documents.
    pub schema: Option<&'static Value>,
    /// The Warning header text of a deprecated version.
    pub deprecation_warning: Option<&'static str>,
}

/// What is served now; replaced whole on every CRD change.
#[derive(Default)]
pub struct Snapshot {
    /// Group by group (name order), versions by upstream's priority, then CRD order.
    pub resources: Vec<Served>,
    pub groups: Vec<GroupInfo>,
    /// (group, plural) of CRDs being deleted: their resources take no new objects.
    pub terminating: Vec<(String, String)>,
    /// Changes whenever the served set does (the OpenAPI cache keys on it).
    pub generation: u64,
}

impl Snapshot {
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Served> {
        self.resources
            .iter()
            .find(|s| s.info.group == group && s.info.version == version && s.info.plural == plural)
            .copied()
    }

    pub fn is_terminating(&self, group: &str, plural: &str) -> bool {
        self.terminating
            .iter()
            .any(|(g, p)| g == group && p == plural)
    }

    pub fn resources_of<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
        self.resources
            .iter()
            .filter(move |s| s.info.group == group && s.info.version == version)
            .map(|s| s.info)
    }
}

#[derive(Default)]
pub struct CustomResources {
    current: RwLock<Arc<Snapshot>>,
    /// Leaked entries per CRD uid, generation and accepted names, so an unchanged CRD is
    /// never leaked twice: the memory kept is one set of entries per CRD spec change.
    interned: Mutex<HashMap<String, Vec<Served>>>,
    /// Names of the CRDs whose cleanup pass is running (see `controller`).
    pub(crate) cleaning: Mutex<Vec<String>>,
}

const CUSTOM_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_strs(v: &[String]) -> &'static [&'static str] {
    Box::leak(
        v.iter()
            .map(|s| leak_str(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

fn leak(v: &ServedVersion) -> Served {
    let kind = leak_str(&v.kind);
    let group = leak_str(&v.group);
    let version = leak_str(&v.version);
    let mut subresources = Vec::new();
    if v.status {
        subresources.push(Subresource {
            name: "status",
            kind,
            group,
            version,
            verbs: GET_PATCH_UPDATE,
        });
    }
    if v.scale.is_some() {
        subresources.push(Subresource {
            name: "scale",
            kind: "Scale",
            group: "autoscaling",
            version: "v1",
            verbs: GET_PATCH_UPDATE,
        });
    }
    let info: &'static ResourceInfo = Box::leak(Box::new(ResourceInfo {
        group,
        version,
        kind,
        plural: leak_str(&v.plural),
        singular: leak_str(&v.singular),
        namespaced: v.namespaced,
        short_names: leak_strs(&v.short_names),
        categories: leak_strs(&v.categories),
        verbs: CUSTOM_VERBS,
        subresources: Box::leak(subresources.into_boxed_slice()),
        storage_prefix: leak_str(&v.storage_prefix),
        decode: crd_serving::untyped_decode,
        schema: crd_serving::opaque_schema,
    }));
    Served {
        info,
        strategy: Box::leak(Box::new(CustomResourceStrategy::new(v))),
        schema: v.schema.clone().map(|s| &*Box::leak(Box::new(s))),
        deprecation_warning: v.deprecation_warning.as_deref().map(leak_str),
    }
}

impl CustomResources {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The served custom resource at this group/version/plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Served> {
        self.snapshot().find(group, version, plural)
    }

    /// Rebuilds the table from every CRD (established ones are served). Built-in
    /// group-versions always win: a CRD cannot shadow them.
    pub fn rebuild(&self, crds: &[Value]) {
        let mut served: Vec<Served> = Vec::new();
        let terminating: Vec<(String, String)> = crds
            .iter()
            .filter(|c| c.pointer("/metadata/deletionTimestamp").is_some())
            .map(|c| {
                let s = |p: &str| {
                    c.pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                (s("/spec/group"), s("/spec/names/plural"))
            })
            .collect();
        let Ok(mut interned) = self.interned.lock() else {
            return;
        };
        for crd in crds.iter().filter(|c| crd_serving::is_established(c)) {
            let group = crd
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            // A built-in group is never served from a CRD (validation refuses such CRDs;
            // this guards against stored leftovers).
            if registry::catalog::preferred_version(group).is_some() {
                continue;
            }
            // What a CRD serves changes with its spec (generation) and accepted names only:
            // status writes reuse the entries, and schemas are parsed once per generation.
            let key = format!(
                "{}/{}/{}",
                crd.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                crd.pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                crd.pointer("/status/acceptedNames")
                    .map(Value::to_string)
                    .unwrap_or_default()
            );
            let entries = interned
                .entry(key)
                .or_insert_with(|| crd_serving::served_versions(crd).iter().map(leak).collect());
            served.extend(entries.iter().copied());
        }
        drop(interned);
        served.sort_by(|a, b| {
            a.info
                .group
                .cmp(b.info.group)
                .then_with(|| crd_serving::version_order(a.info.version, b.info.version))
        });
        let mut groups: Vec<GroupInfo> = Vec::new();
        for s in &served {
            match groups.last_mut() {
                Some(g) if g.name == s.info.group => {
                    if !g.versions.contains(&s.info.version) {
                        g.versions.push(s.info.version);
                    }
                }
                _ => groups.push(GroupInfo {
                    name: s.info.group,
                    versions: vec![s.info.version],
                    preferred_version: s.info.version,
                }),
            }
        }
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let same =
            current.resources.len() == served.len()
                && current.resources.iter().zip(&served).all(|(a, b)| {
                    std::ptr::eq(a.info, b.info) && std::ptr::eq(a.strategy, b.strategy)
                });
        if same && current.terminating == terminating {
            return;
        }
        let generation = current.generation + 1;
        *current = Arc::new(Snapshot {
            resources: served,
            groups,
            terminating,
            generation,
        });
    }
}

/// The strategy trait object of a served version.
pub fn strategy_of(s: &Served) -> &'static dyn Strategy {
    s.strategy
}
