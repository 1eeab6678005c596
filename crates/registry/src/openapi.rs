//! OpenAPI documents built from the catalog's schemas: the per group-version OpenAPI 3.0
//! documents of `/openapi/v3/...` and the Swagger 2.0 document of `/openapi/v2`.
//!
//! Definitions carry upstream's names (`io.k8s.api.apps.v1.Deployment`), every top-level kind
//! carries `x-kubernetes-group-version-kind` (what `kubectl explain` looks up), and the
//! apimachinery scalars (`IntOrString`, `Quantity`) come out in upstream's shape per version.

use crate::catalog;
use crate::ResourceInfo;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

/// The `info.version` both documents report.
pub const API_VERSION: &str = "v1.37.0";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Swagger 2.0: `#/definitions/`, `$ref` siblings kept.
    V2,
    /// OpenAPI 3.0: `#/components/schemas/`, `$ref` siblings moved beside an `allOf`.
    V3,
}

impl Flavor {
    fn ref_prefix(self) -> &'static str {
        match self {
            Flavor::V2 => "#/definitions/",
            Flavor::V3 => "#/components/schemas/",
        }
    }
}

/// The key of a group-version in `/openapi/v3` (`api/v1`, `apis/apps/v1`).
pub fn v3_path_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Every group-version with a v3 document, in discovery order.
pub fn v3_group_versions() -> Vec<(&'static str, &'static str)> {
    catalog::groups()
        .into_iter()
        .flat_map(|g| g.versions.into_iter().map(move |v| (g.name, v)))
        .collect()
}

/// The OpenAPI 3.0 document of one group-version (`/openapi/v3/apis/apps/v1`; core group:
/// `group == ""`, served at `/openapi/v3/api/v1`). Unknown group-versions yield a document
/// with no paths and no schemas.
pub fn v3_document(group: &str, version: &str) -> Value {
    let resources: Vec<&ResourceInfo> = catalog::resources_of(group, version).collect();
    let schemas = definitions(&resources, Flavor::V3);
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": API_VERSION},
        "paths": paths(&resources, Flavor::V3),
        "components": {
            "schemas": schemas,
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

/// The Swagger 2.0 document of every built-in group-version (`/openapi/v2`).
pub fn v2_document() -> Value {
    let resources: Vec<&ResourceInfo> = catalog::all().iter().collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": API_VERSION},
        "paths": paths(&resources, Flavor::V2),
        "definitions": definitions(&resources, Flavor::V2),
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header",
            }
        },
        "security": [{"BearerToken": []}],
    })
}

/// A generator whose `$ref`s point where `flavor` keeps its definitions, with no transforms:
/// k8s-openapi's schemas are already upstream's, we only reshape what differs per version.
fn generator(flavor: Flavor) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft07();
    settings.definitions_path = match flavor {
        Flavor::V2 => "/definitions".into(),
        Flavor::V3 => "/components/schemas".into(),
    };
    settings.meta_schema = None;
    settings.transforms = Vec::new();
    SchemaGenerator::new(settings)
}

/// The definition name a catalog schema refers to.
pub fn definition_name(info: &ResourceInfo, gen: &mut SchemaGenerator) -> Option<String> {
    let schema = (info.schema)(gen);
    let reference = schema.get("$ref")?.as_str()?;
    reference.rsplit('/').next().map(str::to_string)
}

fn definitions(resources: &[&ResourceInfo], flavor: Flavor) -> Map<String, Value> {
    let mut gen = generator(flavor);
    let mut kinds: Vec<(String, &ResourceInfo)> = Vec::new();
    for info in resources {
        if let Some(name) = definition_name(info, &mut gen) {
            kinds.push((name, info));
        }
    }
    // Every group-version answers errors with Status and takes DeleteOptions.
    let status = gen.subschema_for::<meta::Status>();
    let delete_options = gen.subschema_for::<meta::DeleteOptions>();
    let mut defs = gen.take_definitions(false);

    for (name, info) in &kinds {
        add_gvk(&mut defs, name, info.group, info.version, info.kind);
        relax_top_level_required(&mut defs, name);
    }
    if let Some(name) = ref_name(status.as_value()) {
        add_gvk(&mut defs, &name, "", "v1", "Status");
    }
    if let Some(name) = ref_name(delete_options.as_value()) {
        let mut gvs: Vec<(&str, &str)> = resources.iter().map(|r| (r.group, r.version)).collect();
        gvs.dedup();
        for (group, version) in gvs {
            add_gvk(&mut defs, &name, group, version, "DeleteOptions");
        }
    }
    fix_scalars(&mut defs, flavor);
    crate::patch_meta::add_openapi_extensions(&mut defs);
    if flavor == Flavor::V3 {
        for def in defs.values_mut() {
            wrap_ref_siblings(def);
        }
    }
    sort_map(defs)
}

