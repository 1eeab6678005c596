//! Built-in resources: what exists (the catalog), how each kind is defaulted, validated and
//! prepared for writes (one strategy module per resource), and how it prints as a Table.
//!
//! **Architecture Invariant:** pure code. No IO, no async, no HTTP; the apiserver feeds
//! objects in as `serde_json::Value` and gets objects, field errors or table rows out.

pub mod catalog;
pub mod convert;
pub mod crd_schema;
pub mod crd_serving;
pub mod generic;
pub mod meta;
pub mod openapi;
pub mod openapi_pb;
pub mod patch_meta;
pub mod printers;
pub mod strategies;

use apimachinery::field::FieldErrors;
use serde_json::Value;

/// A subresource served under `.../{name}/{sub}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    /// Kind of the object the subresource reads and writes (e.g. `Scale` for `scale`).
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub verbs: &'static [&'static str],
}

/// One resource at one group/version, as discovery reports it.
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Where objects live: `/registry/{storage_prefix}/[{namespace}/]{name}`, e.g. `pods`,
    /// `deployments.apps` is stored as `deployments`, core `events` and `events.k8s.io`
    /// share `events`. Two versions of one resource share one prefix.
    pub storage_prefix: &'static str,
    /// Round-trips an object through its typed k8s-openapi struct: rejects wrong types with a
    /// message naming the position, and drops fields the type does not have.
    pub decode: fn(Value) -> Result<Value, serde_json::Error>,
    /// OpenAPI schema of the kind (schemars, from k8s-openapi), definitions into the generator.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }
}

/// Upstream's REST strategy, over JSON. Every method has the behaviour of a kind with no
/// special rules, so a strategy module overrides only what its kind needs.
///
/// Generic rules every kind shares (metadata validation, status reset, generation bump,
/// uid/creationTimestamp) live in [`generic`] and run around these hooks.
pub trait Strategy: Sync {
    /// Turns a request body into the kind's stored shape: the typed round trip of
    /// `info.decode` for built-in kinds (type errors are refused, unknown fields dropped; the
    /// caller compares input and output to find them for `fieldValidation`).
    fn decode(&self, info: &ResourceInfo, obj: Value) -> Result<Value, String> {
        (info.decode)(obj).map_err(|e| e.to_string())
    }

    /// Fills in defaults, as upstream's per-version defaulting functions do. Runs on create and
    /// on update (after patches are applied), before validation.
    fn default(&self, _obj: &mut Value) {}

    /// Called once on create after defaulting; e.g. a pod gets `status.phase: Pending`.
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Called on update (main resource) after the generic rules; may look at `old`.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Kind-specific validation of a new object (metadata is validated generically).
    fn validate(&self, _obj: &Value) -> FieldErrors {
        Vec::new()
    }

    /// Kind-specific validation of an update: immutable fields etc. Default: `validate(new)`.
    fn validate_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        self.validate(new)
    }

    /// Whether the kind has a `status` that the main endpoint must not change (and that is
    /// reset on create).
    fn has_status(&self) -> bool {
        false
    }

    /// Whether a change of `spec` bumps `metadata.generation` (true for kinds with a spec).
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Value of a kind-specific field selector label (e.g. pods' `spec.nodeName`), or `None`
    /// if the field is not supported for this kind. `metadata.name`/`metadata.namespace` are
    /// handled generically.
    fn field_label(&self, _obj: &Value, _field: &str) -> Option<String> {
        None
    }

    /// Validation of a write through the `status` subresource (the main resource's rules
    /// never see status). Built-in kinds check status only where upstream does.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> FieldErrors {
        Vec::new()
    }

    /// Where the `scale` subresource reads and writes; built-in workloads share one layout.
    fn scale_paths(&self) -> Option<crd_serving::ScalePaths> {
        Some(crd_serving::ScalePaths::workload())
    }

    /// List and map semantics for server-side apply when they do not come from the built-in
    /// schemas (`patch_meta`): custom resources read them from their structural schema.
    fn apply_meta(&self) -> Option<Box<dyn apimachinery::patch::PatchMeta + '_>> {
        None
    }

    /// The `apiVersion` objects are stored in when it is not the request's: custom
    /// resources are stored in their CRD's storage version (built-in kinds keep theirs).
    fn storage_api_version(&self) -> Option<&str> {
        None
    }

    /// Printer columns decided at run time (custom resources); built-in kinds print through
    /// [`printers`].
    fn printer_columns(&self) -> Option<&[crd_serving::PrinterColumn]> {
        None
    }
}

/// The strategy of kinds with no rules of their own.
pub struct DefaultStrategy;
impl Strategy for DefaultStrategy {}
