//! Server-side Table printing: one module per resource (or small family of resources) under
//! `printers/`, mirroring upstream's `pkg/printers/internalversion` column for column.
//!
//! The apiserver always prints as upstream does with `Wide: true`: every row carries a cell
//! for every column, priority-1 columns included; kubectl hides those unless `-o wide`.
//!
//! Resources that upstream leaves to the default convertor (NAME / CREATED AT) have no
//! printer here: roles, clusterroles, limitranges, customresourcedefinitions,
//! csistoragecapacities (its store registers the default convertor despite having a print
//! handler).

mod admission;
mod apiservices;
mod autoscaling;
mod batch;
mod certificates;
mod cluster;
mod config;
mod coordination;
mod docs;
mod events;
mod flowcontrol;
mod network;
mod pods;
mod rbac;
mod resource;
mod scheduling;
mod selectors;
mod storage;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use selectors::{format_label_selector, format_labels, label_selector_string};

/// One column of a `meta.k8s.io/v1` Table (`columnDefinitions[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: "string", "integer", "number", "boolean", "date".
    pub type_: &'static str,
    /// OpenAPI format, "name" for the NAME column, else usually "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// A priority-0 column without a format.
    pub const fn new(name: &'static str, type_: &'static str, description: &'static str) -> Self {
        Column {
            name,
            type_,
            format: "",
            description,
            priority: 0,
        }
    }

    /// The same column, shown only with `-o wide`.
    pub const fn wide(self) -> Self {
        Column {
            priority: 1,
            ..self
        }
    }

    /// The same column with format "name".
    pub const fn named(self) -> Self {
        Column {
            format: "name",
            ..self
        }
    }
}

/// The NAME column every printer but events' starts with.
pub const NAME: Column = Column::new("Name", "string", docs::META_NAME).named();
/// The AGE column (a human duration string, not a date: upstream prints it itself).
pub const AGE: Column = Column::new("Age", "string", docs::META_CREATION_TIMESTAMP);
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";
/// Wide CONTAINERS column of the workload printers.
pub const CONTAINERS: Column = Column::new("Containers", "string", CONTAINERS_DESC).wide();
/// Wide IMAGES column of the workload printers.
pub const IMAGES: Column = Column::new("Images", "string", IMAGES_DESC).wide();

/// How one resource prints: its columns and a function from object (and now, as Unix
/// seconds, for ages) to cells, one per column, in order.
pub struct Printer {
    pub columns: &'static [Column],
    pub row: fn(obj: &Value, now: i64) -> Vec<Value>,
}

