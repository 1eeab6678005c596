//! Which decoded scalars upstream's JSON would leave out.
//!
//! Go's protobuf marshalling writes every non-pointer field, even when empty; its JSON
//! marshalling drops empty `omitempty` fields. The wire cannot tell a non-pointer zero from a
//! pointer set to zero, so:
//! - empty strings are dropped (string fields are almost all non-pointer `omitempty`), except
//!   the pointer strings below where `""` means something;
//! - zeros and `false` are kept (on a pointer field, `replicas: 0` or
//!   `automountServiceAccountToken: false` are meaningful), except the non-pointer
//!   `omitempty` fields below, which Go writes in every object and which would otherwise
//!   show up as `stdin: false`, `hostNetwork: false`, `minReadySeconds: 0`, ...

use serde_json::Value;

const CORE: &str = "io.k8s.api.core.v1.";
const APPS: &str = "io.k8s.api.apps.v1.";
const APIEXT: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.";

/// Pointer string fields where `""` differs from absent, as (definition, JSON name).
const KEEP_EMPTY_STRING: &[(&str, &str)] = &[
    // "" turns dynamic provisioning off.
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "storageClassName",
    ),
    // "" asks for no volume attributes class.
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        "volumeAttributesClassName",
    ),
];

/// Non-pointer `omitempty` numbers and bools, by short definition name under `group`.
const DROP_ZERO: &[(&str, &str, &[&str])] = &[
    (CORE, "Container", &["stdin", "stdinOnce", "tty"]),
    (
        CORE,
        "EphemeralContainerCommon",
        &["stdin", "stdinOnce", "tty"],
    ),
    (CORE, "PodSpec", &["hostNetwork", "hostPID", "hostIPC"]),
    (CORE, "ContainerPort", &["hostPort"]),
    (CORE, "ServicePort", &["nodePort"]),
    (
        CORE,
        "ServiceSpec",
        &["publishNotReadyAddresses", "healthCheckNodePort"],
    ),
    (CORE, "VolumeMount", &["readOnly"]),
    (
        CORE,
        "Probe",
        &[
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.",
        "ObjectMeta",
        &["generation"],
    ),
    (APPS, "DeploymentSpec", &["minReadySeconds", "paused"]),
    (
        APPS,
        "DeploymentStatus",
        &[
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ],
    ),
    (APPS, "ReplicaSetSpec", &["minReadySeconds"]),
    (
        APPS,
        "ReplicaSetStatus",
        &[
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        ],
    ),
    (APPS, "StatefulSetSpec", &["minReadySeconds"]),
    (APPS, "DaemonSetSpec", &["minReadySeconds"]),
    (
        "io.k8s.api.batch.v1.",
        "JobStatus",
        &["active", "succeeded", "failed"],
    ),
    (
        "io.k8s.api.networking.v1.",
        "ServiceBackendPort",
        &["number"],
    ),
    (
        "io.k8s.api.scheduling.v1.",
        "PriorityClass",
        &["globalDefault"],
    ),
    (
        "io.k8s.api.policy.v1.",
        "PodDisruptionBudgetStatus",
        &["observedGeneration"],
    ),
    (
        APIEXT,
        "CustomResourceDefinitionSpec",
        &["preserveUnknownFields"],
    ),
    (APIEXT, "CustomResourceDefinitionVersion", &["deprecated"]),
    (
        APIEXT,
        "JSONSchemaProps",
        &[
            "exclusiveMaximum",
            "exclusiveMinimum",
            "uniqueItems",
            "nullable",
            "x-kubernetes-embedded-resource",
            "x-kubernetes-int-or-string",
        ],
    ),
];

/// Whether the field `json` of `definition` with decoded value `v` is left out.
pub fn drop_field(definition: &str, json: &str, v: &Value) -> bool {
    match v {
        Value::String(s) if s.is_empty() => !KEEP_EMPTY_STRING.contains(&(definition, json)),
        Value::Bool(false) => drop_zero(definition, json),
        Value::Number(n) if n.as_f64() == Some(0.0) => drop_zero(definition, json),
        _ => false,
    }
}

fn drop_zero(definition: &str, json: &str) -> bool {
    DROP_ZERO.iter().any(|(group, name, fields)| {
        definition.strip_prefix(group) == Some(name) && fields.contains(&json)
    })
}
