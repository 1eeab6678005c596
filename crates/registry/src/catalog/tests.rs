use super::*;
use std::collections::HashSet;

const EIGHT: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// (group, version, plural) -> (kind, namespaced, short names, categories, verbs, subresources, prefix)
#[allow(clippy::type_complexity)]
const EXPECTED: &[(
    &str,
    &str,
    &str,
    &str,
    bool,
    &[&str],
    &[&str],
    &[&str],
    &[&str],
    &str,
)] = &[
    (
        "",
        "v1",
        "pods",
        "Pod",
        true,
        &["po"],
        &["all"],
        EIGHT,
        &[
            "attach",
            "binding",
            "ephemeralcontainers",
            "eviction",
            "exec",
            "log",
            "portforward",
            "proxy",
            "resize",
            "status",
        ],
        "pods",
    ),
    (
        "",
        "v1",
        "services",
        "Service",
        true,
        &["svc"],
        &["all"],
        EIGHT,
        &["proxy", "status"],
        "services/specs",
    ),
    (
        "",
        "v1",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        &[],
        EIGHT,
        &[],
        "services/endpoints",
    ),
    (
        "",
        "v1",
        "nodes",
        "Node",
        false,
        &["no"],
        &[],
        EIGHT,
        &["proxy", "status"],
        "minions",
    ),
    (
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        &[],
        &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        &["finalize", "status"],
        "namespaces",
    ),
    (
        "",
        "v1",
        "bindings",
        "Binding",
        true,
        &[],
        &[],
        &["create"],
        &[],
        "",
    ),
    (
        "",
        "v1",
        "componentstatuses",
        "ComponentStatus",
        false,
        &["cs"],
        &[],
        &["get", "list"],
        &[],
        "",
    ),
    (
        "",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        &[],
        EIGHT,
        &[],
        "events",
    ),
    (
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
        &["rc"],
        &["all"],
        EIGHT,
        &["scale", "status"],
        "controllers",
    ),
    (
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        EIGHT,
        &["token"],
        "serviceaccounts",
    ),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &[],
        EIGHT,
        &["status"],
        "persistentvolumeclaims",
    ),
    (
        "",
        "v1",
        "limitranges",
        "LimitRange",
        true,
        &["limits"],
        &[],
        EIGHT,
        &[],
        "limitranges",
    ),
    (
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
        &[],
        EIGHT,
        &["status"],
        "resourcequotas",
    ),
    (
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        &["all"],
        EIGHT,
        &["scale", "status"],
        "deployments",
    ),
    (
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        &["all"],
        EIGHT,
        &["scale", "status"],
        "statefulsets",
    ),
    (
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        &["all"],
        EIGHT,
        &["status"],
        "daemonsets",
    ),
    (
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        &["all"],
        EIGHT,
        &["status"],
        "horizontalpodautoscalers",
    ),
    (
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        &["all"],
        EIGHT,
        &["status"],
        "horizontalpodautoscalers",
    ),
    (
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        &["all"],
        EIGHT,
        &["status"],
        "cronjobs",
    ),
    (
        "batch",
        "v1",
        "jobs",
        "Job",
        true,
        &[],
        &["all"],
        EIGHT,
        &["status"],
        "jobs",
    ),
    (
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        &[],
        EIGHT,
        &[],
        "events",
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        &["api-extensions"],
        EIGHT,
        &["status"],
        "apiextensions.k8s.io/customresourcedefinitions",
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
        &[],
        &["api-extensions"],
        EIGHT,
        &["status"],
        "apiregistration.k8s.io/apiservices",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        &["api-extensions"],
        EIGHT,
        &[],
        "validatingwebhookconfigurations",
    ),
    (
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "TokenReview",
        false,
        &[],
        &[],
        &["create"],
        &[],
        "",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        true,
        &[],
        &[],
        &["create"],
        &[],
        "",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        &[],
        &[],
        &["create"],
        &[],
        "",
    ),
    (
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        false,
        &["csr"],
        &[],
        EIGHT,
        &["approval", "status"],
        "certificatesigningrequests",
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        &[],
        EIGHT,
        &["status"],
        "ingress",
    ),
    (
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        &[],
        EIGHT,
        &[],
        "networkpolicies",
    ),
    (
        "networking.k8s.io",
        "v1",
        "ipaddresses",
        "IPAddress",
        false,
        &["ip"],
        &[],
        EIGHT,
        &[],
        "ipaddresses",
    ),
    (
        "networking.k8s.io",
        "v1",
        "servicecidrs",
        "ServiceCIDR",
        false,
        &[],
        &[],
        EIGHT,
        &["status"],
        "servicecidrs",
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &[],
        EIGHT,
        &["status"],
        "poddisruptionbudgets",
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        &[],
        EIGHT,
        &[],
        "priorityclasses",
    ),
    (
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        &[],
        EIGHT,
        &[],
        "storageclasses",
    ),
    (
        "storage.k8s.io",
        "v1",
        "volumeattributesclasses",
        "VolumeAttributesClass",
        false,
        &["vac"],
        &[],
        EIGHT,
        &[],
        "volumeattributesclasses",
    ),
    (
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        &[],
        &[],
        EIGHT,
        &[],
        "leases",
    ),
    (
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        &[],
        EIGHT,
        &[],
        "endpointslices",
    ),
    (
        "resource.k8s.io",
        "v1",
        "resourceclaims",
        "ResourceClaim",
        true,
        &[],
        &[],
        EIGHT,
        &["status"],
        "resourceclaims",
    ),
    (
        "resource.k8s.io",
        "v1",
        "deviceclasses",
        "DeviceClass",
        false,
        &[],
        &[],
        EIGHT,
        &[],
        "deviceclasses",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "flowschemas",
        "FlowSchema",
        false,
        &[],
        &[],
        EIGHT,
        &["status"],
        "flowschemas",
    ),
];

