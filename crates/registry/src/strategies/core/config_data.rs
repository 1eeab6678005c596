//! Key and size rules ConfigMaps and Secrets share, and the `immutable` flag.

use apimachinery::field::{ErrorType, FieldError, FieldErrors, Path};
use apimachinery::validation::is_config_map_key;
use serde_json::Value;

use crate::strategies::json::{bool_at, get, object_at};

/// Upstream's `MaxSecretSize`, also the ConfigMap limit.
pub(crate) const MAX_SIZE: usize = 1024 * 1024;

/// How a data map stores its values: as text, or base64 of bytes.
#[derive(Clone, Copy)]
pub(crate) enum Encoding {
    Text,
    Base64,
}

/// Checks the keys of each map (`(key, encoding)`), duplicates between them, and the total
/// size; `other_of` names the map a duplicate key is reported against.
pub(crate) fn validate_data(obj: &Value, maps: &[(&str, Encoding)]) -> FieldErrors {
    let mut errs = Vec::new();
    let mut total = 0;
    for (i, (key, encoding)) in maps.iter().enumerate() {
        let Some(map) = object_at(obj, &[key]) else {
            continue;
        };
        for (k, v) in map {
            let p = Path::new(key).key(k);
            for msg in is_config_map_key(k) {
                errs.push(FieldError::invalid(&p, k.as_str(), msg));
            }
            for (j, (other, _)) in maps.iter().enumerate() {
                if i != j && object_at(obj, &[other]).is_some_and(|m| m.contains_key(k)) {
                    errs.push(FieldError::invalid(
                        &p,
                        k.as_str(),
                        format!("duplicate of key present in {other}"),
                    ));
                }
            }
            let s = v.as_str().unwrap_or("");
            total += match encoding {
                Encoding::Text => s.len(),
                Encoding::Base64 => decoded_len(s),
            };
        }
    }
    if total > MAX_SIZE {
        // Upstream reports this against the whole object (an empty path).
        errs.push(FieldError {
            kind: ErrorType::TooLong,
            field: String::new(),
            bad_value: None,
            detail: format!("may not be more than {MAX_SIZE} bytes"),
        });
    }
    errs
}

fn decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take_while(|&c| c == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding)
}

/// Once `immutable: true`, the flag and the data maps stay as they are.
pub(crate) fn validate_immutable(new: &Value, old: &Value, maps: &[&str]) -> FieldErrors {
    let mut errs = Vec::new();
    if bool_at(old, &["immutable"]) != Some(true) {
        return errs;
    }
    if bool_at(new, &["immutable"]) != Some(true) {
        errs.push(FieldError::forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for key in maps {
        let empty =
            |v: Option<&Value>| v.is_none_or(|v| v.as_object().is_some_and(|m| m.is_empty()));
        let (n, o) = (get(new, &[key]), get(old, &[key]));
        if n != o && !(empty(n) && empty(o)) {
            errs.push(FieldError::forbidden(
                *key,
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs
}
