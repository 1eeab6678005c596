//! Label and field selectors as the apiserver reads them from `?labelSelector=` and
//! `?fieldSelector=`, and label selectors from `metav1.LabelSelector` objects.
//!
//! Parse errors carry upstream's text; the apiserver answers them with 400 BadRequest.

mod field;
mod label;
mod label_parse;
mod names;

#[cfg(test)]
mod tests;

pub use field::{parse_field_selector, FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};
pub use label_parse::parse_label_selector;

use thiserror::Error;

/// A selector that could not be parsed or is not valid; `Display` is upstream's message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    #[error("{0}")]
    Label(String),
    #[error("{0}")]
    Field(String),
}
