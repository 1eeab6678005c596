//! The scheduler's runtime: watches feed the cache and the queue through one channel; a
//! single loop pops pods and runs their scheduling cycle against a snapshot; binding
//! cycles (Permit wait, PreBind, Bind, PostBind) run as tasks, many at once, and report
//! back through the same channel, so the loop never waits on the API.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, Semaphore};

use crate::api;
use crate::cache::Cache;
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Framework, Handle, PermitWait, PodInfo,
    QueuedPodInfo, ScheduleError, Snapshot, Status, Stores, WaitingPods,
};
use crate::queue::SchedulingQueue;

/// Pods that ask for this scheduler (or for none) are ours.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Bindings in flight at once.
pub const MAX_CONCURRENT_BINDS: usize = 64;
/// Status and event writes in flight at once (below binds: binding is what users wait on).
const MAX_CONCURRENT_REPORTS: usize = 16;
/// Informational events waiting beyond this many are dropped, as upstream's event
/// broadcaster drops events when its queue is full: scheduling must not slow down
/// because the API is busy recording that it scheduled.
const MAX_QUEUED_EVENTS: usize = 1000;

enum Msg {
    Pod(watcher::Event<Arc<Pod>>),
    Node(Box<watcher::Event<Node>>),
    /// A storage object changed (claims, volumes, classes): pods VolumeBinding turned away
    /// may fit now.
    Storage(EventResource),
    BindDone {
        qpi: QueuedPodInfo,
        node: String,
        status: Status,
    },
}

/// Schedules until the process ends. `pods` is the cache of every pod and `pod_events`
/// its changes as watch events, both from the process's shared pod informer: the
/// scheduler keeps no pod cache of its own beyond what its node infos reference.
pub async fn run<S>(client: Client, pods: Store<Pod>, pod_events: S)
where
    S: futures::Stream<Item = watcher::Event<Arc<Pod>>> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let pod_tx = tx.clone();
    tokio::spawn(async move {
        futures::pin_mut!(pod_events);
        while let Some(event) = pod_events.next().await {
            if pod_tx.send(Msg::Pod(event)).is_err() {
                return;
            }
        }
    });
    let stores = Stores {
        pods,
        nodes: follow(
            Api::all(client.clone()),
            Some((tx.clone(), |e| Msg::Node(Box::new(e)))),
        ),
        namespaces: follow(Api::all(client.clone()), None),
        services: follow(Api::all(client.clone()), None),
        replica_sets: follow(Api::all(client.clone()), None),
        stateful_sets: follow(Api::all(client.clone()), None),
        pdbs: follow(Api::all(client.clone()), None),
        pvcs: follow(
            Api::all(client.clone()),
            Some((tx.clone(), |_| {
                Msg::Storage(EventResource::PersistentVolumeClaim)
            })),
        ),
        pvs: follow(
            Api::all(client.clone()),
            Some((tx.clone(), |_| {
                Msg::Storage(EventResource::PersistentVolume)
            })),
        ),
        storage_classes: follow(
            Api::all(client.clone()),
            Some((tx.clone(), |_| Msg::Storage(EventResource::StorageClass))),
        ),
    };
    let handle = Arc::new(Handle {
        client: Some(client.clone()),
        stores,
        waiting_pods: WaitingPods::default(),
        nominator: Arc::default(),
        activator: Default::default(),
    });
    let fw = Arc::new(Framework::new(handle.clone(), &crate::plugins::registry()));
    let less_fw = fw.clone();
    let queue = SchedulingQueue::new(
        Box::new(move |a, b| less_fw.queue_less(a, b)),
        fw.events_by_plugin(),
    );
    let mut s = Scheduler {
        fw,
        handle,
        client,
        cache: Cache::new(),
        queue,
        snapshot: Snapshot::default(),
        next_start: 0,
        tx,
        bind_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_BINDS)),
        report_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_REPORTS)),
        queued_events: Arc::default(),
        reported: HashMap::new(),
        relist_pods: None,
        relist_nodes: None,
    };
    s.run(rx).await;
}

/// Runs a reflector for `api` in the background; with `forward`, every event also goes
/// to the scheduling loop.
type Forward<K> = (mpsc::UnboundedSender<Msg>, fn(watcher::Event<K>) -> Msg);

