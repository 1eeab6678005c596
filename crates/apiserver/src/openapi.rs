//! `/openapi/v2` and `/openapi/v3`: built once on first use from the registry's schemas.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use serde_json::json;

#[derive(Default)]
pub struct OpenApiCache {
    v2: OnceLock<Bytes>,
    v2_protobuf: OnceLock<Bytes>,
    v3: Mutex<HashMap<String, Bytes>>,
}

/// Clients cache documents by this hash; a new build may change them.
fn hash() -> &'static str {
    concat!("skiff-", env!("CARGO_PKG_VERSION"))
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

    /// The `/openapi/v3` index of per-group-version documents.
    pub fn v3_index(&self) -> Bytes {
        let mut paths = serde_json::Map::new();
        for (group, v) in registry::openapi::v3_group_versions() {
            let p = registry::openapi::v3_path_key(group, v);
            paths.insert(
                p.clone(),
                json!({ "serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash()) }),
            );
        }
        Bytes::from(serde_json::to_vec(&json!({ "paths": paths })).unwrap_or_default())
    }

    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`.
    pub fn v3(&self, path: &str) -> Option<Bytes> {
        let (group, version) = match path.trim_matches('/').split('/').collect::<Vec<_>>()[..] {
            ["api", v] => (String::new(), v.to_string()),
            ["apis", g, v] => (g.to_string(), v.to_string()),
            _ => return None,
        };
        if !registry::catalog::groups()
            .iter()
            .any(|g| g.name == group && g.versions.contains(&version.as_str()))
        {
            return None;
        }
        let key = format!("{group}/{version}");
        if let Ok(cache) = self.v3.lock() {
            if let Some(b) = cache.get(&key) {
                return Some(b.clone());
            }
        }
        let doc = Bytes::from(
            serde_json::to_vec(&registry::openapi::v3_document(&group, &version))
                .unwrap_or_default(),
        );
        if let Ok(mut cache) = self.v3.lock() {
            cache.insert(key, doc.clone());
        }
        Some(doc)
    }
}
