//! DefaultPreemption (PostFilter): when a pod fits nowhere, find a node where removing
//! lower-priority pods makes it fit, nominate the pod there and evict the fewest, least
//! important victims, sparing pods a PodDisruptionBudget protects where it can.
//!
//! The search is pure (a simulation on copies of the snapshot's NodeInfos, re-running
//! PreFilter extensions and Filter); only the chosen candidate's eviction talks to the API,
//! in a task off the scheduling loop, as upstream's asynchronous preemption does.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::framework::selector::Selector;
use crate::framework::{
    Code, CycleState, Handle, NodeInfo, NodeToStatus, Plugin, PodInfo, PostFilterContext,
    PostFilterPlugin, PostFilterResult, Status,
};

pub const NAME: &str = "DefaultPreemption";

const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// Upstream's defaults: look for candidates on at least 10% of the nodes and at least 100
/// nodes, then stop (a large cluster need not simulate every node).
const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

pub fn candidates_to_find(num_nodes: usize) -> usize {
    (num_nodes * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(num_nodes)
}

pub struct DefaultPreemption {
    handle: Arc<Handle>,
    next_offset: AtomicUsize,
}

impl DefaultPreemption {
    pub fn new(handle: &Arc<Handle>) -> DefaultPreemption {
        DefaultPreemption {
            handle: handle.clone(),
            next_offset: AtomicUsize::new(0),
        }
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }

    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
}

/// A node where the pod would fit once `victims` (most important first) are gone.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
    pub pdb_violations: usize,
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        ctx: &PostFilterContext<'_>,
        state: &mut CycleState,
        pod: &PodInfo,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status) {
        let nominated = {
            let n = pod.nominated_node_name();
            if n.is_empty() {
                self.handle
                    .nominator()
                    .node_of(&pod.uid)
                    .unwrap_or("")
                    .to_string()
            } else {
                n.to_string()
            }
        };
        if let Err(why) = eligible(pod, &nominated, ctx, statuses) {
            return (None, Status::unschedulable(format!("preemption: {why}")));
        }
        let pdbs: Vec<Arc<PodDisruptionBudget>> = self.handle.stores.pdbs.state();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut candidates = Vec::new();
        let nodes = ctx.snapshot.nodes();
        let wanted = candidates_to_find(nodes.len());
        // Start somewhere new each time so that repeated preemptions spread over nodes.
        let offset = self.next_offset.fetch_add(1, AtomicOrdering::Relaxed);
        for i in 0..nodes.len() {
            if candidates.len() >= wanted {
                break;
            }
            let node = &nodes[(offset + i) % nodes.len()];
            let helps = statuses
                .get(node.name())
                .is_some_and(|s| s.code() == Code::Unschedulable);
            if !helps {
                *reasons.entry(NOT_HELPFUL.to_string()).or_default() += 1;
                continue;
            }
            match select_victims_on_node(ctx, state, pod, node, &pdbs) {
                Ok((victims, pdb_violations)) => candidates.push(Candidate {
                    node: node.name().to_string(),
                    victims,
                    pdb_violations,
                }),
                Err(s) => {
                    for r in s.reasons() {
                        *reasons.entry(r.to_string()).or_default() += 1;
                    }
                }
            }
        }
        let Some(best) = pick_one(&candidates) else {
            let mut parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            parts.sort();
            return (
                None,
                Status::unschedulable(format!(
                    "preemption: 0/{} nodes are available: {}",
                    ctx.snapshot.len(),
                    parts.join(", ")
                )),
            );
        };
        let chosen = candidates.swap_remove(best);
        self.prepare(pod, &chosen);
        (
            Some(PostFilterResult {
                nominated_node_name: Some(chosen.node),
            }),
            Status::success(),
        )
    }
}

