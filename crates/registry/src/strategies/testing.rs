//! Helpers for the strategy tables.

use apimachinery::field::{FieldError, FieldErrors};

/// Error messages as a client sees them, one a line.
pub(crate) fn messages(errs: &FieldErrors) -> String {
    errs.iter()
        .map(FieldError::message)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pretty JSON for expect-test snapshots.
pub(crate) fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
