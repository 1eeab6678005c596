//! Pure Kubernetes API machinery: field errors, object metadata rules, selectors, patches.
//!
//! **Architecture Invariant:** no IO, no async, no knowledge of HTTP or of the store. Every
//! function here is tested with data tables.

pub mod apply;
pub mod duplicate_fields;
pub mod duration;
pub mod field;
pub mod patch;
pub mod protobuf;
pub mod quantity;
pub mod selector;
pub mod validation;