impl DefaultPreemption {
    /// Evicts the candidate's victims and takes the node away from lower-priority pods
    /// nominated to it. Waiting (Permit) victims are rejected in memory, the rest are
    /// marked with a DisruptionTarget condition, deleted gracefully and told why.
    fn prepare(&self, pod: &PodInfo, c: &Candidate) {
        let mut to_delete = Vec::new();
        for v in &c.victims {
            if !self.handle.waiting_pods.reject(&v.uid, NAME, "preempted") {
                to_delete.push(v.clone());
            }
        }
        let demoted: Vec<Arc<PodInfo>> = {
            let nominator = self.handle.nominator();
            nominator
                .pods_for_node(&c.node)
                .iter()
                .filter(|p| p.priority < pod.priority && p.uid != pod.uid)
                .cloned()
                .collect()
        };
        for p in &demoted {
            self.handle.nominator_mut().remove(&p.uid);
        }
        let Some(client) = self.handle.client.clone() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let scheduler = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_else(|| crate::SCHEDULER_NAME.to_string());
        let preemptor_uid = pod.uid.clone();
        let node = c.node.clone();
        rt.spawn(async move {
            for v in to_delete {
                if let Err(e) = evict(&client, &v, &scheduler, &preemptor_uid, &node).await {
                    tracing::warn!(victim = %v.name, error = %e, "preemption failed");
                }
            }
            for p in demoted {
                if let Err(e) = crate::api::set_nominated_node(&client, &p, "").await {
                    tracing::debug!(pod = %p.name, error = %e, "clearing nominated node");
                }
            }
        });
    }
}

async fn evict(
    client: &kube::Client,
    victim: &PodInfo,
    scheduler: &str,
    preemptor_uid: &str,
    node: &str,
) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &victim.namespace);
    let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = json!({"status": {"conditions": [{
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
        "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
        "lastTransitionTime": now,
    }]}});
    match pods
        .patch_status(
            &victim.name,
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        other => {
            other?;
        }
    }
    match pods.delete(&victim.name, &DeleteParams::default()).await {
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        other => {
            other?;
        }
    }
    crate::api::record_event(
        client,
        victim,
        "Normal",
        "Preempted",
        &format!("Preempted by pod {preemptor_uid} on node {node}"),
    )
    .await
}

/// Upstream's PodEligibleToPreemptOthers: `Never` never preempts, and a pod already
/// nominated to a node where lower-priority pods are still terminating waits for them
/// rather than evicting more.
fn eligible(
    pod: &PodInfo,
    nominated: &str,
    ctx: &PostFilterContext<'_>,
    statuses: &NodeToStatus,
) -> Result<(), &'static str> {
    let policy = pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref());
    if policy == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never");
    }
    if nominated.is_empty() {
        return Ok(());
    }
    // The nominated node no longer helps (e.g. it went away or changed): look again.
    if statuses
        .get(nominated)
        .is_some_and(|s| s.code() == Code::UnschedulableAndUnresolvable)
    {
        return Ok(());
    }
    let terminating = ctx.snapshot.get(nominated).is_some_and(|n| {
        n.pods
            .iter()
            .any(|p| p.is_terminating() && p.priority < pod.priority)
    });
    if terminating {
        return Err("not eligible due to a terminating pod on the nominated node");
    }
    Ok(())
}

/// Removes every lower-priority pod from a copy of `node`; if the pod then fits, adds them
/// back one at a time, most important first (those a PodDisruptionBudget protects before
/// the others), keeping out only those without which it no longer fits.
pub fn select_victims_on_node(
    ctx: &PostFilterContext<'_>,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let fw = ctx.framework;
    let mut ni = node.clone();
    let mut st = state.clone();
    let mut potential: Vec<Arc<PodInfo>> = ni
        .pods
        .iter()
        .filter(|p| p.priority < pod.priority)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for p in &potential {
        ni.remove_pod(&p.uid);
        let s = fw.run_pre_filter_remove_pod(&mut st, pod, p, &ni);
        if !s.is_success() {
            return Err(s);
        }
    }
    let nominator = fw.handle().nominator();
    let fits = fw.run_filter_with_nominated_pods(&nominator, &st, pod, &ni);
    if !fits.is_success() {
        return Err(fits);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, non_violating) = split_by_pdb(&potential, pdbs);
    let mut victims = Vec::new();
    let mut violations = 0;
    for (group, violates) in [(violating, true), (non_violating, false)] {
        for p in group {
            ni.add_pod(p.clone());
            let s = fw.run_pre_filter_add_pod(&mut st, pod, &p, &ni);
            if !s.is_success() {
                return Err(s);
            }
            if !fw
                .run_filter_with_nominated_pods(&nominator, &st, pod, &ni)
                .is_success()
            {
                ni.remove_pod(&p.uid);
                let s = fw.run_pre_filter_remove_pod(&mut st, pod, &p, &ni);
                if !s.is_success() {
                    return Err(s);
                }
                if violates {
                    violations += 1;
                }
                victims.push(p);
            }
        }
    }
    victims.sort_by(|a, b| more_important(a, b));
    Ok((victims, violations))
}

