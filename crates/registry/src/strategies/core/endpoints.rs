//! Endpoints (core/v1).

use serde_json::{json, Value};

use crate::strategies::json::{each_mut, set_default};
use crate::Strategy;

pub struct EndpointsStrategy;

impl Strategy for EndpointsStrategy {
    fn default(&self, obj: &mut Value) {
        each_mut(obj, "subsets", |s| {
            each_mut(s, "ports", |p| set_default(p, "protocol", json!("TCP")))
        });
    }
}
