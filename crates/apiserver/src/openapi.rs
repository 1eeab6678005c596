//! `/openapi/v2` and `/openapi/v3`: built on first use from the registry's schemas and the
//! served CRDs' schemas; rebuilt after the served CRDs change.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::custom_resources::Snapshot;

#[derive(Default)]
pub struct OpenApiCache {
    v2: OnceLock<Bytes>,
    v2_protobuf: OnceLock<Bytes>,
    /// Documents by group-version, and the CRD generation they were built at.
    v3: Mutex<(u64, HashMap<String, Bytes>)>,
}

/// Clients cache documents by this hash (kubectl keeps them across runs), so it must change
/// whenever a document does and only then: built-in group-versions change with the build,
/// custom ones with what their CRDs serve (a digest of names and schemas, the same across
/// restarts).
fn hash(custom: &Snapshot, group: &str, version: &str) -> String {
    let build = concat!("skiff-", env!("CARGO_PKG_VERSION"));
    let served: Vec<_> = custom
        .resources
        .iter()
        .filter(|s| s.info.group == group && s.info.version == version)
        .collect();
    if served.is_empty() {
        return build.to_string();
    }
    // FNV-1a over every served kind's identity and schema.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for s in served {
        eat(s.info.plural.as_bytes());
        eat(s.info.kind.as_bytes());
        eat(&[u8::from(s.info.namespaced)]);
        for sub in s.info.subresources {
            eat(sub.name.as_bytes());
        }
        if let Some(schema) = s.schema {
            eat(schema.to_string().as_bytes());
        }
    }
    format!("{build}-{h:016x}")
}

impl OpenApiCache {
    pub fn v2(&self) -> Bytes {
        self.v2
            .get_or_init(|| {
                Bytes::from(
                    serde_json::to_vec(&registry::openapi::v2_document()).unwrap_or_default(),
                )
            })
            .clone()
    }

    /// The v2 document as gnostic protobuf, which kubectl asks for to validate manifests
    /// (e.g. a `kind: List`) on the client side.
    pub fn v2_protobuf(&self) -> Bytes {
        self.v2_protobuf
            .get_or_init(|| {
                Bytes::from(registry::openapi_pb::encode_v2(
                    &registry::openapi::v2_document(),
                ))
            })
            .clone()
    }

    /// Drops the v3 documents built before CRD generation `generation`.
    pub fn invalidate(&self, generation: u64) {
        if let Ok(mut cache) = self.v3.lock() {
            if cache.0 != generation {
                *cache = (generation, HashMap::new());
            }
        }
    }

    /// The `/openapi/v3` index of per-group-version documents.
    pub fn v3_index(&self, custom: &Snapshot) -> Bytes {
        let mut paths = serde_json::Map::new();
        let builtin = registry::openapi::v3_group_versions();
        let custom_gvs = custom
            .groups
            .iter()
            .flat_map(|g| g.versions.iter().map(move |v| (g.name, *v)));
        for (group, v) in builtin.into_iter().chain(custom_gvs) {
            let p = registry::openapi::v3_path_key(group, v);
            paths.insert(
                p.clone(),
                json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash(custom, group, v)) }),
            );
        }
        Bytes::from(serde_json::to_vec(&json!({ "paths": paths })).unwrap_or_default())
    }

    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`.
    pub fn v3(&self, custom: &Snapshot, path: &str) -> Option<Bytes> {
        let (group, version) = match path.trim_matches('/').split('/').collect::<Vec<_>>()[..] {
            ["api", v] => (String::new(), v.to_string()),
            ["apis", g, v] => (g.to_string(), v.to_string()),
            _ => return None,
        };
        let builtin = registry::catalog::groups()
            .iter()
            .any(|g| g.name == group && g.versions.contains(&version.as_str()));
        let customs: Vec<(&registry::ResourceInfo, Option<&Value>)> = custom
            .resources
            .iter()
            .filter(|s| s.info.group == group && s.info.version == version)
            .map(|s| (s.info, s.schema))
            .collect();
        if !builtin && customs.is_empty() {
            return None;
        }
        let key = format!("{group}/{version}");
        if let Ok(cache) = self.v3.lock() {
            if cache.0 == custom.generation {
                if let Some(b) = cache.1.get(&key) {
                    return Some(b.clone());
                }
            }
        }
        let doc = if builtin {
            registry::openapi::v3_document(&group, &version)
        } else {
            registry::openapi::v3_custom_document(&customs)
        };
        let doc = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
        if let Ok(mut cache) = self.v3.lock() {
            if cache.0 == custom.generation {
                cache.1.insert(key, doc.clone());
            }
        }
        Some(doc)
    }
}
