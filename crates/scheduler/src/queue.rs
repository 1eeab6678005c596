//! The scheduling queue, as upstream's: activeQ (ordered by the QueueSort plugin), backoffQ
//! (pods waiting out a per-pod backoff of 1s doubling to 10s), and the unschedulable pods,
//! which go back only on a cluster event one of the plugins that rejected them registered
//! for, or after five minutes regardless. Gated pods (`spec.schedulingGates`) wait with the
//! unschedulable ones until their gates are gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::framework::{ClusterEvent, PodInfo, QueuedPodInfo};
use crate::heap::Heap;

pub const POD_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const POD_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's podMaxInUnschedulablePodsDuration.
pub const POD_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

pub type Less = Box<dyn Fn(&QueuedPodInfo, &QueuedPodInfo) -> bool + Send + Sync>;

pub struct SchedulingQueue {
    active: Heap<QueuedPodInfo>,
    backoff: Heap<QueuedPodInfo>,
    unschedulable: HashMap<String, QueuedPodInfo>,
    /// Popped pods being scheduled or bound, with the cycle that popped them.
    in_flight: HashMap<String, u64>,
    scheduling_cycle: u64,
    /// The last cycle during which a move event arrived: a pod from that cycle or an
    /// earlier one that fails goes to backoff, since the event may have helped it.
    move_request_cycle: u64,
    plugin_events: HashMap<&'static str, Vec<ClusterEvent>>,
    less: Less,
}

pub fn backoff_duration(attempts: u32) -> Duration {
    let mut d = POD_INITIAL_BACKOFF;
    for _ in 1..attempts {
        d *= 2;
        if d >= POD_MAX_BACKOFF {
            return POD_MAX_BACKOFF;
        }
    }
    d
}

fn backoff_expiry(p: &QueuedPodInfo) -> Instant {
    p.timestamp + backoff_duration(p.attempts)
}

fn backoff_less(a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
    backoff_expiry(a) < backoff_expiry(b)
}

/// Whether an update of a pending pod could change its scheduling outcome (upstream's
/// isPodUpdated: anything but status and bookkeeping metadata).
fn meaningful_update(old: &PodInfo, new: &PodInfo) -> bool {
    old.pod.spec != new.pod.spec
        || old.pod.metadata.labels != new.pod.metadata.labels
        || old.pod.metadata.annotations != new.pod.metadata.annotations
}

impl SchedulingQueue {
    pub fn new(less: Less, plugin_events: HashMap<&'static str, Vec<ClusterEvent>>) -> Self {
        SchedulingQueue {
            active: Heap::default(),
            backoff: Heap::default(),
            unschedulable: HashMap::new(),
            in_flight: HashMap::new(),
            scheduling_cycle: 0,
            move_request_cycle: 0,
            plugin_events,
            less,
        }
    }

    fn push_active(&mut self, p: QueuedPodInfo) {
        let less = &self.less;
        self.active.push(p.pod.uid.clone(), p, &|a, b| less(a, b));
    }

    fn push_backoff(&mut self, p: QueuedPodInfo) {
        self.backoff.push(p.pod.uid.clone(), p, &backoff_less);
    }

    /// To backoff if the pod still has backoff to wait out, else straight to active.
    fn requeue(&mut self, p: QueuedPodInfo, now: Instant) {
        if p.attempts > 0 && backoff_expiry(&p) > now {
            self.push_backoff(p);
        } else {
            self.push_active(p);
        }
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.active.contains(uid)
            || self.backoff.contains(uid)
            || self.unschedulable.contains_key(uid)
            || self.in_flight.contains_key(uid)
    }

    pub fn is_in_flight(&self, uid: &str) -> bool {
        self.in_flight.contains_key(uid)
    }

    /// A new pending pod.
    pub fn add(&mut self, pod: Arc<PodInfo>, now: Instant) {
        if self.contains(&pod.uid) {
            self.update(pod, now);
            return;
        }
        let p = QueuedPodInfo::new(pod, now);
        if p.gated {
            self.unschedulable.insert(p.pod.uid.clone(), p);
        } else {
            self.push_active(p);
        }
    }