/// The printer of a resource (`group` "" for core), or `None` for the default
/// NAME/CREATED AT... columns the apiserver adds itself.
pub fn for_resource(group: &str, plural: &str) -> Option<&'static Printer> {
    let printer = match (group, plural) {
        ("", "pods") => &pods::PODS,
        ("", "podtemplates") => &workloads::POD_TEMPLATES,
        ("", "replicationcontrollers") => &workloads::REPLICATION_CONTROLLERS,
        ("", "services") => &network::SERVICES,
        ("", "endpoints") => &network::ENDPOINTS,
        ("", "nodes") => &cluster::NODES,
        ("", "namespaces") => &cluster::NAMESPACES,
        ("", "componentstatuses") => &cluster::COMPONENT_STATUSES,
        ("", "events") => &events::CORE_EVENTS,
        ("events.k8s.io", "events") => &events::EVENTS_V1,
        ("", "secrets") => &config::SECRETS,
        ("", "configmaps") => &config::CONFIG_MAPS,
        ("", "serviceaccounts") => &config::SERVICE_ACCOUNTS,
        ("", "resourcequotas") => &config::RESOURCE_QUOTAS,
        ("", "persistentvolumes") => &storage::PERSISTENT_VOLUMES,
        ("", "persistentvolumeclaims") => &storage::PERSISTENT_VOLUME_CLAIMS,
        ("apps", "replicasets") => &workloads::REPLICA_SETS,
        ("apps", "deployments") => &workloads::DEPLOYMENTS,
        ("apps", "statefulsets") => &workloads::STATEFUL_SETS,
        ("apps", "daemonsets") => &workloads::DAEMON_SETS,
        ("apps", "controllerrevisions") => &workloads::CONTROLLER_REVISIONS,
        ("policy", "poddisruptionbudgets") => &workloads::POD_DISRUPTION_BUDGETS,
        ("batch", "jobs") => &batch::JOBS,
        ("batch", "cronjobs") => &batch::CRON_JOBS,
        ("autoscaling", "horizontalpodautoscalers") => &autoscaling::HORIZONTAL_POD_AUTOSCALERS,
        ("networking.k8s.io", "ingresses") => &network::INGRESSES,
        ("networking.k8s.io", "ingressclasses") => &network::INGRESS_CLASSES,
        ("networking.k8s.io", "networkpolicies") => &network::NETWORK_POLICIES,
        ("networking.k8s.io", "servicecidrs") => &network::SERVICE_CIDRS,
        ("networking.k8s.io", "ipaddresses") => &network::IP_ADDRESSES,
        ("discovery.k8s.io", "endpointslices") => &network::ENDPOINT_SLICES,
        ("rbac.authorization.k8s.io", "rolebindings") => &rbac::ROLE_BINDINGS,
        ("rbac.authorization.k8s.io", "clusterrolebindings") => &rbac::CLUSTER_ROLE_BINDINGS,
        ("certificates.k8s.io", "certificatesigningrequests") => {
            &certificates::CERTIFICATE_SIGNING_REQUESTS
        }
        ("coordination.k8s.io", "leases") => &coordination::LEASES,
        ("coordination.k8s.io", "leasecandidates") => &coordination::LEASE_CANDIDATES,
        ("storage.k8s.io", "storageclasses") => &storage::STORAGE_CLASSES,
        ("storage.k8s.io", "volumeattributesclasses") => &storage::VOLUME_ATTRIBUTES_CLASSES,
        ("storage.k8s.io", "volumeattachments") => &storage::VOLUME_ATTACHMENTS,
        ("storage.k8s.io", "csidrivers") => &storage::CSI_DRIVERS,
        ("storage.k8s.io", "csinodes") => &storage::CSI_NODES,
        ("scheduling.k8s.io", "priorityclasses") => &scheduling::PRIORITY_CLASSES,
        ("node.k8s.io", "runtimeclasses") => &scheduling::RUNTIME_CLASSES,
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations") => {
            &admission::MUTATING_WEBHOOK_CONFIGURATIONS
        }
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations") => {
            &admission::VALIDATING_WEBHOOK_CONFIGURATIONS
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            &admission::VALIDATING_ADMISSION_POLICIES
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            &admission::VALIDATING_ADMISSION_POLICY_BINDINGS
        }
        ("admissionregistration.k8s.io", "mutatingadmissionpolicies") => {
            &admission::MUTATING_ADMISSION_POLICIES
        }
        ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings") => {
            &admission::MUTATING_ADMISSION_POLICY_BINDINGS
        }
        ("flowcontrol.apiserver.k8s.io", "flowschemas") => &flowcontrol::FLOW_SCHEMAS,
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations") => {
            &flowcontrol::PRIORITY_LEVEL_CONFIGURATIONS
        }
        ("internal.apiserver.k8s.io", "storageversions") => &flowcontrol::STORAGE_VERSIONS,
        ("apiregistration.k8s.io", "apiservices") => &apiservices::API_SERVICES,
        ("resource.k8s.io", "deviceclasses") => &resource::DEVICE_CLASSES,
        ("resource.k8s.io", "resourceclaims") => &resource::RESOURCE_CLAIMS,
        ("resource.k8s.io", "resourceclaimtemplates") => &resource::RESOURCE_CLAIM_TEMPLATES,
        ("resource.k8s.io", "resourceslices") => &resource::RESOURCE_SLICES,
        _ => return None,
    };
    Some(printer)
}

