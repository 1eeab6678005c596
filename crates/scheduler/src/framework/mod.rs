//! The scheduling framework, shaped as upstream's: extension points (QueueSort, PreFilter,
//! Filter, PostFilter, PreScore, Score with NormalizeScore and weights, Reserve/Unreserve,
//! Permit, PreBind, Bind, PostBind) returning `Status` codes; a per-cycle `CycleState`;
//! `NodeInfo`s gathered in a `Snapshot`; a `Handle` to the API, informer caches, waiting
//! and nominated pods. Pure apart from the async bind points; `scheduler.rs` drives it.

mod cycle_state;
mod events;
mod fast_hash;
mod fit_error;
mod handle;
mod interface;
mod node_info;
mod pod_info;
mod queue_info;
mod runtime;
pub mod selector;
mod snapshot;
mod status;
mod waiting_pods;

pub use cycle_state::{CycleState, SkipSet, StateData};
pub use events::{ActionType, ClusterEvent, EventResource};
pub use fast_hash::{FastHasher, FastMap, FastSet};
pub use fit_error::{Diagnosis, FitError};
pub use handle::{Activator, Handle, Nominator, Stores};
pub use interface::{
    BindPlugin, FilterPlugin, NodeToStatus, PermitPlugin, Plugin, PostBindPlugin,
    PostFilterContext, PostFilterPlugin, PostFilterResult, PreBindPlugin, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, QueueSortPlugin, ReservePlugin, ScorePlugin, MAX_NODE_SCORE,
};
pub use node_info::{normalized_image_name, NodeInfo};
pub use pod_info::{
    AffinityTerm, HostPort, PodInfo, WeightedAffinityTerm, DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
};
pub use queue_info::QueuedPodInfo;
pub use runtime::{
    num_feasible_nodes_to_find, Framework, PermitWait, Registration, ScheduleError, ScheduleResult,
    MIN_FEASIBLE_NODES_TO_FIND,
};
pub use snapshot::Snapshot;
pub use status::{Code, Status};
pub use waiting_pods::{WaitingPod, WaitingPods, MAX_PERMIT_WAIT};

#[cfg(test)]
mod tests;
