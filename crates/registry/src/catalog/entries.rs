//! The table of built-in resources. Group, version, kind and plural come from the k8s-openapi
//! type itself; the rest (short names, categories, verbs, subresources, etcd prefix) is what
//! upstream's REST storage declares for v1.37.

use super::{decode, schema};
use crate::{ResourceInfo, Subresource};
use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, authentication::v1 as authn,
    authorization::v1 as authz, autoscaling::v1 as autoscaling1, autoscaling::v2 as autoscaling2,
    batch::v1 as batch, certificates::v1 as certs, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, events::v1 as events,
    flowcontrol::v1 as flowcontrol, networking::v1 as networking, node::v1 as node,
    policy::v1 as policy, rbac::v1 as rbac, resource::v1 as dra, scheduling::v1 as scheduling,
    storage::v1 as storage, storagemigration::v1 as migration,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apireg;
use k8s_openapi::Resource;

/// create delete deletecollection get list patch update watch: a plain stored resource.
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces have no deletecollection.
const NO_COLLECTION_DELETE: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Reviews and bindings: write-only, nothing stored.
const CREATE: &[&str] = &["create"];
const GET_LIST: &[&str] = &["get", "list"];
const GET: &[&str] = &["get"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
/// Connect subresources that upgrade (exec, attach, portforward): GET and POST.
const CONNECT: &[&str] = &["create", "get"];
/// Proxy subresources accept every HTTP method.
const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
const UPDATE: &[&str] = &["update"];

const API_EXTENSIONS: &[&str] = &["api-extensions"];
const CAT_ALL: &[&str] = &["all"];

/// A subresource returning an object of another kind (in the core group unless given).
const fn sub(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group: "",
        version: "v1",
        verbs,
    }
}

/// The `status` subresource of `T` (reads and writes `T` itself).
const fn status<T: Resource>() -> Subresource {
    Subresource {
        name: "status",
        kind: T::KIND,
        group: T::GROUP,
        version: T::VERSION,
        verbs: GET_PATCH_UPDATE,
    }
}

/// The `scale` subresource (autoscaling/v1 Scale for every scalable kind).
const SCALE: Subresource = Subresource {
    name: "scale",
    kind: "Scale",
    group: "autoscaling",
    version: "v1",
    verbs: GET_PATCH_UPDATE,
};

/// One catalog entry: `r!(Type, "singular", namespaced, [short names], categories, verbs,
/// [subresources], "etcd prefix")`. An empty prefix means nothing is stored (reviews, bindings).
macro_rules! r {
    ($ty:ty, $singular:literal, $ns:literal, [$($short:literal),*], $cats:expr, $verbs:expr,
     [$($sub:expr),* $(,)?], $prefix:literal) => {
        ResourceInfo {
            group: <$ty as Resource>::GROUP,
            version: <$ty as Resource>::VERSION,
            kind: <$ty as Resource>::KIND,
            plural: <$ty as Resource>::URL_PATH_SEGMENT,
            singular: $singular,
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: $cats,
            verbs: $verbs,
            subresources: &[$($sub),*],
            storage_prefix: $prefix,
            decode: decode::<$ty>,
            schema: schema::<$ty>,
        }
    };
}

const NONE: &[&str] = &[];

