//! The `autoscaling` group.

pub mod horizontalpodautoscalers;