    /// A pending pod changed.
    pub fn update(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let uid = pod.uid.clone();
        if self.in_flight.contains_key(&uid) {
            return;
        }
        if let Some(mut p) = self.active.get(&uid).cloned() {
            p.pod = pod;
            self.push_active(p);
            return;
        }
        if let Some(mut p) = self.backoff.get(&uid).cloned() {
            p.pod = pod;
            self.push_backoff(p);
            return;
        }
        if let Some(mut p) = self.unschedulable.remove(&uid) {
            let refreshed = QueuedPodInfo::new(pod.clone(), now);
            let moved = meaningful_update(&p.pod, &pod);
            p.pod = pod;
            if p.gated {
                if refreshed.gated {
                    self.unschedulable.insert(uid, p);
                } else {
                    // Gates removed: the pod is now schedulable for the first time.
                    p.gated = false;
                    p.timestamp = now;
                    self.push_active(p);
                }
            } else if moved {
                self.requeue(p, now);
            } else {
                self.unschedulable.insert(uid, p);
            }
            return;
        }
        self.add(pod, now);
    }

    pub fn delete(&mut self, uid: &str) {
        let less = &self.less;
        self.active.remove(uid, &|a, b| less(a, b));
        self.backoff.remove(uid, &backoff_less);
        self.unschedulable.remove(uid);
        self.in_flight.remove(uid);
    }

    /// The next pod to schedule.
    pub fn pop(&mut self) -> Option<QueuedPodInfo> {
        let less = &self.less;
        let mut p = self.active.pop(&|a, b| less(a, b))?;
        self.scheduling_cycle += 1;
        p.attempts += 1;
        self.in_flight
            .insert(p.pod.uid.clone(), self.scheduling_cycle);
        Some(p)
    }

    /// The pod was bound (or deleted): it leaves the queue for good.
    pub fn done(&mut self, uid: &str) {
        self.in_flight.remove(uid);
    }

    /// A failed attempt: the pod waits for an event (rejected by plugins) or its backoff
    /// (an error, or a move event arrived while it was being tried).
    pub fn add_unschedulable(&mut self, mut p: QueuedPodInfo, now: Instant) {
        let cycle = self.in_flight.remove(&p.pod.uid).unwrap_or(0);
        p.timestamp = now;
        if p.unschedulable_plugins.is_empty() || self.move_request_cycle >= cycle {
            self.push_backoff(p);
        } else {
            self.unschedulable.insert(p.pod.uid.clone(), p);
        }
    }

    fn wants(&self, p: &QueuedPodInfo, event: &ClusterEvent) -> bool {
        if p.gated {
            return false;
        }
        if p.unschedulable_plugins.is_empty() {
            return true;
        }
        p.unschedulable_plugins.iter().any(|name| {
            self.plugin_events
                .get(name)
                .is_none_or(|evs| evs.iter().any(|e| e.covers(event)))
        })
    }

