//! OpenAPI 3.0 documents of custom resource group-versions: each kind's schema is its
//! CRD's `openAPIV3Schema`, with `metadata` pointing at ObjectMeta and the standard
//! `apiVersion`/`kind` fields, so `kubectl explain` describes custom resources.

use k8s_openapi::api::autoscaling::v1 as autoscaling1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde_json::{json, Value};

use super::{
    add_gvk, fix_scalars, generator, paths_named, ref_name, sort_map, wrap_ref_siblings, Flavor,
    API_VERSION,
};
use crate::ResourceInfo;

const API_VERSION_DESC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Upstream's definition name of a custom kind: the group's labels reversed, then version
/// and kind (`stable.example.com`, `v1`, `CronTab` → `com.example.stable.v1.CronTab`).
pub fn custom_definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The document of one custom group-version: `resources` pairs each served kind with its
/// schema (`None`: the CRD has none, objects are free-form).
pub fn v3_custom_document(resources: &[(&ResourceInfo, Option<&Value>)]) -> Value {
    let mut gen = generator(Flavor::V3);
    let object_meta = gen.subschema_for::<meta::ObjectMeta>();
    let status = gen.subschema_for::<meta::Status>();
    let delete_options = gen.subschema_for::<meta::DeleteOptions>();
    let scale = resources
        .iter()
        .any(|(r, _)| r.has_subresource("scale"))
        .then(|| gen.subschema_for::<autoscaling1::Scale>());
    let mut defs = gen.take_definitions(false);
    let meta_ref = ref_name(object_meta.as_value())
        .map(|n| format!("#/components/schemas/{n}"))
        .unwrap_or_default();
    for (info, schema) in resources {
        let name = custom_definition_name(info.group, info.version, info.kind);
        let mut def = match schema {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            _ => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        };
        if let Some(props) = def
            .as_object_mut()
            .map(|m| m.entry("properties").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            props.insert(
                "apiVersion".into(),
                json!({"type": "string", "description": API_VERSION_DESC}),
            );
            props.insert(
                "kind".into(),
                json!({"type": "string", "description": KIND_DESC}),
            );
            props.insert(
                "metadata".into(),
                json!({"allOf": [{"$ref": meta_ref}], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
            );
        }
        defs.insert(name.clone(), def);
        add_gvk(&mut defs, &name, info.group, info.version, info.kind);
    }
    if let Some(name) = ref_name(status.as_value()) {
        add_gvk(&mut defs, &name, "", "v1", "Status");
    }
    if let (Some(name), Some((first, _))) = (ref_name(delete_options.as_value()), resources.first())
    {
        add_gvk(
            &mut defs,
            &name,
            first.group,
            first.version,
            "DeleteOptions",
        );
    }
    if let Some(name) = scale.as_ref().and_then(|s| ref_name(s.as_value())) {
        add_gvk(&mut defs, &name, "autoscaling", "v1", "Scale");
    }
    fix_scalars(&mut defs, Flavor::V3);
    for (name, def) in defs.iter_mut() {
        if name.starts_with("io.k8s.") {
            wrap_ref_siblings(def);
        }
    }
    let infos: Vec<&ResourceInfo> = resources.iter().map(|(r, _)| *r).collect();
    let paths = paths_named(&infos, Flavor::V3, &mut |info, _| {
        Some(custom_definition_name(info.group, info.version, info.kind))
    });
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": API_VERSION},
        "paths": paths,
        "components": {
            "schemas": sort_map(defs),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            }
        }
    })
}