fn follow<K>(api: Api<K>, forward: Option<Forward<K>>) -> Store<K>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store();
    // managedFields are a large part of every object and nothing here reads them.
    let events =
        watcher(api, watcher::Config::default()).modify(|o| o.managed_fields_mut().clear());
    let stream = reflector::reflector(writer, events).default_backoff();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => {
                    if let Some((tx, wrap)) = &forward {
                        if tx.send(wrap(ev)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "scheduler watch"),
            }
        }
    });
    store
}

struct Scheduler {
    fw: Arc<Framework>,
    handle: Arc<Handle>,
    client: Client,
    cache: Cache,
    queue: SchedulingQueue,
    snapshot: Snapshot,
    next_start: usize,
    tx: mpsc::UnboundedSender<Msg>,
    bind_slots: Arc<Semaphore>,
    report_slots: Arc<Semaphore>,
    /// Informational events queued or in flight.
    queued_events: Arc<std::sync::atomic::AtomicUsize>,
    /// The failure last reported per pod, so an unchanged one is not written again.
    reported: HashMap<String, String>,
    /// Objects seen since a watch restarted; what is missing at the end was deleted.
    relist_pods: Option<HashSet<String>>,
    relist_nodes: Option<HashSet<String>>,
}

/// Where the loop's time goes, logged at debug level every few seconds while busy.
struct Stats {
    since: Instant,
    cycles: u64,
    cycle_time: Duration,
    events: u64,
    event_time: Duration,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            since: Instant::now(),
            cycles: 0,
            cycle_time: Duration::ZERO,
            events: 0,
            event_time: Duration::ZERO,
        }
    }
}

impl Stats {
    fn report(&mut self, queue: &SchedulingQueue) {
        if self.cycles > 0 {
            let (active, backoff, unschedulable, in_flight) = queue.lengths();
            tracing::debug!(
                cycles = self.cycles,
                cycle_us = (self.cycle_time.as_micros() as u64) / self.cycles,
                events = self.events,
                event_ms = self.event_time.as_millis() as u64,
                window_ms = self.since.elapsed().as_millis() as u64,
                active,
                backoff,
                unschedulable,
                in_flight,
                "scheduling loop"
            );
        }
        *self = Stats::default();
    }
}

fn is_terminal(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn is_ours(p: &Pod) -> bool {
    p.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME)
}