#[test]
fn sample_entries_match_upstream() {
    for (group, version, plural, kind, namespaced, short, cats, verbs, subs, prefix) in EXPECTED {
        let info = find(group, version, plural)
            .unwrap_or_else(|| panic!("{group}/{version}/{plural} missing"));
        let id = format!("{group}/{version}/{plural}");
        assert_eq!(info.kind, *kind, "{id} kind");
        assert_eq!(info.namespaced, *namespaced, "{id} namespaced");
        assert_eq!(info.short_names, *short, "{id} short names");
        assert_eq!(info.categories, *cats, "{id} categories");
        assert_eq!(info.verbs, *verbs, "{id} verbs");
        let names: Vec<&str> = info.subresources.iter().map(|s| s.name).collect();
        assert_eq!(names, *subs, "{id} subresources");
        assert_eq!(info.storage_prefix, *prefix, "{id} storage prefix");
        assert_eq!(
            find_by_kind(group, version, kind).map(|r| r.plural),
            Some(*plural)
        );
    }
}

#[test]
fn subresource_kinds() {
    let cases = [
        (
            "apps",
            "v1",
            "deployments",
            "scale",
            ("autoscaling", "v1", "Scale"),
        ),
        ("", "v1", "pods", "eviction", ("policy", "v1", "Eviction")),
        ("", "v1", "pods", "status", ("", "v1", "Pod")),
        (
            "",
            "v1",
            "serviceaccounts",
            "token",
            ("authentication.k8s.io", "v1", "TokenRequest"),
        ),
        ("batch", "v1", "jobs", "status", ("batch", "v1", "Job")),
    ];
    for (group, version, plural, sub, (sg, sv, sk)) in cases {
        let info = find(group, version, plural).expect("resource");
        let s = info
            .subresources
            .iter()
            .find(|s| s.name == sub)
            .expect("subresource");
        assert_eq!((s.group, s.version, s.kind), (sg, sv, sk), "{plural}/{sub}");
    }
}

#[test]
fn no_duplicates_and_sorted_within_group_version() {
    let mut seen = HashSet::new();
    for r in all() {
        assert!(
            seen.insert((r.group, r.version, r.plural)),
            "duplicate {}/{}",
            r.api_version(),
            r.plural
        );
        assert_eq!(r.singular, r.kind.to_lowercase(), "{} singular", r.plural);
        let subs: Vec<&str> = r.subresources.iter().map(|s| s.name).collect();
        let mut sorted = subs.clone();
        sorted.sort_unstable();
        assert_eq!(subs, sorted, "{} subresources sorted", r.plural);
    }
    for g in groups() {
        for v in &g.versions {
            let plurals: Vec<&str> = resources_of(g.name, v).map(|r| r.plural).collect();
            assert!(!plurals.is_empty(), "{}/{v} has no resources", g.name);
            let mut sorted = plurals.clone();
            sorted.sort_unstable();
            assert_eq!(plurals, sorted, "{}/{v} resources sorted", g.name);
        }
    }
}

#[test]
fn every_entry_belongs_to_a_listed_group() {
    let gs = groups();
    for r in all() {
        assert!(
            gs.iter()
                .any(|g| g.name == r.group && g.versions.contains(&r.version)),
            "{} not in groups()",
            r.api_version()
        );
    }
    let names: Vec<&str> = gs.iter().map(|g| g.name).collect();
    assert_eq!(names[..3], ["", "apiregistration.k8s.io", "apps"]);
    assert_eq!(preferred_version("autoscaling"), Some("v2"));
    assert_eq!(preferred_version("nope"), None);
}

#[test]
fn every_entry_decodes_a_minimal_object() {
    for r in all() {
        let obj = serde_json::json!({
            "apiVersion": r.api_version(),
            "kind": r.kind,
            "metadata": {"name": "x"},
        });
        let out = (r.decode)(obj).unwrap_or_else(|e| panic!("{}: {e}", r.plural));
        assert_eq!(out["kind"], r.kind, "{}", r.plural);
        assert_eq!(out["apiVersion"], r.api_version(), "{}", r.plural);
        assert_eq!(out["metadata"]["name"], "x", "{}", r.plural);
    }
}

#[test]
fn decode_rejects_wrong_types_and_drops_unknown_fields() {
    let pods = find("", "v1", "pods").expect("pods");
    let bad = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 3}});
    assert!((pods.decode)(bad).is_err());
    let extra = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "bogus": 1});
    let out = (pods.decode)(extra).expect("decodes");
    assert!(out.get("bogus").is_none());
}

#[test]
fn every_entry_has_a_schema_definition() {
    let mut gen = schemars::SchemaGenerator::default();
    for r in all() {
        let s = (r.schema)(&mut gen);
        let reference = s
            .get("$ref")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let name = reference.rsplit('/').next().unwrap_or_default();
        assert!(
            name.ends_with(&format!(".{}", r.kind)),
            "{}: {reference}",
            r.plural
        );
        assert!(
            gen.definitions().contains_key(name),
            "{}: {name} not defined",
            r.plural
        );
    }
}
