//! Runs the extension points over a profile's plugins, and one scheduling attempt:
//! PreFilter, Filter over (a sample of) the nodes, PreScore, Score, NormalizeScore and the
//! choice of node. Reserve, Permit and the binding cycle are driven by `scheduler.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::cycle_state::CycleState;
use super::fit_error::{Diagnosis, FitError};
use super::handle::{Handle, Nominator};
use super::interface::{
    NodeToStatus, Plugin, PostFilterContext, PostFilterResult, PreFilterResult,
};
use super::node_info::NodeInfo;
use super::pod_info::PodInfo;
use super::queue_info::QueuedPodInfo;
use super::snapshot::Snapshot;
use super::status::{Code, Status};

/// One line of the plugin registry: how to build the plugin and its Score weight.
#[derive(Clone, Copy)]
pub struct Registration {
    pub name: &'static str,
    pub weight: i64,
    pub new: fn(&Arc<Handle>) -> Arc<dyn Plugin>,
}

/// Below this many nodes every node is filtered (upstream's minFeasibleNodesToFind).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The floor of the adaptive percentage (upstream's minFeasibleNodesPercentageToFind).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes are enough to stop filtering: all of a small cluster; of a big
/// one `percentage`% (0: adaptive, 50% minus 1% per 125 nodes, at least 5%), and never
/// fewer than 100 nodes.
pub fn num_feasible_nodes_to_find(percentage: u32, num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return num_all;
    }
    let pct = if percentage == 0 {
        50usize
            .saturating_sub(num_all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    } else {
        percentage as usize
    };
    (num_all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    pub evaluated_nodes: usize,
    pub feasible_nodes: usize,
}

#[derive(Debug)]
pub enum ScheduleError {
    /// No node fits; the message is upstream's "0/N nodes are available: ...".
    Fit(Box<FitError>),
    /// A plugin failed (not the pod's fault); the pod backs off and retries.
    Error(Status),
}

impl ScheduleError {
    pub fn message(&self) -> String {
        match self {
            ScheduleError::Fit(f) => f.message(),
            ScheduleError::Error(s) => s.message(),
        }
    }
}

/// A pod held at Permit: the binding cycle awaits `outcome` for at most `timeout`.
pub struct PermitWait {
    pub outcome: oneshot::Receiver<Status>,
    pub timeout: Duration,
    pub plugin: &'static str,
}

pub struct Framework {
    handle: Arc<Handle>,
    plugins: Vec<Arc<dyn Plugin>>,
    queue_sort: Option<Arc<dyn Plugin>>,
    pre_filter: Vec<Arc<dyn Plugin>>,
    filter: Vec<Arc<dyn Plugin>>,
    post_filter: Vec<Arc<dyn Plugin>>,
    pre_score: Vec<Arc<dyn Plugin>>,
    score: Vec<(Arc<dyn Plugin>, i64)>,
    reserve: Vec<Arc<dyn Plugin>>,
    permit: Vec<Arc<dyn Plugin>>,
    pre_bind: Vec<Arc<dyn Plugin>>,
    bind: Vec<Arc<dyn Plugin>>,
    post_bind: Vec<Arc<dyn Plugin>>,
    /// 0: upstream's adaptive default.
    pub percentage_of_nodes_to_score: u32,
    rng: AtomicU64,
}

impl Framework {
    pub fn new(handle: Arc<Handle>, registry: &[Registration]) -> Framework {
        let plugins = registry
            .iter()
            .map(|r| ((r.new)(&handle), r.weight))
            .collect();
        Framework::from_plugins(handle, plugins)
    }

    /// Plugins in order with their Score weights.
    pub fn from_plugins(handle: Arc<Handle>, plugins: Vec<(Arc<dyn Plugin>, i64)>) -> Framework {
        let pick = |f: fn(&dyn Plugin) -> bool| -> Vec<Arc<dyn Plugin>> {
            plugins
                .iter()
                .filter(|(p, _)| f(p.as_ref()))
                .map(|(p, _)| p.clone())
                .collect()
        };
        Framework {
            queue_sort: pick(|p| p.as_queue_sort().is_some()).into_iter().next(),
            pre_filter: pick(|p| p.as_pre_filter().is_some()),
            filter: pick(|p| p.as_filter().is_some()),
            post_filter: pick(|p| p.as_post_filter().is_some()),
            pre_score: pick(|p| p.as_pre_score().is_some()),
            score: plugins
                .iter()
                .filter(|(p, _)| p.as_score().is_some())
                .cloned()
                .collect(),
            reserve: pick(|p| p.as_reserve().is_some()),
            permit: pick(|p| p.as_permit().is_some()),
            pre_bind: pick(|p| p.as_pre_bind().is_some()),
            bind: pick(|p| p.as_bind().is_some()),
            post_bind: pick(|p| p.as_post_bind().is_some()),
            plugins: plugins.into_iter().map(|(p, _)| p).collect(),
            handle,
            percentage_of_nodes_to_score: 0,
            rng: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
        }
    }

    pub fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }

    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }

    /// QueueSort: the profile's plugin, or priority then arrival without one.
    pub fn queue_less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        match self.queue_sort.as_ref().and_then(|p| p.as_queue_sort()) {
            Some(q) => q.less(a, b),
            None => (b.pod.priority, a.timestamp) < (a.pod.priority, b.timestamp),
        }
    }

    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let mut result: Option<PreFilterResult> = None;
        for p in &self.pre_filter {
            let Some(pf) = p.as_pre_filter() else {
                continue;
            };
            let (r, s) = pf.pre_filter(state, pod, snapshot);
            if s.is_skip() {
                state.skip_filter_plugins.insert(p.name());
                continue;
            }
            if !s.is_success() {
                return (None, s.with_plugin(p.name()));
            }
            let Some(names) = r.and_then(|r| r.node_names) else {
                continue;
            };
            let merged = match result.take().and_then(|r| r.node_names) {
                Some(prev) => prev.intersection(&names).cloned().collect(),
                None => names,
            };
            if merged.is_empty() {
                return (
                    None,
                    Status::unresolvable(
                        "node(s) didn't satisfy plugin(s) [".to_string() + p.name() + "]",
                    )
                    .with_plugin(p.name()),
                );
            }
            result = Some(PreFilterResult {
                node_names: Some(merged),
            });
        }
        (result, Status::success())
    }

    pub fn run_pre_filter_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_add: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter_plugins.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = pf.add_pod(state, pod, to_add, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter_plugins.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = pf.remove_pod(state, pod, to_remove, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Filter plugins in order; the first that does not succeed decides.
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let skips = !state.skip_filter_plugins.is_empty();
        for p in &self.filter {
            if skips && state.skip_filter_plugins.contains(p.name()) {
                continue;
            }
            let Some(f) = p.as_filter() else { continue };
            let s = f.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Filter, counting pods nominated to the node with at least the pod's priority as if
    /// they ran there (and, when there are some, also without them: upstream's two passes,
    /// since a nominated pod may also make a node fit, e.g. through pod affinity).
    pub fn run_filter_with_nominated_pods(
        &self,
        nominator: &Nominator,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        let nominated: Vec<&Arc<PodInfo>> = if nominator.is_empty() {
            Vec::new()
        } else {
            nominator
                .pods_for_node(node.name())
                .iter()
                .filter(|p| p.uid != pod.uid && p.priority >= pod.priority)
                .collect()
        };
        if nominated.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut st = state.clone();
        let mut ni = node.clone();
        for p in nominated {
            ni.add_pod(p.clone());
            let s = self.run_pre_filter_add_pod(&mut st, pod, p, &ni);
            if !s.is_success() {
                return s;
            }
        }
        let s = self.run_filter(&st, pod, &ni);
        if !s.is_success() {
            return s;
        }
        self.run_filter(state, pod, node)
    }

    pub fn has_post_filter_plugins(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// PostFilter plugins in order until one succeeds (or fails hard).
    pub fn run_post_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status) {
        let ctx = PostFilterContext {
            framework: self,
            snapshot,
        };
        let mut reasons = Vec::new();
        for p in &self.post_filter {
            let Some(pf) = p.as_post_filter() else {
                continue;
            };
            let (r, s) = pf.post_filter(&ctx, state, pod, statuses);
            match s.code() {
                Code::Success => return (r, s.with_plugin(p.name())),
                Code::Error => return (None, s.with_plugin(p.name())),
                Code::UnschedulableAndUnresolvable => {
                    return (r, s.with_plugin(p.name()));
                }
                _ => reasons.extend(s.reasons().iter().map(|r| r.to_string())),
            }
        }
        (None, Status::with_reasons(Code::Unschedulable, reasons))
    }

    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        feasible: &[Arc<NodeInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        for p in &self.pre_score {
            let Some(ps) = p.as_pre_score() else { continue };
            let s = ps.pre_score(state, pod, feasible, snapshot);
            if s.is_skip() {
                state.skip_score_plugins.insert(p.name());
            } else if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Weighted sum of every Score plugin's normalized scores, per feasible node.
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        feasible: &[Arc<NodeInfo>],
    ) -> Result<Vec<i64>, Status> {
        let mut totals = vec![0i64; feasible.len()];
        let mut scores = Vec::with_capacity(feasible.len());
        for (p, weight) in &self.score {
            if state.skip_score_plugins.contains(p.name()) {
                continue;
            }
            let Some(sp) = p.as_score() else { continue };
            scores.clear();
            for n in feasible {
                scores.push(
                    sp.score(state, pod, n)
                        .map_err(|s| s.with_plugin(p.name()))?,
                );
            }
            let s = sp.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += s * weight;
            }
        }
        Ok(totals)
    }

    /// Reserve plugins in order; on failure the caller runs `run_unreserve`.
    pub fn run_reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status {
        for p in &self.reserve {
            let Some(r) = p.as_reserve() else { continue };
            let s = r.reserve(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Unreserve in reverse order; also drops the pod from the waiting pods.
    pub fn run_unreserve(&self, state: &CycleState, pod: &PodInfo, node: &str) {
        self.handle.waiting_pods.remove(&pod.uid);
        for p in self.reserve.iter().rev() {
            if let Some(r) = p.as_reserve() {
                r.unreserve(state, pod, node);
            }
        }
    }

    /// Permit plugins: a rejection wins; otherwise, if any asked to wait, the pod joins the
    /// waiting pods and the binding cycle awaits the returned `PermitWait`.
    pub fn run_permit(
        &self,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        node: &str,
    ) -> Result<Option<PermitWait>, Status> {
        let mut waits = BTreeMap::new();
        for p in &self.permit {
            let Some(pp) = p.as_permit() else { continue };
            let (s, timeout) = pp.permit(state, pod, node);
            if s.is_wait() {
                waits.insert(p.name(), timeout);
            } else if !s.is_success() {
                let s = if s.is_rejected() {
                    s
                } else {
                    Status::error(format!(
                        "running Permit plugin {}: {}",
                        p.name(),
                        s.message()
                    ))
                };
                return Err(s.with_plugin(p.name()));
            }
        }
        if waits.is_empty() {
            return Ok(None);
        }
        let (outcome, timeout, plugin) = self.handle.waiting_pods.add(pod.clone(), node, waits);
        Ok(Some(PermitWait {
            outcome,
            timeout,
            plugin,
        }))
    }

    /// Waits at Permit; a timeout rejects the pod as upstream words it.
    pub async fn wait_on_permit(&self, pod: &PodInfo, wait: PermitWait) -> Status {
        match tokio::time::timeout(wait.timeout, wait.outcome).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => Status::unschedulable("pod was removed from the waiting pods"),
            Err(_) => {
                self.handle.waiting_pods.remove(&pod.uid);
                Status::unschedulable(format!(
                    "rejected due to timeout after waiting {:?} at plugin {}",
                    wait.timeout, wait.plugin
                ))
                .with_plugin(wait.plugin)
            }
        }
    }

    pub async fn run_pre_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        for p in &self.pre_bind {
            let Some(pb) = p.as_pre_bind() else { continue };
            let s = pb.pre_bind(state, pod, node).await;
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// The first Bind plugin that does not Skip binds.
    pub async fn run_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        for p in &self.bind {
            let Some(b) = p.as_bind() else { continue };
            let s = b.bind(state, pod, node).await;
            if !s.is_skip() {
                return s.with_plugin(p.name());
            }
        }
        Status::error("no bind plugin bound the pod")
    }

    pub fn run_post_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) {
        for p in &self.post_bind {
            if let Some(pb) = p.as_post_bind() {
                pb.post_bind(state, pod, node);
            }
        }
    }

    /// One scheduling attempt up to the choice of node (no Reserve, nothing written).
    /// `next_start` rotates through the nodes so successive pods start filtering where the
    /// previous one stopped.
    pub fn schedule_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        next_start: &mut usize,
    ) -> Result<ScheduleResult, ScheduleError> {
        if snapshot.is_empty() {
            return Err(ScheduleError::Fit(Box::new(FitError {
                num_all_nodes: 0,
                diagnosis: Diagnosis::default(),
            })));
        }
        let (feasible, diagnosis) = self.find_nodes_that_fit(state, pod, snapshot, next_start)?;
        if feasible.is_empty() {
            return Err(ScheduleError::Fit(Box::new(FitError {
                num_all_nodes: snapshot.len(),
                diagnosis,
            })));
        }
        let evaluated =
            feasible.len() + diagnosis.node_to_status.len() + diagnosis.rejected_uncounted;
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                node: feasible[0].name().to_string(),
                evaluated_nodes: evaluated,
                feasible_nodes: 1,
            });
        }
        let s = self.run_pre_score(state, pod, &feasible, snapshot);
        if !s.is_success() {
            return Err(ScheduleError::Error(s));
        }
        let totals = self
            .run_score(state, pod, &feasible)
            .map_err(ScheduleError::Error)?;
        let best = self.select_host(&totals);
        Ok(ScheduleResult {
            node: feasible[best].name().to_string(),
            evaluated_nodes: evaluated,
            feasible_nodes: feasible.len(),
        })
    }

    fn find_nodes_that_fit(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        next_start: &mut usize,
    ) -> Result<(Vec<Arc<NodeInfo>>, Diagnosis), ScheduleError> {
        let mut diagnosis = Diagnosis::default();
        let (pre, s) = self.run_pre_filter(state, pod, snapshot);
        if !s.is_success() {
            if !s.is_rejected() {
                return Err(ScheduleError::Error(s));
            }
            diagnosis.pre_filter_msg = Some(s.message());
            diagnosis.unschedulable_plugins.insert(s.plugin());
            for n in snapshot.nodes() {
                diagnosis
                    .node_to_status
                    .insert(n.name().to_string(), s.clone());
            }
            return Ok((Vec::new(), diagnosis));
        }
        let nominator = self.handle.nominator();
        // A pod nominated by preemption tries its node first.
        let nominated = pod.nominated_node_name();
        if !nominated.is_empty() {
            if let Some(n) = snapshot.get(nominated) {
                if self
                    .run_filter_with_nominated_pods(&nominator, state, pod, n)
                    .is_success()
                {
                    return Ok((vec![n.clone()], diagnosis));
                }
            }
        }
        let restricted: Option<Vec<Arc<NodeInfo>>> = pre.and_then(|r| r.node_names).map(|names| {
            names
                .iter()
                .filter_map(|n| snapshot.get(n).cloned())
                .collect()
        });
        let nodes: &[Arc<NodeInfo>] = restricted.as_deref().unwrap_or(snapshot.nodes());
        if let Some(r) = &restricted {
            // Nodes the PreFilter result left out count as unresolvable.
            let kept: HashSet<&str> = r.iter().map(|n| n.name()).collect();
            for n in snapshot.nodes().iter().filter(|n| !kept.contains(n.name())) {
                diagnosis.node_to_status.insert(
                    n.name().to_string(),
                    Status::unresolvable("node(s) didn't satisfy plugin(s) [PreFilter]"),
                );
            }
        }
        let len = nodes.len();
        let want = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, len);
        let mut feasible = Vec::with_capacity(want.min(len));
        // Statuses by node are needed only when the pod fits nowhere (the FitError message,
        // preemption); a pod that fits needs only how many were rejected, so the map (a
        // name copy per rejected node, thousands per pod under a spread constraint) is
        // built only then.
        let mut rejected: Vec<(&Arc<NodeInfo>, Status)> = Vec::new();
        let start = if len == 0 { 0 } else { *next_start % len };
        let mut processed = 0;
        for i in 0..len {
            let n = &nodes[(start + i) % len];
            processed += 1;
            let s = self.run_filter_with_nominated_pods(&nominator, state, pod, n);
            if s.is_success() {
                feasible.push(n.clone());
                if feasible.len() >= want {
                    break;
                }
            } else if s.code() == Code::Error {
                return Err(ScheduleError::Error(s));
            } else {
                diagnosis.unschedulable_plugins.insert(s.plugin());
                rejected.push((n, s));
            }
        }
        if len > 0 {
            *next_start = (start + processed) % len;
        }
        if feasible.is_empty() {
            for (n, s) in rejected {
                diagnosis.node_to_status.insert(n.name().to_string(), s);
            }
        } else {
            diagnosis.rejected_uncounted = rejected.len();
        }
        Ok((feasible, diagnosis))
    }

    /// The highest total; ties broken at random (reservoir sampling), as upstream does.
    fn select_host(&self, totals: &[i64]) -> usize {
        let mut best = 0;
        let mut ties = 0u64;
        for (i, &t) in totals.iter().enumerate() {
            if t > totals[best] {
                best = i;
                ties = 1;
            } else if t == totals[best] {
                ties += 1;
                if self.next_random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        best
    }

    fn next_random(&self) -> u64 {
        // xorshift64: cheap and good enough to break ties.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        x
    }

    /// Which plugins registered for which events (the queue's move decisions).
    pub fn events_by_plugin(&self) -> HashMap<&'static str, Vec<super::events::ClusterEvent>> {
        self.plugins
            .iter()
            .map(|p| (p.name(), p.events_to_register()))
            .collect()
    }
}