/// k8s-openapi lists `metadata` and `spec` of a kind as required; upstream's schema does not
/// (a manifest may omit them), and kubectl's client-side validation enforces the list.
fn relax_top_level_required(defs: &mut Map<String, Value>, name: &str) {
    let Some(def) = defs.get_mut(name).and_then(Value::as_object_mut) else {
        return;
    };
    let empty = match def.get_mut("required").and_then(Value::as_array_mut) {
        Some(req) => {
            req.retain(|f| !matches!(f.as_str(), Some("metadata" | "spec" | "status")));
            req.is_empty()
        }
        None => false,
    };
    if empty {
        def.remove("required");
    }
}

fn ref_name(schema: &Value) -> Option<String> {
    let reference = schema.get("$ref")?.as_str()?;
    reference.rsplit('/').next().map(str::to_string)
}

fn add_gvk(defs: &mut Map<String, Value>, name: &str, group: &str, version: &str, kind: &str) {
    let Some(Value::Object(def)) = defs.get_mut(name) else {
        return;
    };
    let entry = json!({"group": group, "kind": kind, "version": version});
    let list = def
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        if !items.contains(&entry) {
            items.push(entry);
        }
    }
}

/// Upstream's shapes for the apimachinery scalars, which differ between v2 and v3.
fn fix_scalars(defs: &mut Map<String, Value>, flavor: Flavor) {
    const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
    const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
    for (name, shape) in [
        (
            INT_OR_STRING,
            match flavor {
                Flavor::V2 => json!({"type": "string", "format": "int-or-string"}),
                Flavor::V3 => {
                    json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]})
                }
            },
        ),
        (
            QUANTITY,
            match flavor {
                Flavor::V2 => json!({"type": "string"}),
                Flavor::V3 => json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
            },
        ),
    ] {
        if let Some(Value::Object(def)) = defs.get_mut(name) {
            def.remove("x-kubernetes-int-or-string");
            if let Value::Object(fields) = shape {
                def.extend(fields);
            }
        }
    }
}

/// OpenAPI 3.0 ignores siblings of `$ref`; upstream keeps a field's description and default by
/// wrapping the reference in a one-element `allOf`.
fn wrap_ref_siblings(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.len() > 1 {
                if let Some(reference) = map.remove("$ref") {
                    map.insert("allOf".into(), json!([{ "$ref": reference }]));
                }
            }
            for value in map.values_mut() {
                wrap_ref_siblings(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_ref_siblings),
        _ => {}
    }
}

fn sort_map(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

fn paths(resources: &[&ResourceInfo], flavor: Flavor) -> Map<String, Value> {
    paths_named(resources, flavor, &mut |info, gen| {
        definition_name(info, gen)
    })
}

/// [`paths`] with the definition name of each kind given by `name_of`.
fn paths_named(
    resources: &[&ResourceInfo],
    flavor: Flavor,
    name_of: &mut dyn FnMut(&ResourceInfo, &mut SchemaGenerator) -> Option<String>,
) -> Map<String, Value> {
    let mut gen = generator(flavor);
    let mut out = Map::new();
    for info in resources {
        let Some(def) = name_of(info, &mut gen) else {
            continue;
        };
        let object_ref = format!("{}{def}", flavor.ref_prefix());
        let prefix = if info.group.is_empty() {
            format!("/api/{}", info.version)
        } else {
            format!("/apis/{}/{}", info.group, info.version)
        };
        let collection = if info.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
        } else {
            format!("{prefix}/{}", info.plural)
        };
        let gvk = json!({"group": info.group, "kind": info.kind, "version": info.version});
        let has = |verb: &str| info.verbs.contains(&verb);
        let op = |action: &str, response: Option<&str>| {
            operation(info, action, None, response, &gvk, flavor)
        };

        let mut item_ops = Map::new();
        if has("get") {
            item_ops.insert("get".into(), op("get", Some(&object_ref)));
        }
        if has("update") {
            item_ops.insert("put".into(), op("put", Some(&object_ref)));
        }
        if has("patch") {
            item_ops.insert("patch".into(), op("patch", Some(&object_ref)));
        }
        if has("delete") {
            item_ops.insert("delete".into(), op("delete", None));
        }
        let mut coll_ops = Map::new();
        if has("list") {
            coll_ops.insert("get".into(), op("list", None));
        }
        if has("create") {
            coll_ops.insert("post".into(), op("post", Some(&object_ref)));
        }
        if has("deletecollection") {
            coll_ops.insert("delete".into(), op("deletecollection", None));
        }
        let ns_param = info.namespaced.then(|| path_param("namespace", flavor));
        if !coll_ops.is_empty() {
            coll_ops.insert(
                "parameters".into(),
                Value::Array(ns_param.iter().cloned().collect()),
            );
            out.insert(collection.clone(), Value::Object(coll_ops));
        }
        let item_params: Vec<Value> = std::iter::once(path_param("name", flavor))
            .chain(ns_param.iter().cloned())
            .collect();
        if !item_ops.is_empty() {
            item_ops.insert("parameters".into(), Value::Array(item_params.clone()));
            out.insert(format!("{collection}/{{name}}"), Value::Object(item_ops));
        }
        for sub in info.subresources {
            let sub_gvk = json!({"group": sub.group, "kind": sub.kind, "version": sub.version});
            let sub_ref = (sub.kind == info.kind).then_some(object_ref.as_str());
            let mut ops = Map::new();
            for (verb, method) in [
                ("get", "get"),
                ("update", "put"),
                ("patch", "patch"),
                ("create", "post"),
                ("delete", "delete"),
            ] {
                if sub.verbs.contains(&verb) {
                    ops.insert(
                        method.into(),
                        operation(info, method, Some(sub.name), sub_ref, &sub_gvk, flavor),
                    );
                }
            }
            ops.insert("parameters".into(), Value::Array(item_params.clone()));
            out.insert(
                format!("{collection}/{{name}}/{}", sub.name),
                Value::Object(ops),
            );
        }
    }
    out
}

