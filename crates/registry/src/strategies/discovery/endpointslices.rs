//! EndpointSlices.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use crate::strategies::common::immutable;
use crate::strategies::json::{array_at, each_mut, set_default, str_at};
use crate::Strategy;

pub struct EndpointSliceStrategy;

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const MAX_ADDRESSES: usize = 100;

impl Strategy for EndpointSliceStrategy {
    fn default(&self, obj: &mut Value) {
        each_mut(obj, "ports", |p| set_default(p, "protocol", json!("TCP")));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let ty = str_at(obj, &["addressType"]);
        if !ADDRESS_TYPES.contains(&ty) {
            errs.push(FieldError::not_supported("addressType", ty, ADDRESS_TYPES));
        }
        for (i, ep) in array_at(obj, &["endpoints"]).iter().enumerate() {
            let p = Path::new("endpoints").index(i).child("addresses");
            let n = array_at(ep, &["addresses"]).len();
            if n == 0 {
                errs.push(FieldError::required(p, "must contain at least 1 address"));
            } else if n > MAX_ADDRESSES {
                errs.push(FieldError::too_many(p, n, MAX_ADDRESSES));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(immutable(
            new,
            old,
            &["addressType"],
            &Path::new("addressType"),
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;

    #[test]
    fn rules() {
        let mut es = json!({"addressType": "IPv4", "endpoints": [{"addresses": []}], "ports": [{"port": 80}]});
        EndpointSliceStrategy.default(&mut es);
        assert_eq!(es["ports"][0]["protocol"], json!("TCP"));
        assert_eq!(
            messages(&EndpointSliceStrategy.validate(&es)),
            "endpoints[0].addresses: Required value: must contain at least 1 address"
        );
    }
}
