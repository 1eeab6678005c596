//! Upstream's name, label and object-metadata rules, with upstream's messages (clients and
//! scripts match on them).

mod names;
mod object_meta;

pub use names::*;
pub use object_meta::*;
