//! The `policy` group.

pub mod poddisruptionbudgets;
