//! The `events.k8s.io` group.

// The layout is `<group>/<plural>.rs`, and here group and plural share a name.
#[allow(clippy::module_inception)]
pub mod events;
