use super::*;

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn has_gvk(def: &Value, group: &str, version: &str, kind: &str) -> bool {
    def["x-kubernetes-group-version-kind"]
        .as_array()
        .is_some_and(|l| {
            l.iter()
                .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
        })
}

#[test]
fn v3_documents_cover_every_kind_and_refs_resolve() {
    for (group, version) in v3_group_versions() {
        let doc = v3_document(group, version);
        assert_eq!(doc["openapi"], "3.0.0");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for info in catalog::resources_of(group, version) {
            let found = schemas
                .values()
                .any(|d| has_gvk(d, info.group, info.version, info.kind));
            assert!(
                found,
                "{}/{} {} has no gvk definition",
                group, version, info.kind
            );
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("bad ref {r}"));
            assert!(
                schemas.contains_key(name),
                "{group}/{version}: dangling {r}"
            );
        }
        assert!(
            !doc["paths"].as_object().expect("paths").is_empty(),
            "{group}/{version} no paths"
        );
    }
}

#[test]
fn v3_apps_document_shape() {
    let doc = v3_document("apps", "v1");
    let schemas = &doc["components"]["schemas"];
    let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert!(has_gvk(deployment, "apps", "v1", "Deployment"));
    // a $ref with a description beside it is wrapped, as upstream does in v3
    let meta = &deployment["properties"]["metadata"];
    assert_eq!(
        meta["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(meta.get("$ref").is_none());
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["type"],
        "object"
    );
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["type"],
        "string"
    );
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
        "date-time"
    );
    let ios = &schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["format"], "int-or-string");
    assert!(ios.get("x-kubernetes-int-or-string").is_none());
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"][0]["type"],
        "string"
    );
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/apis/apps/v1/namespaces/{namespace}/deployments"));
    assert!(paths.contains_key("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"));
    let read = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["get"];
    assert_eq!(read["operationId"], "readAppsV1NamespacedDeployment");
    assert_eq!(read["x-kubernetes-action"], "get");
}

#[test]
fn v3_core_document() {
    let doc = v3_document("", "v1");
    let schemas = &doc["components"]["schemas"];
    assert!(has_gvk(&schemas["io.k8s.api.core.v1.Pod"], "", "v1", "Pod"));
    assert!(has_gvk(
        &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Status"],
        "",
        "v1",
        "Status"
    ));
    assert!(doc["paths"]
        .as_object()
        .expect("paths")
        .contains_key("/api/v1/namespaces/{namespace}/pods/{name}/exec"));
    assert!(doc["paths"]
        .as_object()
        .expect("paths")
        .contains_key("/api/v1/nodes/{name}"));
    assert_eq!(v3_path_key("", "v1"), "api/v1");
    assert_eq!(v3_path_key("apps", "v1"), "apis/apps/v1");
}

#[test]
fn v3_unknown_group_is_empty() {
    let doc = v3_document("example.com", "v1");
    assert!(doc["paths"].as_object().expect("paths").is_empty());
}

#[test]
fn v2_document_covers_every_kind_and_refs_resolve() {
    let doc = v2_document();
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().expect("definitions");
    for info in catalog::all() {
        let found = defs
            .values()
            .any(|d| has_gvk(d, info.group, info.version, info.kind));
        assert!(
            found,
            "{} {} has no gvk definition",
            info.api_version(),
            info.kind
        );
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("bad ref {r}"));
        assert!(defs.contains_key(name), "dangling {r}");
    }
    let ios = &defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(
        (ios["type"].as_str(), ios["format"].as_str()),
        (Some("string"), Some("int-or-string"))
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    // v2 keeps siblings of $ref
    let meta = &defs["io.k8s.api.apps.v1.Deployment"]["properties"]["metadata"];
    assert_eq!(
        meta["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    // both HPA versions keep their own definition
    assert!(has_gvk(
        &defs["io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"],
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler"
    ));
    assert!(has_gvk(
        &defs["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"],
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler"
    ));
}
