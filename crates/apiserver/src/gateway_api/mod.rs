//! Gateway API served as CustomResourceDefinitions skiff installs: GatewayClass, Gateway
//! and HTTPRoute (`gateway.networking.k8s.io/v1`) and ReferenceGrant (`v1beta1`), with
//! skiff's own schemas (subsets of upstream's: the fields the built-in gateway routes on
//! are typed, the rest kept as given), and the GatewayClass `skiff` whose Gateways every
//! node agent's ingress serves.
//!
//! The CRDs are created at start when missing and never overwritten: an administrator
//! who installs upstream's full CRDs keeps them. The class is written straight to the
//! store, as the other bootstrap objects are, because its CRD is not served yet when
//! bootstrap runs.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::{bootstrap, objects, Api};

/// The CRD documents, in the order they are created.
const CRDS: [(&str, &str); 4] = [
    ("gatewayclasses", include_str!("gatewayclasses.yaml")),
    ("gateways", include_str!("gateways.yaml")),
    ("httproutes", include_str!("httproutes.yaml")),
    ("referencegrants", include_str!("referencegrants.yaml")),
];

pub const GROUP: &str = "gateway.networking.k8s.io";
/// The default GatewayClass; its controllerName is `ingress::gateway::CONTROLLER`.
pub const CLASS_NAME: &str = "skiff";
const CONTROLLER: &str = "skiff.io/gateway-controller";

/// The CRD documents as JSON; a document that does not parse is a build-time mistake the
/// unit test catches, so here it is only logged.
fn crds() -> Vec<Value> {
    CRDS.iter()
        .filter_map(|(plural, text)| match serde_yaml::from_str::<Value>(text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(plural, error = %e, "built-in Gateway API CRD does not parse");
                None
            }
        })
        .collect()
}

pub(crate) async fn ensure(api: &Arc<Api>) -> Result<(), store::Error> {
    for crd in crds() {
        bootstrap::ensure(
            api,
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            crd,
        )
        .await?;
    }
    // Only into a cluster without any GatewayClass, as for the default IngressClass.
    let prefix = format!("/registry/{GROUP}/gatewayclasses/");
    let (classes, _) = api.cache.list(&prefix);
    if !classes.is_empty() {
        return Ok(());
    }
    let class = json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "GatewayClass",
        "metadata": {"name": CLASS_NAME, "uid": uuid::Uuid::new_v4().to_string(),
                     "creationTimestamp": objects::now_rfc3339(), "generation": 1},
        "spec": {"controllerName": CONTROLLER,
                 "description": "Served by every node's built-in ingress"},
    });
    let bytes = bytes::Bytes::from(serde_json::to_vec(&class).unwrap_or_default());
    match api
        .store
        .create(&format!("{prefix}{CLASS_NAME}"), bytes)
        .await
    {
        Ok(_) | Err(store::Error::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document parses, names the resource it is filed under and is a valid,
    /// structural CRD by the registry's own checks.
    #[test]
    fn crds_are_valid() {
        let info =
            registry::catalog::find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .unwrap();
        let strategy =
            registry::strategies::for_resource("apiextensions.k8s.io", "customresourcedefinitions");
        for (plural, text) in CRDS {
            let mut crd: Value = serde_yaml::from_str(text).unwrap();
            assert_eq!(crd["spec"]["names"]["plural"], plural);
            assert_eq!(crd["metadata"]["name"], format!("{plural}.{GROUP}"));
            let ctx = registry::generic::CreateContext {
                uid: "u",
                now: "2026-01-01T00:00:00Z",
                name_suffix: "",
            };
            let errs = registry::generic::prepare_create(info, strategy, &mut crd, &ctx);
            assert!(errs.is_empty(), "{plural}: {errs:?}");
        }
    }
}
