//! Gang scheduling (all or nothing), which the stock scheduler lacks. Members carry the
//! label `scheduling.skiff.dev/group=<name>` and the annotation
//! `scheduling.skiff.dev/min-members=<n>`:
//! - PreFilter turns a member away while fewer than n members exist in its namespace;
//! - Permit holds each reserved member (10 s, or `scheduling.skiff.dev/timeout-seconds`)
//!   until n members are reserved, waiting or bound, then lets them all go at once;
//! - when one member gives up (timeout, rejection, a failed bind), Unreserve rejects the
//!   others still waiting, so none of them binds and all go back to the queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    CycleState, Handle, PermitPlugin, Plugin, PodInfo, PostBindPlugin, PreFilterPlugin,
    PreFilterResult, ReservePlugin, Snapshot, Status,
};

pub const NAME: &str = "Gang";
pub const GROUP_LABEL: &str = "scheduling.skiff.dev/group";
pub const MIN_MEMBERS_ANNOTATION: &str = "scheduling.skiff.dev/min-members";
pub const TIMEOUT_ANNOTATION: &str = "scheduling.skiff.dev/timeout-seconds";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pod's gang: namespace, group name, how many members must go together, and how long
/// a member waits for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GangSpec {
    pub namespace: String,
    pub name: String,
    pub min_members: usize,
    pub timeout: Duration,
}

/// The pod's gang, if it belongs to one (a group label and a min-members annotation of at
/// least 1; anything else schedules as a lone pod).
pub fn gang_of(pod: &PodInfo) -> Option<GangSpec> {
    let name = pod.labels().get(GROUP_LABEL).filter(|n| !n.is_empty())?;
    let annotations = pod.pod.metadata.annotations.as_ref();
    let min_members = annotations
        .and_then(|a| a.get(MIN_MEMBERS_ANNOTATION))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n >= 1)?;
    let timeout = annotations
        .and_then(|a| a.get(TIMEOUT_ANNOTATION))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    Some(GangSpec {
        namespace: pod.namespace.clone(),
        name: name.clone(),
        min_members,
        timeout,
    })
}

/// A live member: same namespace and group, neither deleted nor finished.
fn is_member(pod: &Pod, gang: &GangSpec) -> bool {
    pod.metadata.namespace.as_deref() == Some(gang.namespace.as_str())
        && pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(GROUP_LABEL))
            == Some(&gang.name)
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

type GangKey = (String, String);

pub struct Gang {
    handle: Arc<Handle>,
    /// Members reserved in this scheduler (from Reserve until bound or unreserved), by gang.
    reserved: Mutex<HashMap<GangKey, HashSet<String>>>,
}

impl Gang {
    pub fn new(handle: &Arc<Handle>) -> Gang {
        Gang {
            handle: handle.clone(),
            reserved: Mutex::default(),
        }
    }

    fn reserved(&self) -> std::sync::MutexGuard<'_, HashMap<GangKey, HashSet<String>>> {
        self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gang's live members from the informer cache: uid → bound.
    fn members(&self, gang: &GangSpec) -> BTreeMap<String, bool> {
        self.handle
            .stores
            .pods
            .state()
            .iter()
            .filter(|p| is_member(p, gang))
            .map(|p| {
                let bound = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_some_and(|n| !n.is_empty());
                (p.metadata.uid.clone().unwrap_or_default(), bound)
            })
            .collect()
    }
}

impl Plugin for Gang {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        Some(self)
    }
    fn as_permit(&self) -> Option<&dyn PermitPlugin> {
        Some(self)
    }
    fn as_post_bind(&self) -> Option<&dyn PostBindPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for Gang {
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let Some(gang) = gang_of(pod) else {
            return (None, Status::skip());
        };
        let mut members = self.members(&gang);
        // The pod itself counts even before the cache has caught up with it.
        members.entry(pod.uid.clone()).or_insert(false);
        if members.len() < gang.min_members {
            return (
                None,
                Status::unresolvable(format!(
                    "waiting for gang {}: {}/{} members exist",
                    gang.name,
                    members.len(),
                    gang.min_members
                )),
            );
        }
        (None, Status::success())
    }
}

impl ReservePlugin for Gang {
    fn reserve(&self, _state: &mut CycleState, pod: &PodInfo, _node: &str) -> Status {
        if let Some(g) = gang_of(pod) {
            self.reserved()
                .entry((g.namespace, g.name))
                .or_default()
                .insert(pod.uid.clone());
        }
        Status::success()
    }

    fn unreserve(&self, _state: &CycleState, pod: &PodInfo, _node: &str) {
        let Some(g) = gang_of(pod) else { return };
        let key = (g.namespace.clone(), g.name.clone());
        if let Some(set) = self.reserved().get_mut(&key) {
            set.remove(&pod.uid);
        }
        // All or nothing: the members still waiting give up with this one.
        let message = format!(
            "gang {}: member {} was rejected, the gang goes back to the queue",
            g.name, pod.name
        );
        for w in self.handle.waiting_pods.list() {
            if w.pod.uid != pod.uid && is_member(&w.pod.pod, &g) {
                if let Some(set) = self.reserved().get_mut(&key) {
                    set.remove(&w.pod.uid);
                }
                self.handle.waiting_pods.reject(&w.pod.uid, NAME, &message);
            }
        }
    }
}

impl PermitPlugin for Gang {
    fn permit(&self, _state: &mut CycleState, pod: &PodInfo, _node: &str) -> (Status, Duration) {
        let Some(g) = gang_of(pod) else {
            return (Status::success(), Duration::ZERO);
        };
        let key = (g.namespace.clone(), g.name.clone());
        let members = self.members(&g);
        let ready: HashSet<String> = {
            let mut reserved = self.reserved();
            let set = reserved.entry(key).or_default();
            // Forget members that vanished or are bound (the cache counts those).
            set.retain(|uid| uid == &pod.uid || members.get(uid) == Some(&false));
            set.insert(pod.uid.clone());
            set.iter()
                .cloned()
                .chain(
                    members
                        .iter()
                        .filter(|(_, bound)| **bound)
                        .map(|(u, _)| u.clone()),
                )
                .collect()
        };
        if ready.len() < g.min_members {
            // Siblings backing off or parked would otherwise come round too late to meet
            // this member while it waits.
            self.handle.activator.activate(
                members
                    .iter()
                    .filter(|(uid, bound)| !**bound && !ready.contains(*uid))
                    .map(|(uid, _)| uid.clone()),
            );
            return (Status::wait(), g.timeout);
        }
        for w in self.handle.waiting_pods.list() {
            if ready.contains(&w.pod.uid) {
                self.handle.waiting_pods.allow(&w.pod.uid, NAME);
            }
        }
        (Status::success(), Duration::ZERO)
    }
}

impl PostBindPlugin for Gang {
    fn post_bind(&self, _state: &CycleState, pod: &PodInfo, _node: &str) {
        if let Some(g) = gang_of(pod) {
            if let Some(set) = self.reserved().get_mut(&(g.namespace, g.name)) {
                set.remove(&pod.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests;