impl Scheduler {
    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut last_cleanup = Instant::now();
        let mut last_flush = Instant::now();
        let mut cycles: u64 = 0;
        let mut stats = Stats::default();
        loop {
            let t = Instant::now();
            while let Ok(m) = rx.try_recv() {
                self.handle_msg(m);
                stats.events += 1;
            }
            stats.event_time += t.elapsed();
            let now = Instant::now();
            if now.duration_since(stats.since) >= Duration::from_secs(5) {
                stats.report(&self.queue);
            }
            let activate = self.handle.activator.take();
            if !activate.is_empty() {
                self.queue.activate(&activate);
            }
            self.queue.flush_backoff_completed(now);
            if now.duration_since(last_cleanup) >= Duration::from_secs(1) {
                last_cleanup = now;
                if self.cache.cleanup_expired(now) > 0 {
                    self.move_all(EventResource::AssignedPod, ActionType::DELETE);
                }
            }
            if now.duration_since(last_flush) >= Duration::from_secs(30) {
                last_flush = now;
                self.queue.flush_unschedulable_leftover(now);
            }
            if let Some(qpi) = self.queue.pop() {
                let t = Instant::now();
                self.schedule_one(qpi);
                stats.cycle_time += t.elapsed();
                stats.cycles += 1;
                cycles += 1;
                if cycles.is_multiple_of(16) {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            let wake = self
                .queue
                .next_backoff_expiry()
                .unwrap_or(now + Duration::from_secs(1))
                .min(now + Duration::from_secs(1));
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => self.handle_msg(m),
                    None => return,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn move_all(&mut self, resource: EventResource, action: ActionType) {
        self.queue
            .move_all_to_active_or_backoff(ClusterEvent::new(resource, action), Instant::now());
    }

    fn handle_msg(&mut self, m: Msg) {
        match m {
            Msg::Pod(ev) => match ev {
                watcher::Event::Apply(p) => self.on_pod(p),
                watcher::Event::Delete(p) => self.on_pod_deleted(&p),
                watcher::Event::Init => self.relist_pods = Some(HashSet::new()),
                watcher::Event::InitApply(p) => {
                    if let (Some(seen), Some(uid)) = (&mut self.relist_pods, &p.metadata.uid) {
                        seen.insert(uid.clone());
                    }
                    self.on_pod(p);
                }
                watcher::Event::InitDone => self.finish_pod_relist(),
            },
            Msg::Node(ev) => match *ev {
                watcher::Event::Apply(n) => self.on_node(n),
                watcher::Event::Delete(n) => {
                    self.cache
                        .remove_node(n.metadata.name.as_deref().unwrap_or(""));
                    // Fewer domains can lower a spread's skew (PodTopologySpread).
                    self.move_all(EventResource::Node, ActionType::DELETE);
                }
                watcher::Event::Init => self.relist_nodes = Some(HashSet::new()),
                watcher::Event::InitApply(n) => {
                    if let (Some(seen), Some(name)) = (&mut self.relist_nodes, &n.metadata.name) {
                        seen.insert(name.clone());
                    }
                    self.on_node(n);
                }
                watcher::Event::InitDone => {
                    if let Some(seen) = self.relist_nodes.take() {
                        for name in self.cache.node_names() {
                            if !seen.contains(&name) {
                                self.cache.remove_node(&name);
                            }
                        }
                    }
                }
            },
            Msg::Storage(resource) => self.move_all(resource, ActionType::ALL),
            Msg::BindDone { qpi, node, status } => self.on_bind_done(qpi, node, status),
        }
    }

    fn finish_pod_relist(&mut self) {
        let Some(seen) = self.relist_pods.take() else {
            return;
        };
        let gone: Vec<String> = self
            .cache_and_queue_uids()
            .into_iter()
            .filter(|u| !seen.contains(u))
            .collect();
        for uid in gone {
            self.forget_deleted_pod(&uid);
        }
    }

    fn cache_and_queue_uids(&self) -> HashSet<String> {
        let mut uids: HashSet<String> = self.cache.pod_uids().collect();
        uids.extend(self.queue.uids());
        uids
    }

    fn on_node(&mut self, n: Node) {
        if let Some(action) = self.cache.add_or_update_node(n) {
            self.move_all(EventResource::Node, action);
        }
    }

    fn on_pod(&mut self, p: Arc<Pod>) {
        let pod = Arc::new(PodInfo::from_arc(p));
        let uid = pod.uid.clone();
        let terminal = is_terminal(&pod.pod);
        let nominated = pod.nominated_node_name().to_string();
        if !pod.node_name().is_empty() {
            self.handle.nominator_mut().remove(&uid);
            if self.queue.contains(&uid) && !self.queue.is_in_flight(&uid) {
                // Bound by someone else.
                self.queue.delete(&uid);
            }
            self.reported.remove(&uid);
            if terminal {
                if self.cache.remove_pod(&uid) {
                    self.move_all(
                        EventResource::AssignedPod,
                        ActionType::DELETE.union(ActionType::UPDATE_POD_SCALE_DOWN),
                    );
                }
            } else if let Some(action) = self.cache.add_or_update_pod(pod) {
                self.move_all(EventResource::AssignedPod, action);
            }
            return;
        }
        if terminal || pod.is_terminating() || !is_ours(&pod.pod) {
            self.handle.nominator_mut().remove(&uid);
            self.queue.delete(&uid);
            return;
        }
        if nominated.is_empty() {
            self.handle.nominator_mut().remove(&uid);
        } else {
            self.handle.nominator_mut().add(pod.clone(), &nominated);
        }
        if self.cache.is_assumed(&uid) {
            return;
        }
        let new = !self.queue.contains(&uid);
        let gated = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_some_and(|g| !g.is_empty());
        if gated
            && !api::condition_is(
                &pod.pod,
                api::SCHEDULING_GATED,
                api::SCHEDULING_GATED_MESSAGE,
            )
        {
            self.spawn_report(pod.clone(), |c, p| async move {
                api::report_gated(&c, &p).await
            });
        }
        self.queue.add(pod, Instant::now());
        // A new pending pod may complete what others wait for (a gang's members).
        if new && self.queue.lengths().2 > 0 {
            self.move_all(EventResource::UnscheduledPod, ActionType::ADD);
        }
    }

    fn on_pod_deleted(&mut self, p: &Pod) {
        if let Some(uid) = &p.metadata.uid {
            self.forget_deleted_pod(uid);
        }
    }

    fn forget_deleted_pod(&mut self, uid: &str) {
        self.handle.nominator_mut().remove(uid);
        self.handle
            .waiting_pods
            .reject(uid, "", "pod was deleted while waiting at Permit");
        self.queue.delete(uid);
        self.reported.remove(uid);
        if self.cache.remove_pod(uid) {
            self.move_all(EventResource::AssignedPod, ActionType::DELETE);
        }
    }

    fn schedule_one(&mut self, mut qpi: QueuedPodInfo) {
        let pod = qpi.pod.clone();
        self.cache.update_snapshot(&mut self.snapshot);
        let mut state = CycleState::new();
        match self
            .fw
            .schedule_pod(&mut state, &pod, &self.snapshot, &mut self.next_start)
        {
            Ok(r) => self.assume_and_bind(qpi, state, r.node),
            Err(ScheduleError::Fit(mut fe)) => {
                let mut nominated = None;
                if self.fw.has_post_filter_plugins() {
                    let (res, s) = self.fw.run_post_filter(
                        &mut state,
                        &pod,
                        &self.snapshot,
                        &fe.diagnosis.node_to_status,
                    );
                    if !s.reasons().is_empty() {
                        fe.diagnosis.post_filter_msg = Some(s.message());
                    }
                    nominated = res.and_then(|r| r.nominated_node_name);
                }
                qpi.unschedulable_plugins =
                    fe.diagnosis.unschedulable_plugins.iter().copied().collect();
                tracing::trace!(pod = %pod.name, message = %fe.message(), "unschedulable");
                self.fail(qpi, "Unschedulable", fe.message(), nominated);
            }
            Err(ScheduleError::Error(s)) => {
                qpi.unschedulable_plugins.clear();
                tracing::warn!(pod = %pod.name, error = %s.message(), "scheduling error");
                self.fail(qpi, "SchedulerError", s.message(), None);
            }
        }
    }

    fn assume_and_bind(&mut self, mut qpi: QueuedPodInfo, mut state: CycleState, node: String) {
        let pod = qpi.pod.clone();
        self.cache.assume_pod(pod.clone(), &node);
        let s = self.fw.run_reserve(&mut state, &pod, &node);
        if !s.is_success() {
            self.fw.run_unreserve(&state, &pod, &node);
            self.cache.forget_pod(&pod.uid);
            self.set_rejector(&mut qpi, &s);
            self.fail(qpi, reason_of(&s), s.message(), None);
            return;
        }
        let wait = match self.fw.run_permit(&mut state, &pod, &node) {
            Ok(w) => w,
            Err(s) => {
                self.fw.run_unreserve(&state, &pod, &node);
                self.cache.forget_pod(&pod.uid);
                self.set_rejector(&mut qpi, &s);
                self.fail(qpi, reason_of(&s), s.message(), None);
                return;
            }
        };
        self.handle.nominator_mut().remove(&pod.uid);
        state.drop_scheduling_data();
        let (fw, tx, slots) = (self.fw.clone(), self.tx.clone(), self.bind_slots.clone());
        tokio::spawn(async move {
            let status = binding_cycle(&fw, &slots, &state, &pod, &node, wait).await;
            let _ = tx.send(Msg::BindDone { qpi, node, status });
        });
    }

    fn set_rejector(&self, qpi: &mut QueuedPodInfo, s: &Status) {
        qpi.unschedulable_plugins.clear();
        if s.is_rejected() && !s.plugin().is_empty() {
            qpi.unschedulable_plugins.insert(s.plugin());
        }
    }

    fn on_bind_done(&mut self, mut qpi: QueuedPodInfo, node: String, status: Status) {
        let uid = qpi.pod.uid.clone();
        if status.is_success() {
            self.cache.finish_binding(&uid, Instant::now());
            self.queue.done(&uid);
            self.reported.remove(&uid);
            let message = format!(
                "Successfully assigned {}/{} to {node}",
                qpi.pod.namespace, qpi.pod.name
            );
            tracing::trace!(pod = %qpi.pod.name, %node, "bound");
            use std::sync::atomic::Ordering;
            if self.queued_events.load(Ordering::Relaxed) >= MAX_QUEUED_EVENTS {
                tracing::debug!(pod = %qpi.pod.name, "event queue full; Scheduled event dropped");
                return;
            }
            self.queued_events.fetch_add(1, Ordering::Relaxed);
            let queued = self.queued_events.clone();
            self.spawn_report(qpi.pod.clone(), move |c, p| async move {
                let r = api::record_event(&c, &p, "Normal", "Scheduled", &message).await;
                queued.fetch_sub(1, Ordering::Relaxed);
                r
            });
            return;
        }
        self.cache.forget_pod(&uid);
        self.move_all(EventResource::AssignedPod, ActionType::DELETE);
        if !self.queue.is_in_flight(&uid) {
            // Deleted while binding.
            return;
        }
        tracing::warn!(pod = %qpi.pod.name, %node, error = %status.message(), "binding failed");
        self.set_rejector(&mut qpi, &status);
        let message = if status.is_rejected() {
            status.message()
        } else {
            format!("Binding rejected: {}", status.message())
        };
        self.fail(qpi, reason_of(&status), message, None);
    }

    /// Back to the queue, and the failure written to the pod unless unchanged.
    fn fail(
        &mut self,
        qpi: QueuedPodInfo,
        reason: &'static str,
        message: String,
        nominated: Option<String>,
    ) {
        let pod = qpi.pod.clone();
        self.queue.add_unschedulable(qpi, Instant::now());
        if let Some(node) = nominated.filter(|n| !n.is_empty()) {
            self.handle.nominator_mut().add(pod.clone(), &node);
            self.spawn_report(pod.clone(), move |c, p| async move {
                api::set_nominated_node(&c, &p, &node).await
            });
        }
        let key = format!("{reason}\n{message}");
        if self.reported.get(&pod.uid) == Some(&key)
            || api::condition_is(&pod.pod, reason, &message)
        {
            return;
        }
        self.reported.insert(pod.uid.clone(), key);
        self.spawn_report(pod, move |c, p| async move {
            api::report_failure(&c, &p, reason, &message).await
        });
    }

    fn spawn_report<F, Fut>(&self, pod: Arc<PodInfo>, f: F)
    where
        F: FnOnce(Client, Arc<PodInfo>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), kube::Error>> + Send,
    {
        let (client, slots) = (self.client.clone(), self.report_slots.clone());
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let name = pod.name.clone();
            if let Err(e) = f(client, pod).await {
                tracing::debug!(pod = %name, error = %e, "writing scheduling outcome");
            }
        });
    }
}

fn reason_of(s: &Status) -> &'static str {
    if s.is_rejected() {
        "Unschedulable"
    } else {
        "SchedulerError"
    }
}

/// Permit wait, PreBind, Bind, PostBind; Unreserve on any failure.
async fn binding_cycle(
    fw: &Framework,
    slots: &Semaphore,
    state: &CycleState,
    pod: &PodInfo,
    node: &str,
    wait: Option<PermitWait>,
) -> Status {
    if let Some(w) = wait {
        let s = fw.wait_on_permit(pod, w).await;
        if !s.is_success() {
            fw.run_unreserve(state, pod, node);
            return s;
        }
    }
    let Ok(_slot) = slots.acquire().await else {
        return Status::error("scheduler shutting down");
    };
    let s = fw.run_pre_bind(state, pod, node).await;
    if !s.is_success() {
        fw.run_unreserve(state, pod, node);
        return s;
    }
    let s = fw.run_bind(state, pod, node).await;
    if !s.is_success() {
        fw.run_unreserve(state, pod, node);
        return s;
    }
    fw.run_post_bind(state, pod, node);
    Status::success()
}
