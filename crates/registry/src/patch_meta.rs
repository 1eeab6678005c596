//! Strategic-merge-patch metadata for built-in kinds: the shape of each position comes from the
//! catalog's schemas (following `$ref`s, so nested positions know their type), the merge keys
//! and strategies from upstream's Go struct tags (`patchStrategy` / `patchMergeKey`), which the
//! published schemas do not carry.

use crate::catalog;
use crate::ResourceInfo;
use apimachinery::patch::{ListStrategy, ListType, PatchMeta};
use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// How upstream patches one field of one definition.
#[derive(Clone, Copy)]
enum Tag {
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`.
    Key(&'static str),
    /// `patchStrategy:"merge,retainKeys" patchMergeKey:"<key>"`: items merge by key, and each
    /// item keeps only the keys the patch names.
    KeyRetain(&'static str),
    /// `patchStrategy:"merge"` on a list of scalars.
    Scalars,
    /// `patchStrategy:"retainKeys"` on an object.
    Retain,
}

const CORE: &str = "io.k8s.api.core.v1.";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// (package prefix, type name, field, tag): the definition name is prefix + type name.
#[rustfmt::skip]
const TAGS: &[(&str, &str, &str, Tag)] = &[
    (META, "ObjectMeta", "finalizers", Tag::Scalars),
    (META, "ObjectMeta", "ownerReferences", Tag::Key("uid")),

    (CORE, "PodSpec", "volumes", Tag::KeyRetain("name")),
    (CORE, "PodSpec", "initContainers", Tag::Key("name")),
    (CORE, "PodSpec", "containers", Tag::Key("name")),
    (CORE, "PodSpec", "ephemeralContainers", Tag::Key("name")),
    (CORE, "PodSpec", "imagePullSecrets", Tag::Key("name")),
    (CORE, "PodSpec", "hostAliases", Tag::Key("ip")),
    (CORE, "PodSpec", "topologySpreadConstraints", Tag::Key("topologyKey")),
    (CORE, "PodSpec", "schedulingGates", Tag::Key("name")),
    (CORE, "PodSpec", "resourceClaims", Tag::KeyRetain("name")),
    (CORE, "Container", "ports", Tag::Key("containerPort")),
    (CORE, "Container", "env", Tag::Key("name")),
    (CORE, "Container", "volumeMounts", Tag::Key("mountPath")),
    (CORE, "Container", "volumeDevices", Tag::Key("devicePath")),
    (CORE, "EphemeralContainer", "ports", Tag::Key("containerPort")),
    (CORE, "EphemeralContainer", "env", Tag::Key("name")),
    (CORE, "EphemeralContainer", "volumeMounts", Tag::Key("mountPath")),
    (CORE, "EphemeralContainer", "volumeDevices", Tag::Key("devicePath")),
    (CORE, "PodStatus", "conditions", Tag::Key("type")),
    (CORE, "PodStatus", "podIPs", Tag::Key("ip")),
    (CORE, "PodStatus", "hostIPs", Tag::Key("ip")),
    (CORE, "PodStatus", "resourceClaimStatuses", Tag::KeyRetain("name")),
    (CORE, "ContainerStatus", "allocatedResourcesStatus", Tag::Key("name")),
    (CORE, "ServiceSpec", "ports", Tag::Key("port")),
    (CORE, "ServiceStatus", "conditions", Tag::Key("type")),
    (CORE, "ServiceAccount", "secrets", Tag::Key("name")),
    (CORE, "NodeSpec", "podCIDRs", Tag::Scalars),
    (CORE, "NodeStatus", "conditions", Tag::Key("type")),
    (CORE, "NodeStatus", "addresses", Tag::Key("type")),
    (CORE, "NamespaceStatus", "conditions", Tag::Key("type")),
    (CORE, "PersistentVolumeClaimStatus", "conditions", Tag::Key("type")),
    (CORE, "ReplicationControllerStatus", "conditions", Tag::Key("type")),
    (CORE, "ComponentStatus", "conditions", Tag::Key("type")),

    ("io.k8s.api.apps.v1.", "DeploymentSpec", "strategy", Tag::Retain),
    ("io.k8s.api.apps.v1.", "DeploymentStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.apps.v1.", "ReplicaSetStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.apps.v1.", "StatefulSetStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.apps.v1.", "DaemonSetStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.batch.v1.", "JobStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.autoscaling.v2.", "HorizontalPodAutoscalerStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.policy.v1.", "PodDisruptionBudgetStatus", "conditions", Tag::Key("type")),
    ("io.k8s.api.admissionregistration.v1.", "ValidatingWebhookConfiguration", "webhooks", Tag::Key("name")),
    ("io.k8s.api.admissionregistration.v1.", "MutatingWebhookConfiguration", "webhooks", Tag::Key("name")),
    ("io.k8s.api.storage.v1.", "CSINodeSpec", "drivers", Tag::Key("name")),
    ("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.", "APIServiceStatus", "conditions", Tag::Key("type")),
];

/// Lists that server-side apply keys by more than their strategic-merge key (upstream's
/// `x-kubernetes-list-map-keys`), with the default a missing `protocol` key takes.
#[rustfmt::skip]
const APPLY_LIST_KEYS: &[(&str, &str, &str, &[&str])] = &[
    (CORE, "Container", "ports", &["containerPort", "protocol"]),
    (CORE, "EphemeralContainer", "ports", &["containerPort", "protocol"]),
    (CORE, "ServiceSpec", "ports", &["port", "protocol"]),
    (CORE, "PodSpec", "topologySpreadConstraints", &["topologyKey", "whenUnsatisfiable"]),
];

/// Types upstream marks `x-kubernetes-map-type: atomic`: applied and owned as a whole.
#[rustfmt::skip]
const ATOMIC_TYPES: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ConfigMapEnvSource",
    "io.k8s.api.core.v1.SecretEnvSource",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.TopologySelectorTerm",
];

/// Fields of Go struct type without a pointer: present (as `{}`) in an empty object, so a
/// write that fills them does not "add" them (upstream's managedFields have no `.` entry).
const STRUCT_FIELDS: &[&str] = &[
    "spec",
    "status",
    "template",
    "jobTemplate",
    "strategy",
    "updateStrategy",
    "metadata",
    "resources",
];

fn apply_keys(definition: Option<&str>, field: &str) -> Option<&'static [&'static str]> {
    let definition = definition?;
    APPLY_LIST_KEYS
        .iter()
        .find(|(pkg, ty, f, _)| {
            *f == field
                && definition.len() == pkg.len() + ty.len()
                && definition.starts_with(pkg)
                && definition.ends_with(ty)
        })
        .map(|(_, _, _, keys)| *keys)
}

fn tag(definition: Option<&str>, field: &str) -> Option<Tag> {
    let definition = definition?;
    TAGS.iter()
        .find(|(pkg, ty, f, _)| {
            *f == field
                && definition.len() == pkg.len() + ty.len()
                && definition.starts_with(pkg)
                && definition.ends_with(ty)
        })
        .map(|(_, _, _, t)| *t)
}

/// Every definition the catalog's kinds reach, and each kind's definition name.
struct Schemas {
    definitions: Map<String, Value>,
    kinds: HashMap<(&'static str, &'static str, &'static str), String>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut settings = SchemaSettings::draft07();
        settings.definitions_path = "/definitions".into();
        settings.meta_schema = None;
        settings.transforms = Vec::new();
        let mut gen = SchemaGenerator::new(settings);
        let mut kinds = HashMap::new();
        for info in catalog::all() {
            let schema = (info.schema)(&mut gen);
            if let Some(name) = ref_target(schema.as_value()) {
                kinds.insert((info.group, info.version, info.kind), name.to_string());
            }
        }
        Schemas {
            definitions: gen.take_definitions(false),
            kinds,
        }
    })
}

fn ref_target(schema: &Value) -> Option<&str> {
    let reference = match schema.get("$ref") {
        Some(r) => r,
        None => schema.get("allOf")?.get(0)?.get("$ref")?,
    };
    reference.as_str()?.rsplit('/').next()
}

/// A position in a kind's schema: the schema there and, when it is a named definition, its
/// name (what upstream's struct tags are keyed by).
#[derive(Clone, Copy)]
pub struct SchemaPatchMeta {
    definition: Option<&'static str>,
    schema: &'static Value,
}

static EMPTY: Value = Value::Null;

impl SchemaPatchMeta {
    /// The meta of a named definition (`io.k8s.api.apps.v1.Deployment`); unknown names give a
    /// position where every list is replaced.
    pub fn for_definition(name: &str) -> SchemaPatchMeta {
        match schemas().definitions.get_key_value(name) {
            Some((key, schema)) => SchemaPatchMeta {
                definition: Some(key.as_str()),
                schema,
            },
            None => SchemaPatchMeta {
                definition: None,
                schema: &EMPTY,
            },
        }
    }

    /// The definition name of this position, if it is a named type.
    pub fn definition(&self) -> Option<&'static str> {
        self.definition
    }

    /// The position of field `name` (for a list: of its items; for a map: of its values).
    pub fn field(&self, name: &str) -> Option<SchemaPatchMeta> {
        let field = self
            .schema
            .get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| {
                self.schema
                    .get("additionalProperties")
                    .filter(|v| v.is_object())
            })?;
        let mut position = SchemaPatchMeta::resolve(field);
        if position.schema.get("type").and_then(Value::as_str) == Some("array") {
            position = SchemaPatchMeta::resolve(position.schema.get("items")?);
        }
        Some(position)
    }

    /// Follows a `$ref` (bare or in a one-element `allOf`) to its definition.
    fn resolve(schema: &'static Value) -> SchemaPatchMeta {
        match ref_target(schema) {
            Some(name) => Self::for_definition(name),
            None => SchemaPatchMeta {
                definition: None,
                schema,
            },
        }
    }
}

/// The patch metadata of a built-in kind, rooted at the kind's object.
pub fn patch_meta_for(info: &ResourceInfo) -> SchemaPatchMeta {
    match schemas().kinds.get(&(info.group, info.version, info.kind)) {
        Some(name) => SchemaPatchMeta::for_definition(name),
        None => SchemaPatchMeta::for_definition(""),
    }
}

impl PatchMeta for SchemaPatchMeta {
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>> {
        self.field(name).map(|m| Box::new(m) as Box<dyn PatchMeta>)
    }

    fn list_strategy(&self, name: &str) -> ListStrategy {
        match tag(self.definition, name) {
            Some(Tag::Key(key)) | Some(Tag::KeyRetain(key)) => {
                ListStrategy::MergeByKey(key.to_string())
            }
            Some(Tag::Scalars) => ListStrategy::MergeScalars,
            Some(Tag::Retain) | None => ListStrategy::Replace,
        }
    }

    /// True for objects tagged `retainKeys` and for lists tagged `merge,retainKeys` (whose items
    /// each carry the strategy).
    fn retain_keys(&self, name: &str) -> bool {
        matches!(
            tag(self.definition, name),
            Some(Tag::Retain) | Some(Tag::KeyRetain(_))
        )
    }

    fn list_type(&self, name: &str) -> ListType {
        if let Some(keys) = apply_keys(self.definition, name) {
            return ListType::Map(keys.iter().map(|k| k.to_string()).collect());
        }
        match self.list_strategy(name) {
            ListStrategy::Replace => ListType::Atomic,
            ListStrategy::MergeByKey(key) => ListType::Map(vec![key]),
            ListStrategy::MergeScalars => ListType::Set,
        }
    }

    fn list_key_default(&self, list: &str, key: &str) -> Option<Value> {
        (key == "protocol" && apply_keys(self.definition, list).is_some())
            .then(|| Value::String("TCP".into()))
    }

    fn atomic_object(&self, name: &str) -> bool {
        (self.definition.is_some_and(|d| d.ends_with(".PodSpec")) && name == "nodeSelector")
            || self
                .field(name)
                .and_then(|f| f.definition)
                .is_some_and(|d| ATOMIC_TYPES.contains(&d))
    }

    fn always_present(&self, name: &str) -> bool {
        self.definition.is_some()
            && STRUCT_FIELDS.contains(&name)
            && self.field(name).is_some_and(|f| f.definition.is_some())
    }
}

/// Writes upstream's strategic-merge extensions (`x-kubernetes-patch-merge-key`,
/// `x-kubernetes-patch-strategy`) into OpenAPI definitions, so kubectl computes the same
/// patches against skiff as against Kubernetes (it reads them from `/openapi/v3`).
pub fn add_openapi_extensions(defs: &mut Map<String, Value>) {
    for (pkg, ty, field, t) in TAGS {
        let name = format!("{pkg}{ty}");
        let Some(prop) = defs
            .get_mut(&name)
            .and_then(|d| d.pointer_mut(&format!("/properties/{field}")))
        else {
            continue;
        };
        let Some(prop) = prop.as_object_mut() else {
            continue;
        };
        let (key, strategy) = match t {
            Tag::Key(k) => (Some(*k), "merge"),
            Tag::KeyRetain(k) => (Some(*k), "merge,retainKeys"),
            Tag::Scalars => (None, "merge"),
            Tag::Retain => (None, "retainKeys"),
        };
        if let Some(k) = key {
            prop.insert(
                "x-kubernetes-patch-merge-key".into(),
                Value::String(k.to_string()),
            );
        }
        prop.insert(
            "x-kubernetes-patch-strategy".into(),
            Value::String(strategy.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(group: &str, version: &str, plural: &str) -> SchemaPatchMeta {
        patch_meta_for(catalog::find(group, version, plural).expect("resource"))
    }

    fn at(meta: SchemaPatchMeta, path: &[&str]) -> SchemaPatchMeta {
        path.iter().fold(meta, |m, name| {
            m.field(name)
                .unwrap_or_else(|| panic!("no field {name} in {:?}", m.definition()))
        })
    }

    fn key(k: &str) -> ListStrategy {
        ListStrategy::MergeByKey(k.to_string())
    }

    #[test]
    fn deployment_through_the_trait() {
        let meta = root("apps", "v1", "deployments");
        let spec = meta.child("spec").expect("spec");
        let template = spec.child("template").expect("template");
        let pod_spec = template.child("spec").expect("pod spec");
        assert_eq!(pod_spec.list_strategy("containers"), key("name"));
        let container = pod_spec.child("containers").expect("container");
        assert_eq!(container.list_strategy("env"), key("name"));
        assert_eq!(container.list_strategy("args"), ListStrategy::Replace);
        assert!(spec.retain_keys("strategy"));
        assert!(!spec.retain_keys("template"));
    }

    /// (group, plural, first field, rest of the path, list field, expected strategy)
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const CASES: &[(&str, &str, &str, &[&str], &str, Option<&str>)] = &[
        // (group, plural, ..) expected: None = Replace, Some("") = scalars, Some(k) = by key
        ("apps", "deployments", "metadata", &[], "finalizers", Some("")),
        ("apps", "deployments", "metadata", &[], "ownerReferences", Some("uid")),
        ("apps", "deployments", "spec", &["template", "spec"], "initContainers", Some("name")),
        ("apps", "deployments", "spec", &["template", "spec"], "ephemeralContainers", Some("name")),
        ("apps", "deployments", "spec", &["template", "spec"], "volumes", Some("name")),
        ("apps", "deployments", "spec", &["template", "spec"], "imagePullSecrets", Some("name")),
        ("apps", "deployments", "spec", &["template", "spec"], "hostAliases", Some("ip")),
        ("apps", "deployments", "spec", &["template", "spec"], "tolerations", None),
        ("apps", "deployments", "spec", &["template", "spec"], "topologySpreadConstraints", Some("topologyKey")),
        ("apps", "deployments", "spec", &["template", "spec", "containers"], "ports", Some("containerPort")),
        ("apps", "deployments", "spec", &["template", "spec", "containers"], "volumeMounts", Some("mountPath")),
        ("apps", "deployments", "spec", &["template", "spec", "containers"], "volumeDevices", Some("devicePath")),
        ("apps", "deployments", "spec", &["template", "spec", "initContainers"], "env", Some("name")),
        ("apps", "deployments", "spec", &["template", "spec", "ephemeralContainers"], "env", Some("name")),
        ("apps", "deployments", "spec", &["template", "metadata"], "finalizers", Some("")),
        ("apps", "deployments", "status", &[], "conditions", Some("type")),
        ("", "services", "spec", &[], "ports", Some("port")),
        ("", "pods", "status", &[], "conditions", Some("type")),
        ("", "pods", "status", &[], "podIPs", Some("ip")),
        ("", "nodes", "spec", &[], "podCIDRs", Some("")),
        ("", "nodes", "spec", &[], "taints", None),
        ("", "nodes", "status", &[], "addresses", Some("type")),
        ("", "serviceaccounts", "metadata", &[], "finalizers", Some("")),
        ("batch", "cronjobs", "spec", &["jobTemplate", "spec", "template", "spec"], "containers", Some("name")),
        ("batch", "jobs", "status", &[], "conditions", Some("type")),
    ];

    #[test]
    fn list_strategies_follow_upstream_tags() {
        for (group, plural, first, rest, field, want) in CASES {
            let version = if group.is_empty() {
                "v1"
            } else {
                catalog::preferred_version(group).expect("group")
            };
            let mut path = vec![*first];
            path.extend_from_slice(rest);
            let position = at(root(group, version, plural), &path);
            let want = match want {
                None => ListStrategy::Replace,
                Some("") => ListStrategy::MergeScalars,
                Some(k) => key(k),
            };
            assert_eq!(
                position.list_strategy(field),
                want,
                "{plural} {path:?}.{field}"
            );
        }
    }

    #[test]
    fn positions_know_their_types() {
        let pod = root("", "v1", "pods");
        assert_eq!(pod.definition(), Some("io.k8s.api.core.v1.Pod"));
        assert_eq!(
            at(pod, &["spec", "containers"]).definition(),
            Some("io.k8s.api.core.v1.Container")
        );
        assert_eq!(
            at(pod, &["spec", "volumes"]).definition(),
            Some("io.k8s.api.core.v1.Volume")
        );
        assert!(at(pod, &["spec"]).retain_keys("volumes"));
        // map values: labels are strings, no further fields
        assert!(at(pod, &["metadata", "labels"]).field("x").is_some());
        assert!(pod.field("nonexistent").is_none());
        // resources map of Quantity
        assert_eq!(
            at(pod, &["spec", "containers", "resources", "limits", "cpu"]).definition(),
            Some("io.k8s.apimachinery.pkg.api.resource.Quantity")
        );
    }

    #[test]
    fn every_kind_has_a_root() {
        for info in catalog::all() {
            let meta = patch_meta_for(info);
            assert!(meta.definition().is_some(), "{}", info.plural);
            assert!(meta.field("metadata").is_some(), "{} metadata", info.plural);
        }
    }
}
