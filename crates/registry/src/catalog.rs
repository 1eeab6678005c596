//! The resource catalog (to be written).