/// Every (group, plural) with a printer, for callers that enumerate (and for tests).
pub const PRINTED_RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "podtemplates"),
    ("", "replicationcontrollers"),
    ("", "services"),
    ("", "endpoints"),
    ("", "nodes"),
    ("", "namespaces"),
    ("", "componentstatuses"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("", "secrets"),
    ("", "configmaps"),
    ("", "serviceaccounts"),
    ("", "resourcequotas"),
    ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"),
    ("apps", "replicasets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "controllerrevisions"),
    ("policy", "poddisruptionbudgets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "servicecidrs"),
    ("networking.k8s.io", "ipaddresses"),
    ("discovery.k8s.io", "endpointslices"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("coordination.k8s.io", "leases"),
    ("coordination.k8s.io", "leasecandidates"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "volumeattributesclasses"),
    ("storage.k8s.io", "volumeattachments"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("node.k8s.io", "runtimeclasses"),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
    ),
    ("internal.apiserver.k8s.io", "storageversions"),
    ("apiregistration.k8s.io", "apiservices"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "resourceclaims"),
    ("resource.k8s.io", "resourceclaimtemplates"),
    ("resource.k8s.io", "resourceslices"),
];

// ---------------------------------------------------------------------------------------
// Durations and timestamps

/// Upstream's `duration.HumanDuration`: about two significant figures, e.g. "90s", "3m20s",
/// "15m", "2h5m", "20h", "3d4h", "40d", "2y30d". Slightly negative (clock skew) is "0s",
/// more negative "<invalid>".
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".to_string();
    }
    if secs < 0 {
        return "0s".to_string();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", secs % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_rest(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_rest(major: i64, major_unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{rest}{rest_unit}")
    }
}

/// Parses an RFC 3339 timestamp (Time or MicroTime) to Unix seconds (fraction dropped).
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    OffsetDateTime::parse(ts, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Upstream's `translateTimestampSince`: the human duration from `ts` to `now`, or
/// `<unknown>` when the timestamp is missing (or unreadable).
pub fn age(ts: Option<&str>, now: i64) -> String {
    match ts.and_then(parse_timestamp) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell of an object: time since `metadata.creationTimestamp`.
pub fn creation_age(obj: &Value, now: i64) -> Value {
    Value::String(age(opt_str(obj, &["metadata", "creationTimestamp"]), now))
}

// ---------------------------------------------------------------------------------------
// JSON access that never panics: missing or mistyped fields read as Go's zero values.

pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |cur, key| cur.get(*key))
        .filter(|v| !v.is_null())
}

/// A string field, `None` when absent or not a string.
pub(crate) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// A string field, "" when absent.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_str(v, path).unwrap_or("")
}

/// An integer field, 0 when absent.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

pub(crate) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

/// A boolean field, false when absent.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

pub(crate) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// An array field, empty when absent.
pub(crate) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An object field, `None` when absent.
pub(crate) fn map_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// Number of entries of a map or list field.
pub(crate) fn len_at(v: &Value, path: &[&str]) -> i64 {
    match get(v, path) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// The NAME cell.
pub(crate) fn name_cell(obj: &Value) -> Value {
    Value::String(str_at(obj, &["metadata", "name"]).to_string())
}

pub(crate) fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

pub(crate) fn int(n: i64) -> Value {
    Value::from(n)
}

/// A resource.Quantity as upstream's `String()` of a canonical quantity; stored quantities
/// are already canonical strings. `zero` is what an absent quantity prints as.
pub(crate) fn quantity(v: Option<&Value>, zero: &str) -> String {
    match v {
        Some(Value::String(q)) => q.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => zero.to_string(),
    }
}

/// An IntOrString as upstream's `String()`.
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Upstream's `printBoolPtr`: "True", "False" or "<unset>".
pub(crate) fn bool_ptr(v: Option<bool>) -> String {
    match v {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => "<unset>".to_string(),
    }
}

/// The first condition of `type_` in the list at `path`, as upstream's condition lookups.
pub(crate) fn condition<'a>(obj: &'a Value, path: &[&str], type_: &str) -> Option<&'a Value> {
    arr_at(obj, path)
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
}

/// Upstream's `layoutContainerCells`: container names and images, comma-joined.
pub(crate) fn container_cells(pod_spec: Option<&Value>) -> (Value, Value) {
    let containers = pod_spec
        .map(|spec| arr_at(spec, &["containers"]))
        .unwrap_or(&[]);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (s(names.join(",")), s(images.join(",")))
}

/// Upstream's `listWithMoreString`: up to `max` items, then " + N more...", `<unset>` when
/// there are none.
pub(crate) fn list_with_more(items: &[String], max: usize) -> String {
    let shown = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else if shown.is_empty() {
        "<unset>".to_string()
    } else {
        shown
    }
}