fn path_param(name: &str, flavor: Flavor) -> Value {
    let description = match name {
        "namespace" => "object name and auth scope, such as for teams and projects",
        _ => "name of the resource",
    };
    match flavor {
        Flavor::V2 => {
            json!({"name": name, "in": "path", "required": true, "type": "string", "uniqueItems": true, "description": description})
        }
        Flavor::V3 => {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}, "description": description})
        }
    }
}

/// One operation. `method` is the HTTP-ish action (`get`, `list`, `put`, `patch`, `post`,
/// `delete`, `deletecollection`); the operation id follows upstream's pattern.
fn operation(
    info: &ResourceInfo,
    method: &str,
    sub: Option<&str>,
    response: Option<&str>,
    gvk: &Value,
    flavor: Flavor,
) -> Value {
    let verb = match method {
        "get" => "read",
        "list" => "list",
        "put" => "replace",
        "patch" => "patch",
        "post" => "create",
        "delete" => "delete",
        _ => "deleteCollection",
    };
    let action = match method {
        "put" => "put",
        "post" => "post",
        "get" if sub.is_some_and(|s| matches!(s, "exec" | "attach" | "portforward" | "proxy")) => {
            "connect"
        }
        "get" => "get",
        other => other,
    };
    let group_part: String = if info.group.is_empty() {
        "Core".into()
    } else {
        info.group
            .split('.')
            .next()
            .unwrap_or_default()
            .split('-')
            .map(upper_first)
            .collect()
    };
    let operation_id = format!(
        "{verb}{group_part}{}{}{}{}",
        upper_first(info.version),
        if info.namespaced { "Namespaced" } else { "" },
        info.kind,
        sub.map(upper_first).unwrap_or_default()
    );
    let tag = if info.group.is_empty() {
        format!("core_{}", info.version)
    } else {
        format!(
            "{}_{}",
            info.group.split('.').next().unwrap_or_default(),
            info.version
        )
    };
    let ok = match (response, flavor) {
        (Some(r), Flavor::V2) => json!({"description": "OK", "schema": {"$ref": r}}),
        (Some(r), Flavor::V3) => {
            json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": r}}}})
        }
        (None, _) => json!({"description": "OK"}),
    };
    let mut op = json!({
        "operationId": operation_id,
        "tags": [tag],
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    });
    let params = query_params(method, flavor);
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if method == "patch" {
        let types = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ];
        match flavor {
            Flavor::V2 => op["consumes"] = json!(types),
            Flavor::V3 => {
                let content: Map<String, Value> = types
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
                    .collect();
                op["requestBody"] = json!({"content": content, "required": true});
            }
        }
    }
    op
}

/// The query parameters an operation takes. kubectl looks for `fieldValidation` on PATCH
/// to decide whether the server validates fields itself.
fn query_params(method: &str, flavor: Flavor) -> Vec<Value> {
    let names: &[(&str, &str, &str)] = match method {
        "post" | "put" => &[
            ("dryRun", "string", "When present, indicates that modifications should not be persisted."),
            ("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
            ("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict."),
        ],
        "patch" => &[
            ("dryRun", "string", "When present, indicates that modifications should not be persisted."),
            ("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
            ("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict."),
            ("force", "boolean", "Force is going to \"force\" Apply requests."),
        ],
        "list" | "deletecollection" => &[
            ("continue", "string", "The continue option should be set when retrieving more results from the server."),
            ("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields."),
            ("labelSelector", "string", "A selector to restrict the list of returned objects by their labels."),
            ("limit", "integer", "limit is a maximum number of responses to return for a list call."),
            ("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
            ("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
            ("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
            ("timeoutSeconds", "integer", "Timeout for the list/watch call."),
            ("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
            ("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
        ],
        "delete" => &[
            ("dryRun", "string", "When present, indicates that modifications should not be persisted."),
            ("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
            ("propagationPolicy", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground."),
        ],
        _ => &[],
    };
    names
        .iter()
        .map(|(name, ty, description)| match flavor {
            Flavor::V2 => json!({"name": name, "in": "query", "type": ty, "uniqueItems": true, "description": description}),
            Flavor::V3 => json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}, "description": description}),
        })
        .collect()
}

mod custom;
pub use custom::{custom_definition_name, v3_custom_document};

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