    /// Moves the unschedulable pods `event` may help to active (or backoff); returns how many.
    pub fn move_all_to_active_or_backoff(&mut self, event: ClusterEvent, now: Instant) -> usize {
        self.move_request_cycle = self.scheduling_cycle;
        if self.unschedulable.is_empty() {
            return 0;
        }
        let uids: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, p)| self.wants(p, &event))
            .map(|(u, _)| u.clone())
            .collect();
        for uid in &uids {
            if let Some(p) = self.unschedulable.remove(uid) {
                self.requeue(p, now);
            }
        }
        uids.len()
    }

    /// Upstream's Activate: these pods, if backing off or unschedulable, go to active now
    /// (a gang member waiting at Permit calls its siblings).
    pub fn activate(&mut self, uids: &std::collections::HashSet<String>) {
        for uid in uids {
            let p = if self.unschedulable.get(uid).is_some_and(|p| !p.gated) {
                self.unschedulable.remove(uid)
            } else {
                self.backoff.remove(uid, &backoff_less)
            };
            if let Some(p) = p {
                self.push_active(p);
            }
        }
    }

    /// Backoff done: to active.
    pub fn flush_backoff_completed(&mut self, now: Instant) {
        while self
            .backoff
            .peek()
            .is_some_and(|p| backoff_expiry(p) <= now)
        {
            if let Some(p) = self.backoff.pop(&backoff_less) {
                self.push_active(p);
            }
        }
    }

    /// Pods unschedulable for longer than POD_MAX_IN_UNSCHEDULABLE get another try.
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) {
        let uids: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, p)| !p.gated && now.duration_since(p.timestamp) > POD_MAX_IN_UNSCHEDULABLE)
            .map(|(u, _)| u.clone())
            .collect();
        for uid in uids {
            if let Some(p) = self.unschedulable.remove(&uid) {
                self.requeue(p, now);
            }
        }
    }

    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.backoff.peek().map(backoff_expiry)
    }

    /// Every pod the queue holds, in any part.
    pub fn uids(&self) -> Vec<String> {
        self.active
            .values()
            .chain(self.backoff.values())
            .map(|p| p.pod.uid.clone())
            .chain(self.unschedulable.keys().cloned())
            .chain(self.in_flight.keys().cloned())
            .collect()
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// (active, backoff, unschedulable, in flight), for logs and tests.
    pub fn lengths(&self) -> (usize, usize, usize, usize) {
        (
            self.active.len(),
            self.backoff.len(),
            self.unschedulable.len(),
            self.in_flight.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{ActionType, EventResource};
    use serde_json::json;

    fn pod(uid: &str, priority: i32, gated: bool) -> Arc<PodInfo> {
        let mut spec = json!({"priority": priority, "containers": [{"name": "c"}]});
        if gated {
            spec["schedulingGates"] = json!([{"name": "wait"}]);
        }
        Arc::new(PodInfo::new(
            serde_json::from_value(json!({"metadata": {"name": uid, "uid": uid}, "spec": spec}))
                .expect("pod"),
        ))
    }

    fn queue() -> SchedulingQueue {
        let events = HashMap::from([(
            "NodeResourcesFit",
            vec![ClusterEvent::new(
                EventResource::AssignedPod,
                ActionType::DELETE,
            )],
        )]);
        SchedulingQueue::new(
            Box::new(|a, b| {
                a.pod.priority > b.pod.priority
                    || (a.pod.priority == b.pod.priority && a.timestamp < b.timestamp)
            }),
            events,
        )
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let got: Vec<u64> = (1..=6).map(|a| backoff_duration(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn priority_then_arrival() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("low", 0, false), t);
        q.add(pod("high", 10, false), t + Duration::from_millis(1));
        q.add(pod("low2", 0, false), t + Duration::from_millis(2));
        let order: Vec<String> =
            std::iter::from_fn(|| q.pop().map(|p| p.pod.uid.clone())).collect();
        assert_eq!(order, ["high", "low", "low2"]);
    }

    #[test]
    fn unschedulable_pods_move_on_relevant_events_only() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, false), t);
        let mut p = q.pop().expect("pod");
        p.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(p, t);
        assert_eq!(q.lengths(), (0, 0, 1, 0));
        let irrelevant = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);
        assert_eq!(q.move_all_to_active_or_backoff(irrelevant, t), 0);
        let freed = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
        assert_eq!(q.move_all_to_active_or_backoff(freed, t), 1);
        // Still within its 1s backoff.
        assert_eq!(q.lengths(), (0, 1, 0, 0));
        q.flush_backoff_completed(t + Duration::from_secs(1));
        assert_eq!(q.lengths(), (1, 0, 0, 0));
    }

    #[test]
    fn a_move_during_the_attempt_sends_the_pod_to_backoff() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, false), t);
        let mut p = q.pop().expect("pod");
        q.move_all_to_active_or_backoff(ClusterEvent::ANY, t);
        p.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(p, t);
        assert_eq!(q.lengths(), (0, 1, 0, 0));
    }

    #[test]
    fn activated_pods_skip_backoff_and_events() {
        let mut q = queue();
        let t = Instant::now();
        for uid in ["parked", "backing"] {
            q.add(pod(uid, 0, false), t);
            let mut p = q.pop().expect("pod");
            if uid == "parked" {
                p.unschedulable_plugins.insert("NodeResourcesFit");
            }
            q.add_unschedulable(p, t);
        }
        q.add(pod("gated", 0, true), t);
        assert_eq!(q.lengths(), (0, 1, 2, 0));
        let uids = ["parked", "backing", "gated", "unknown"].map(String::from);
        q.activate(&uids.into_iter().collect());
        assert_eq!(q.lengths(), (2, 0, 1, 0));
    }

    #[test]
    fn leftovers_flush_after_five_minutes() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, false), t);
        let mut p = q.pop().expect("pod");
        p.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(p, t);
        q.flush_unschedulable_leftover(t + Duration::from_secs(299));
        assert_eq!(q.lengths(), (0, 0, 1, 0));
        q.flush_unschedulable_leftover(t + Duration::from_secs(301));
        assert_eq!(q.lengths(), (1, 0, 0, 0));
    }

    #[test]
    fn gated_pods_wait_for_their_gates() {
        let mut q = queue();
        let t = Instant::now();
        q.add(pod("g", 0, true), t);
        assert!(q.pop().is_none());
        q.move_all_to_active_or_backoff(ClusterEvent::ANY, t);
        assert!(q.pop().is_none());
        q.update(pod("g", 0, false), t);
        assert_eq!(q.pop().map(|p| p.attempts), Some(1));
    }
}
