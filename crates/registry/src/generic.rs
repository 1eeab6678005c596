//! Generic write rules (to be written).
