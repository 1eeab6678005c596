//! The extension points, as upstream's scheduling framework names them. A plugin implements
//! `Plugin` plus the traits of the points it uses, and returns itself from the matching
//! `as_*` accessor; the framework calls each point's plugins in registry order.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::cycle_state::CycleState;
use super::events::ClusterEvent;
use super::node_info::NodeInfo;
use super::pod_info::PodInfo;
use super::queue_info::QueuedPodInfo;
use super::runtime::Framework;
use super::snapshot::Snapshot;
use super::status::Status;

/// Scores are 0..=MAX_NODE_SCORE after normalization (upstream's MaxNodeScore).
pub const MAX_NODE_SCORE: i64 = 100;

pub trait Plugin: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// The cluster events that may make a pod this plugin rejected schedulable; the queue
    /// moves such a pod back only on these. Default: every event.
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::ANY]
    }

    fn as_queue_sort(&self) -> Option<&dyn QueueSortPlugin> {
        None
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        None
    }
    fn as_permit(&self) -> Option<&dyn PermitPlugin> {
        None
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        None
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        None
    }
    fn as_post_bind(&self) -> Option<&dyn PostBindPlugin> {
        None
    }
}

/// Orders the active queue: `less(a, b)` puts `a` first.
pub trait QueueSortPlugin {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// Node names a PreFilter already knows are the only candidates (e.g. `spec.nodeName`);
/// `None` means all nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    pub node_names: Option<std::collections::BTreeSet<String>>,
}

pub trait PreFilterPlugin {
    /// Runs once per cycle before Filter; what it computes goes into `state`. `Skip` means
    /// this plugin's Filter has nothing to check for this pod.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status);

    /// Updates this plugin's PreFilter state as if `to_add` ran on `node` (nominated pods,
    /// preemption simulation). Upstream's PreFilterExtensions.AddPod.
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _to_add: &Arc<PodInfo>,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }

    /// As `add_pod`, for a pod removed from `node` (preemption victims).
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _to_remove: &Arc<PodInfo>,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
}

pub trait FilterPlugin {
    /// Success if `pod` can run on `node`; otherwise why not (Unschedulable,
    /// UnschedulableAndUnresolvable or Error).
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// Per-node Filter outcome of a failed cycle.
pub type NodeToStatus = super::fast_hash::FastMap<String, Status>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFilterResult {
    /// Where the pod should go once room is made (written to `status.nominatedNodeName`).
    pub nominated_node_name: Option<String>,
}

/// What PostFilter plugins see besides the pod: the cycle's snapshot and the framework,
/// through which they can re-run PreFilter extensions and Filter on simulated nodes.
pub struct PostFilterContext<'a> {
    pub framework: &'a Framework,
    pub snapshot: &'a Snapshot,
}

pub trait PostFilterPlugin {
    /// Runs when no node fit. Success with a nominated node ends the PostFilter phase;
    /// the status message (if any) is appended to the FailedScheduling message.
    fn post_filter(
        &self,
        ctx: &PostFilterContext<'_>,
        state: &mut CycleState,
        pod: &PodInfo,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status);
}

pub trait PreScorePlugin {
    /// Runs once per cycle over the feasible nodes before Score. `Skip`: no Score this cycle.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        feasible: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status;
}

pub trait ScorePlugin {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status>;

    /// Rescales the raw scores of all feasible nodes (in feasible order) into
    /// 0..=MAX_NODE_SCORE. Default: they already are.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) -> Status {
        Status::success()
    }
}

pub trait ReservePlugin {
    /// The pod is assumed on `node`; a plugin keeping its own bookkeeping records it here.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status;
    /// Undoes `reserve` (idempotent): called on any later failure, in reverse order.
    fn unreserve(&self, state: &CycleState, pod: &PodInfo, node: &str);
}

pub trait PermitPlugin {
    /// Success, a rejection, or `Wait` with how long to wait at most; a waiting pod is let
    /// go through `WaitingPods::allow`/`reject` (by any plugin, in any pod's cycle).
    fn permit(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> (Status, Duration);
}

pub trait PreBindPlugin {
    /// Runs in the binding cycle (off the scheduling loop) before Bind; may call the API.
    fn pre_bind<'a>(
        &'a self,
        state: &'a CycleState,
        pod: &'a PodInfo,
        node: &'a str,
    ) -> BoxFuture<'a, Status>;
}

pub trait BindPlugin {
    /// Binds the pod, or returns Skip to leave it to the next bind plugin.
    fn bind<'a>(
        &'a self,
        state: &'a CycleState,
        pod: &'a PodInfo,
        node: &'a str,
    ) -> BoxFuture<'a, Status>;
}

pub trait PostBindPlugin {
    /// Informational, after a successful bind.
    fn post_bind(&self, state: &CycleState, pod: &PodInfo, node: &str);
}