#[rustfmt::skip]
pub static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    r!(core::Binding, "binding", true, [], NONE, CREATE, [], ""),
    r!(core::ComponentStatus, "componentstatus", false, ["cs"], NONE, GET_LIST, [], ""),
    r!(core::ConfigMap, "configmap", true, ["cm"], NONE, ALL, [], "configmaps"),
    r!(core::Endpoints, "endpoints", true, ["ep"], NONE, ALL, [], "services/endpoints"),
    r!(core::Event, "event", true, ["ev"], NONE, ALL, [], "events"),
    r!(core::LimitRange, "limitrange", true, ["limits"], NONE, ALL, [], "limitranges"),
    r!(core::Namespace, "namespace", false, ["ns"], NONE, NO_COLLECTION_DELETE,
       [sub("finalize", "Namespace", UPDATE), status::<core::Namespace>()], "namespaces"),
    r!(core::Node, "node", false, ["no"], NONE, ALL,
       [sub("proxy", "NodeProxyOptions", PROXY), status::<core::Node>()], "minions"),
    r!(core::PersistentVolumeClaim, "persistentvolumeclaim", true, ["pvc"], NONE, ALL,
       [status::<core::PersistentVolumeClaim>()], "persistentvolumeclaims"),
    r!(core::PersistentVolume, "persistentvolume", false, ["pv"], NONE, ALL,
       [status::<core::PersistentVolume>()], "persistentvolumes"),
    r!(core::Pod, "pod", true, ["po"], CAT_ALL, ALL, [
        sub("attach", "PodAttachOptions", CONNECT),
        sub("binding", "Binding", CREATE),
        sub("ephemeralcontainers", "Pod", GET_PATCH_UPDATE),
        Subresource { name: "eviction", kind: "Eviction", group: "policy", version: "v1", verbs: CREATE },
        sub("exec", "PodExecOptions", CONNECT),
        sub("log", "Pod", GET),
        sub("portforward", "PodPortForwardOptions", CONNECT),
        sub("proxy", "PodProxyOptions", PROXY),
        sub("resize", "Pod", GET_PATCH_UPDATE),
        status::<core::Pod>(),
    ], "pods"),
    r!(core::PodTemplate, "podtemplate", true, [], NONE, ALL, [], "podtemplates"),
    r!(core::ReplicationController, "replicationcontroller", true, ["rc"], CAT_ALL, ALL,
       [SCALE, status::<core::ReplicationController>()], "controllers"),
    r!(core::ResourceQuota, "resourcequota", true, ["quota"], NONE, ALL,
       [status::<core::ResourceQuota>()], "resourcequotas"),
    r!(core::Secret, "secret", true, [], NONE, ALL, [], "secrets"),
    r!(core::ServiceAccount, "serviceaccount", true, ["sa"], NONE, ALL, [
        Subresource { name: "token", kind: "TokenRequest", group: "authentication.k8s.io", version: "v1", verbs: CREATE },
    ], "serviceaccounts"),
    r!(core::Service, "service", true, ["svc"], CAT_ALL, ALL,
       [sub("proxy", "ServiceProxyOptions", PROXY), status::<core::Service>()], "services/specs"),

    // apiregistration.k8s.io/v1
    r!(apireg::APIService, "apiservice", false, [], API_EXTENSIONS, ALL,
       [status::<apireg::APIService>()], "apiregistration.k8s.io/apiservices"),

    // apps/v1
    r!(apps::ControllerRevision, "controllerrevision", true, [], NONE, ALL, [], "controllerrevisions"),
    r!(apps::DaemonSet, "daemonset", true, ["ds"], CAT_ALL, ALL, [status::<apps::DaemonSet>()], "daemonsets"),
    r!(apps::Deployment, "deployment", true, ["deploy"], CAT_ALL, ALL,
       [SCALE, status::<apps::Deployment>()], "deployments"),
    r!(apps::ReplicaSet, "replicaset", true, ["rs"], CAT_ALL, ALL,
       [SCALE, status::<apps::ReplicaSet>()], "replicasets"),
    r!(apps::StatefulSet, "statefulset", true, ["sts"], CAT_ALL, ALL,
       [SCALE, status::<apps::StatefulSet>()], "statefulsets"),

    // events.k8s.io/v1 (same objects as core events)
    r!(events::Event, "event", true, ["ev"], NONE, ALL, [], "events"),

    // authentication.k8s.io/v1
    r!(authn::SelfSubjectReview, "selfsubjectreview", false, [], NONE, CREATE, [], ""),
    r!(authn::TokenReview, "tokenreview", false, [], NONE, CREATE, [], ""),

    // authorization.k8s.io/v1
    r!(authz::LocalSubjectAccessReview, "localsubjectaccessreview", true, [], NONE, CREATE, [], ""),
    r!(authz::SelfSubjectAccessReview, "selfsubjectaccessreview", false, [], NONE, CREATE, [], ""),
    r!(authz::SelfSubjectRulesReview, "selfsubjectrulesreview", false, [], NONE, CREATE, [], ""),
    r!(authz::SubjectAccessReview, "subjectaccessreview", false, [], NONE, CREATE, [], ""),

    // autoscaling/v2 (preferred) and v1 share one store
    r!(autoscaling2::HorizontalPodAutoscaler, "horizontalpodautoscaler", true, ["hpa"], CAT_ALL, ALL,
       [status::<autoscaling2::HorizontalPodAutoscaler>()], "horizontalpodautoscalers"),
    r!(autoscaling1::HorizontalPodAutoscaler, "horizontalpodautoscaler", true, ["hpa"], CAT_ALL, ALL,
       [status::<autoscaling1::HorizontalPodAutoscaler>()], "horizontalpodautoscalers"),

    // batch/v1
    r!(batch::CronJob, "cronjob", true, ["cj"], CAT_ALL, ALL, [status::<batch::CronJob>()], "cronjobs"),
    r!(batch::Job, "job", true, [], CAT_ALL, ALL, [status::<batch::Job>()], "jobs"),

    // certificates.k8s.io/v1
    r!(certs::CertificateSigningRequest, "certificatesigningrequest", false, ["csr"], NONE, ALL, [
        sub_of::<certs::CertificateSigningRequest>("approval"),
        status::<certs::CertificateSigningRequest>(),
    ], "certificatesigningrequests"),
    r!(certs::ClusterTrustBundle, "clustertrustbundle", false, [], NONE, ALL, [], "clustertrustbundles"),
    r!(certs::PodCertificateRequest, "podcertificaterequest", true, [], NONE, ALL,
       [status::<certs::PodCertificateRequest>()], "podcertificaterequests"),

    // networking.k8s.io/v1
    r!(networking::IngressClass, "ingressclass", false, [], NONE, ALL, [], "ingressclasses"),
    r!(networking::Ingress, "ingress", true, ["ing"], NONE, ALL, [status::<networking::Ingress>()], "ingress"),
    r!(networking::IPAddress, "ipaddress", false, ["ip"], NONE, ALL, [], "ipaddresses"),
    r!(networking::NetworkPolicy, "networkpolicy", true, ["netpol"], NONE, ALL, [], "networkpolicies"),
    r!(networking::ServiceCIDR, "servicecidr", false, [], NONE, ALL,
       [status::<networking::ServiceCIDR>()], "servicecidrs"),

    // policy/v1
    r!(policy::PodDisruptionBudget, "poddisruptionbudget", true, ["pdb"], NONE, ALL,
       [status::<policy::PodDisruptionBudget>()], "poddisruptionbudgets"),

    // rbac.authorization.k8s.io/v1
    r!(rbac::ClusterRoleBinding, "clusterrolebinding", false, [], NONE, ALL, [], "clusterrolebindings"),
    r!(rbac::ClusterRole, "clusterrole", false, [], NONE, ALL, [], "clusterroles"),
    r!(rbac::RoleBinding, "rolebinding", true, [], NONE, ALL, [], "rolebindings"),
    r!(rbac::Role, "role", true, [], NONE, ALL, [], "roles"),

    // storage.k8s.io/v1
    r!(storage::CSIDriver, "csidriver", false, [], NONE, ALL, [], "csidrivers"),
    r!(storage::CSINode, "csinode", false, [], NONE, ALL, [], "csinodes"),
    r!(storage::CSIStorageCapacity, "csistoragecapacity", true, [], NONE, ALL, [], "csistoragecapacities"),
    r!(storage::StorageClass, "storageclass", false, ["sc"], NONE, ALL, [], "storageclasses"),
    r!(storage::VolumeAttachment, "volumeattachment", false, [], NONE, ALL,
       [status::<storage::VolumeAttachment>()], "volumeattachments"),
    r!(storage::VolumeAttributesClass, "volumeattributesclass", false, ["vac"], NONE, ALL, [], "volumeattributesclasses"),

    // admissionregistration.k8s.io/v1
    r!(admission::MutatingAdmissionPolicy, "mutatingadmissionpolicy", false, [], API_EXTENSIONS, ALL, [],
       "mutatingadmissionpolicies"),
    r!(admission::MutatingAdmissionPolicyBinding, "mutatingadmissionpolicybinding", false, [], API_EXTENSIONS,
       ALL, [], "mutatingadmissionpolicybindings"),
    r!(admission::MutatingWebhookConfiguration, "mutatingwebhookconfiguration", false, [], API_EXTENSIONS,
       ALL, [], "mutatingwebhookconfigurations"),
    r!(admission::ValidatingAdmissionPolicy, "validatingadmissionpolicy", false, [], API_EXTENSIONS, ALL,
       [status::<admission::ValidatingAdmissionPolicy>()], "validatingadmissionpolicies"),
    r!(admission::ValidatingAdmissionPolicyBinding, "validatingadmissionpolicybinding", false, [],
       API_EXTENSIONS, ALL, [], "validatingadmissionpolicybindings"),
    r!(admission::ValidatingWebhookConfiguration, "validatingwebhookconfiguration", false, [], API_EXTENSIONS,
       ALL, [], "validatingwebhookconfigurations"),

    // apiextensions.k8s.io/v1
    r!(apiext::CustomResourceDefinition, "customresourcedefinition", false, ["crd", "crds"], API_EXTENSIONS,
       ALL, [status::<apiext::CustomResourceDefinition>()], "apiextensions.k8s.io/customresourcedefinitions"),

    // scheduling.k8s.io/v1
    r!(scheduling::PriorityClass, "priorityclass", false, ["pc"], NONE, ALL, [], "priorityclasses"),

    // coordination.k8s.io/v1
    r!(coordination::Lease, "lease", true, [], NONE, ALL, [], "leases"),

    // node.k8s.io/v1
    r!(node::RuntimeClass, "runtimeclass", false, [], NONE, ALL, [], "runtimeclasses"),

    // discovery.k8s.io/v1
    r!(discovery::EndpointSlice, "endpointslice", true, [], NONE, ALL, [], "endpointslices"),

    // resource.k8s.io/v1
    r!(dra::DeviceClass, "deviceclass", false, [], NONE, ALL, [], "deviceclasses"),
    r!(dra::DeviceTaintRule, "devicetaintrule", false, [], NONE, ALL,
       [status::<dra::DeviceTaintRule>()], "devicetaintrules"),
    r!(dra::ResourceClaim, "resourceclaim", true, [], NONE, ALL, [status::<dra::ResourceClaim>()], "resourceclaims"),
    r!(dra::ResourceClaimTemplate, "resourceclaimtemplate", true, [], NONE, ALL, [], "resourceclaimtemplates"),
    r!(dra::ResourceSlice, "resourceslice", false, [], NONE, ALL, [], "resourceslices"),

    // flowcontrol.apiserver.k8s.io/v1
    r!(flowcontrol::FlowSchema, "flowschema", false, [], NONE, ALL, [status::<flowcontrol::FlowSchema>()], "flowschemas"),
    r!(flowcontrol::PriorityLevelConfiguration, "prioritylevelconfiguration", false, [], NONE, ALL,
       [status::<flowcontrol::PriorityLevelConfiguration>()], "prioritylevelconfigurations"),

    // storagemigration.k8s.io/v1
    r!(migration::StorageVersionMigration, "storageversionmigration", false, [], NONE, ALL,
       [status::<migration::StorageVersionMigration>()], "storageversionmigrations"),
];

/// A subresource named `name` that reads and writes `T` itself with get/patch/update
/// (e.g. `certificatesigningrequests/approval`).
const fn sub_of<T: Resource>(name: &'static str) -> Subresource {
    Subresource {
        name,
        kind: T::KIND,
        group: T::GROUP,
        version: T::VERSION,
        verbs: GET_PATCH_UPDATE,
    }
}
