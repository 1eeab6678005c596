//! A pod as the scheduling queue tracks it between attempts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::pod_info::PodInfo;

#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    pub pod: Arc<PodInfo>,
    /// When the pod last entered the queue (orders equal priorities, first come first).
    pub timestamp: Instant,
    /// When the pod was first seen, for latency metrics.
    pub initial_attempt: Instant,
    /// Scheduling attempts so far; backoff doubles with each.
    pub attempts: u32,
    /// Plugins that rejected the pod in its last attempt: only events they registered for
    /// move it back to the active queue. Empty after an error: any event moves it.
    pub unschedulable_plugins: HashSet<&'static str>,
    /// The pod has scheduling gates and stays out of the active queue until they go.
    pub gated: bool,
}

impl QueuedPodInfo {
    pub fn new(pod: Arc<PodInfo>, now: Instant) -> QueuedPodInfo {
        let gated = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_some_and(|g| !g.is_empty());
        QueuedPodInfo {
            pod,
            timestamp: now,
            initial_attempt: now,
            attempts: 0,
            unschedulable_plugins: HashSet::new(),
            gated,
        }
    }
}
