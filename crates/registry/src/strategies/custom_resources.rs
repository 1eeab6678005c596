//! Custom resources: the strategy of one served version of a CustomResourceDefinition.
//! Unlike built-in kinds, the rules come from the CRD at run time (subresources, printer
//! columns, scale paths), so the strategy is a value built by the apiserver per CRD version.

use serde_json::Value;

use crate::crd_serving::{PrinterColumn, ScalePaths, ServedVersion};
use crate::{ResourceInfo, Strategy};

pub struct CustomResourceStrategy {
    status: bool,
    scale: Option<ScalePaths>,
    columns: Vec<PrinterColumn>,
}

impl CustomResourceStrategy {
    pub fn new(served: &ServedVersion) -> CustomResourceStrategy {
        CustomResourceStrategy {
            status: served.status,
            scale: served.scale.clone(),
            columns: served.columns.clone(),
        }
    }
}

impl Strategy for CustomResourceStrategy {
    /// Only `metadata` has a fixed type (ObjectMeta); the rest is whatever the schema says.
    fn decode(&self, _info: &ResourceInfo, mut obj: Value) -> Result<Value, String> {
        if let Some(meta) = obj.get_mut("metadata") {
            let typed = crate::catalog::decode::<
                k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            >(meta.take())
            .map_err(|e| format!("metadata: {e}"))?;
            *meta = typed;
        }
        Ok(obj)
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
}
