//! Custom resources: the strategy of one served version of a CustomResourceDefinition.
//! Unlike built-in kinds, the rules come from the CRD at run time (structural schema,
//! subresources, printer columns, scale paths), so the strategy is a value the apiserver
//! builds per CRD version.

use apimachinery::field::FieldErrors;
use apimachinery::patch::{ListStrategy, ListType, PatchMeta};
use serde_json::Value;

use crate::crd_schema::{RuleEvaluator, Structural};
use crate::crd_serving::{PrinterColumn, ScalePaths, ServedVersion};
use crate::{ResourceInfo, Strategy};

pub struct CustomResourceStrategy {
    status: bool,
    scale: Option<ScalePaths>,
    columns: Vec<PrinterColumn>,
    /// `None`: the CRD has no schema (only possible for stored leftovers) — anything goes.
    schema: Option<Structural>,
    /// `group/version` of the CRD's storage version.
    storage_api_version: String,
}

impl CustomResourceStrategy {
    pub fn new(served: &ServedVersion) -> CustomResourceStrategy {
        CustomResourceStrategy {
            status: served.status,
            scale: served.scale.clone(),
            columns: served.columns.clone(),
            schema: served.schema.as_ref().map(Structural::from_openapi),
            storage_api_version: format!("{}/{}", served.group, served.storage_version),
        }
    }

    fn validate_against(&self, obj: &Value, old: Option<&Value>) -> FieldErrors {
        match &self.schema {
            Some(s) => s.validate(obj, old, &CelRules),
            None => Vec::new(),
        }
    }
}

impl Strategy for CustomResourceStrategy {
    /// `metadata` has a fixed type (ObjectMeta); the rest is pruned to what the schema
    /// declares (the caller reports what went for `fieldValidation`).
    fn decode(&self, _info: &ResourceInfo, mut obj: Value) -> Result<Value, String> {
        if let Some(meta) = obj.get_mut("metadata") {
            let typed = crate::catalog::decode::<
                k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            >(meta.take())
            .map_err(|e| format!("metadata: {e}"))?;
            *meta = typed;
        }
        if let Some(schema) = &self.schema {
            schema.prune(&mut obj);
        }
        Ok(obj)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(schema) = &self.schema {
            schema.apply_defaults(obj);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        self.validate_against(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        self.validate_against(new, Some(old))
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> FieldErrors {
        self.validate_against(new, Some(old))
    }

    fn has_status(&self) -> bool {
        self.status
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn scale_paths(&self) -> Option<ScalePaths> {
        self.scale.clone()
    }

    fn printer_columns(&self) -> Option<&[PrinterColumn]> {
        Some(&self.columns)
    }

    fn storage_api_version(&self) -> Option<&str> {
        (!self.storage_api_version.ends_with('/')).then_some(self.storage_api_version.as_str())
    }

    /// From the schema's `x-kubernetes-list-type` / `x-kubernetes-map-type`.
    fn apply_meta(&self) -> Option<Box<dyn PatchMeta + '_>> {
        Some(Box::new(SchemaMeta {
            node: self.schema.as_ref(),
            is_root: true,
        }))
    }
}

/// `x-kubernetes-validations` rules evaluated with the `cel` crate, with upstream's texts
/// for rules that do not compile or fail to evaluate.
struct CelRules;

impl RuleEvaluator for CelRules {
    fn evaluate(
        &self,
        rule: &str,
        self_value: &Value,
        old_self: Option<&Value>,
    ) -> Result<bool, String> {
        let compiled = cel::cached(rule).map_err(|e| format!("rule compile error: {e}"))?;
        compiled
            .eval_bool(self_value, old_self)
            .map_err(|e| format!("{e} evaluating rule: {rule}"))
    }

    fn message(
        &self,
        expr: &str,
        self_value: &Value,
        old_self: Option<&Value>,
    ) -> Result<String, String> {
        let compiled =
            cel::cached(expr).map_err(|e| format!("messageExpression compile error: {e}"))?;
        compiled
            .eval_string(self_value, old_self)
            .map_err(|e| format!("{e} evaluating messageExpression: {expr}"))
    }
}

/// A position in a custom resource's schema, as server-side apply asks about it.
#[derive(Clone, Copy)]
pub struct SchemaMeta<'a> {
    node: Option<&'a Structural>,
    is_root: bool,
}

impl SchemaMeta<'_> {
    /// The schema of field `name`; for a list, of its items.
    fn at(&self, name: &str) -> Option<&Structural> {
        self.node?.field(name)
    }
}

/// Where ObjectMeta's own semantics live (finalizers a set, ownerReferences keyed by uid).
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl PatchMeta for SchemaMeta<'_> {
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>> {
        // The root's `metadata` is ObjectMeta whatever the schema says about it.
        if name == "metadata" && self.is_root {
            return Some(Box::new(
                crate::patch_meta::SchemaPatchMeta::for_definition(OBJECT_META),
            ));
        }
        let node = self.at(name)?;
        let node = match node.items.as_deref() {
            Some(items) if node.type_name() == "array" => items,
            _ => node,
        };
        Some(Box::new(SchemaMeta {
            node: Some(node),
            is_root: false,
        }))
    }

    /// Custom resources take no strategic merge patch (the apiserver refuses it).
    fn list_strategy(&self, _name: &str) -> ListStrategy {
        ListStrategy::Replace
    }

    fn list_type(&self, name: &str) -> ListType {
        match self.at(name).and_then(Structural::list_type) {
            Some(("map", keys)) if !keys.is_empty() => ListType::Map(keys.to_vec()),
            Some(("set", _)) => ListType::Set,
            _ => ListType::Atomic,
        }
    }

    fn list_key_default(&self, list: &str, key: &str) -> Option<Value> {
        self.at(list)?
            .items
            .as_deref()?
            .property(key)?
            .default
            .clone()
    }

    fn atomic_object(&self, name: &str) -> bool {
        self.at(name)
            .is_some_and(|n| n.map_type.as_deref() == Some("atomic"))
    }
}