/// When the pod started; one not started yet counts as starting now (as upstream).
fn start_time(p: &PodInfo) -> Timestamp {
    p.pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now)
}

/// Upstream's MoreImportantPod as an ordering: higher priority first, then the pod that
/// started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_time(a).cmp(&start_time(b)))
}

/// Splits pods (kept in order) into those whose eviction would exceed a budget's allowed
/// disruptions and the rest. Each budget's allowance is spent as its pods are visited; pods
/// the budget already counts as disrupted are not charged again.
pub fn split_by_pdb(
    pods: &[Arc<PodInfo>],
    pdbs: &[Arc<PodDisruptionBudget>],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let selectors: Vec<Option<Selector>> = pdbs
        .iter()
        .map(|b| {
            let sel = b.spec.as_ref().and_then(|s| s.selector.as_ref())?;
            let empty = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty());
            // An empty selector selects nothing here, as upstream's preemption reads it.
            (!empty).then(|| Selector::from_label_selector(Some(sel)))
        })
        .collect();
    let mut allowed: Vec<i64> = pdbs
        .iter()
        .map(|b| {
            b.status
                .as_ref()
                .and_then(|s| s.disruptions_allowed)
                .map(i64::from)
                .unwrap_or(0)
        })
        .collect();
    let mut violating = Vec::new();
    let mut fine = Vec::new();
    for p in pods {
        let mut violated = false;
        if !p.labels().is_empty() {
            for (i, b) in pdbs.iter().enumerate() {
                if b.metadata.namespace.as_deref() != Some(p.namespace.as_str()) {
                    continue;
                }
                let Some(sel) = &selectors[i] else { continue };
                if !sel.matches(p.labels()) {
                    continue;
                }
                let disrupted = b
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .is_some_and(|d| d.contains_key(&p.name));
                if disrupted {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(p.clone());
        } else {
            fine.push(p.clone());
        }
    }
    (violating, fine)
}

/// Upstream's pickOneNodeForPreemption: a candidate without victims at once; otherwise the
/// fewest budget violations, then the lowest highest-victim priority, the smallest sum of
/// priorities, the fewest victims, and the latest start among the most important victims;
/// the first of any remaining tie.
pub fn pick_one(candidates: &[Candidate]) -> Option<usize> {
    if let Some(i) = candidates.iter().position(|c| c.victims.is_empty()) {
        return Some(i);
    }
    // Priorities are shifted to be positive so a sum of many negatives still orders right.
    let sum = |c: &Candidate| -> i64 {
        c.victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum()
    };
    let highest = |c: &Candidate| c.victims.first().map(|v| v.priority).unwrap_or(i32::MIN);
    let earliest_of_highest = |c: &Candidate| -> Timestamp {
        let top = highest(c);
        c.victims
            .iter()
            .filter(|v| v.priority == top)
            .map(|v| start_time(v))
            .min()
            .unwrap_or_else(Timestamp::now)
    };
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        let better = match best {
            None => true,
            Some(b) => {
                let b = &candidates[b];
                c.pdb_violations
                    .cmp(&b.pdb_violations)
                    .then_with(|| highest(c).cmp(&highest(b)))
                    .then_with(|| sum(c).cmp(&sum(b)))
                    .then_with(|| c.victims.len().cmp(&b.victims.len()))
                    .then_with(|| earliest_of_highest(b).cmp(&earliest_of_highest(c)))
                    == Ordering::Less
            }
        };
        if better {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests;
