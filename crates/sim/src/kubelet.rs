//! The kubelet's part for pods bound to simulated nodes: one watch on all pods, filtered by
//! node name; each pod gets an address from its node's range and a task that walks it
//! through its behaviour's steps; deleted pods are confirmed gone.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};

use crate::behavior::{backoff, Behavior, Plan, BEHAVIOR_ANNOTATION};
use crate::pod_status::{self, Placement, Step};
use crate::{clock, Error, Shared};

/// Status writes in flight at once, so thousands of new pods don't open thousands of
/// connections.
const WRITERS: usize = 64;
/// A kubelet finishes a deleted pod after its grace period; simulated containers stop at
/// once, so no pod waits longer than this.
const MAX_GRACE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Tracked {
    node: usize,
    ip: Option<u32>,
    task: Option<AbortHandle>,
    started: bool,
    deleting: bool,
}

/// Addresses handed out in one node's pod range (offsets from its base).
struct Ipam {
    next: u32,
    end: u32,
    free: Vec<u32>,
    used: HashSet<u32>,
}

impl Ipam {
    fn new(size: u64) -> Ipam {
        // .0 is the network, .1 the bridge gateway, the last the broadcast address.
        Ipam {
            next: 2,
            end: size.saturating_sub(1).min(u64::from(u32::MAX)) as u32,
            free: Vec::new(),
            used: HashSet::new(),
        }
    }

    fn alloc(&mut self) -> Option<u32> {
        loop {
            let candidate = match self.free.pop() {
                Some(o) => o,
                None if self.next < self.end => {
                    self.next += 1;
                    self.next - 1
                }
                None => return None,
            };
            if self.used.insert(candidate) {
                return Some(candidate);
            }
        }
    }

    fn release(&mut self, offset: u32) {
        if self.used.remove(&offset) {
            self.free.push(offset);
        }
    }
}

struct Kubelet {
    shared: Arc<Shared>,
    pods: HashMap<String, Tracked>,
    ipam: Vec<Ipam>,
    tasks: JoinSet<()>,
    writers: Arc<Semaphore>,
}

pub async fn run(shared: Arc<Shared>) -> Result<(), Error> {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let ipam = shared
        .nodes
        .iter()
        .map(|n| Ipam::new(n.pod_cidr.size()))
        .collect();
    let mut k = Kubelet {
        shared,
        pods: HashMap::new(),
        ipam,
        tasks: JoinSet::new(),
        writers: Arc::new(Semaphore::new(WRITERS)),
    };
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut relisted: Option<HashSet<String>> = None;
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                None => return Ok(()),
                Some(Err(e)) => tracing::warn!(error = %e, "watching pods"),
                Some(Ok(Event::Init)) => relisted = Some(HashSet::new()),
                Some(Ok(Event::InitApply(pod))) => {
                    if let (Some(seen), Some(uid)) = (relisted.as_mut(), pod.metadata.uid.as_ref()) {
                        seen.insert(uid.clone());
                    }
                    k.apply(pod);
                }
                Some(Ok(Event::InitDone)) => {
                    // Pods deleted while the watch was down left no Delete event.
                    if let Some(seen) = relisted.take() {
                        let gone: Vec<String> = k.pods.keys().filter(|u| !seen.contains(*u)).cloned().collect();
                        for uid in gone {
                            k.forget(&uid);
                        }
                    }
                }
                Some(Ok(Event::Apply(pod))) => k.apply(pod),
                Some(Ok(Event::Delete(pod))) => {
                    if let Some(uid) = pod.metadata.uid.as_deref() {
                        k.forget(uid);
                    }
                }
            },
            Some(_) = k.tasks.join_next(), if !k.tasks.is_empty() => {}
        }
    }
}

impl Kubelet {
    fn apply(&mut self, pod: Pod) {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(|n| self.shared.by_name.get(n).copied())
        else {
            return;
        };
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let entry = self.pods.entry(uid.clone()).or_insert_with(|| Tracked {
            node,
            ..Tracked::default()
        });
        if pod.metadata.deletion_timestamp.is_some() {
            if !entry.deleting {
                entry.deleting = true;
                if let Some(t) = entry.task.take() {
                    t.abort();
                }
                self.tasks
                    .spawn(finish_deleted(self.shared.clone(), pod, uid));
            }
            return;
        }
        if entry.started {
            return;
        }
        let status = pod.status.clone().unwrap_or_default();
        let existing_ip = status
            .pod_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
            .and_then(|ip| self.shared.nodes[node].pod_cidr.offset(ip));
        if let Some(offset) = existing_ip {
            self.ipam[node].used.insert(offset);
            entry.ip = Some(offset);
        }
        let phase = status.phase.as_deref().unwrap_or("Pending");
        if matches!(phase, "Succeeded" | "Failed") {
            entry.started = true;
            return;
        }
        // Running with an address: started by an earlier run of the simulator.
        let resumed = phase == "Running" && entry.ip.is_some();
        if entry.ip.is_none() {
            entry.ip = self.ipam[node].alloc();
        }
        let Some(offset) = entry.ip else {
            tracing::warn!(node = %self.shared.nodes[node].name, pod = ?pod.metadata.name, "no pod addresses left in the node's range; the pod stays Pending");
            return;
        };
        entry.started = true;
        let annotation = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(BEHAVIOR_ANNOTATION))
            .map(String::as_str)
            .unwrap_or("run");
        let behavior = Behavior::parse(annotation).unwrap_or_else(|e| {
            tracing::warn!(pod = ?pod.metadata.name, "{e}; running it");
            Behavior::Run
        });
        let restart_policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let n = &self.shared.nodes[node];
        let started = match status.start_time.as_ref() {
            Some(t) if resumed => t.0.to_string(),
            _ => clock::time(clock::now()),
        };
        let life = PodLife {
            api: Api::namespaced(
                self.shared.client.clone(),
                pod.metadata.namespace.as_deref().unwrap_or("default"),
            ),
            host_ip: n.internal_ip.to_string(),
            pod_ip: n.pod_cidr.host(offset).to_string(),
            started,
            plan: behavior.plan(&restart_policy),
            resumed,
            writers: self.writers.clone(),
            pod,
        };
        entry.task = Some(self.tasks.spawn(life.run()));
    }

    fn forget(&mut self, uid: &str) {
        if let Some(t) = self.pods.remove(uid) {
            if let Some(task) = t.task {
                task.abort();
            }
            if let Some(ip) = t.ip {
                self.ipam[t.node].release(ip);
            }
        }
    }
}

/// One pod's walk through its plan.
struct PodLife {
    api: Api<Pod>,
    pod: Pod,
    host_ip: String,
    pod_ip: String,
    started: String,
    plan: Plan,
    resumed: bool,
    writers: Arc<Semaphore>,
}

impl PodLife {
    async fn run(self) {
        let _ = self.walk().await;
    }

    /// Ends early (Err) once the pod is gone.
    async fn walk(&self) -> Result<(), ()> {
        match self.plan {
            Plan::Run { ready } => {
                if !self.resumed {
                    self.post(Step::Running {
                        ready,
                        restarts: 0,
                        last_exit: None,
                    })
                    .await?;
                }
            }
            Plan::Terminal { after, code } => {
                if !self.resumed {
                    self.post(Step::Running {
                        ready: true,
                        restarts: 0,
                        last_exit: None,
                    })
                    .await?;
                }
                tokio::time::sleep(self.remaining(after)).await;
                self.post(Step::Exited { code }).await?;
            }
            Plan::CrashLoop { run_for, code } => {
                let mut restarts = 0u32;
                let mut last_exit = None;
                loop {
                    self.post(Step::Running {
                        ready: true,
                        restarts,
                        last_exit,
                    })
                    .await?;
                    tokio::time::sleep(run_for).await;
                    let wait = backoff(restarts);
                    self.post(Step::BackOff {
                        restarts,
                        exit: code,
                        backoff_s: wait.as_secs(),
                    })
                    .await?;
                    tokio::time::sleep(wait).await;
                    restarts += 1;
                    last_exit = Some(code);
                }
            }
        }
        Ok(())
    }

    /// Time left of `after`, counted from the pod's start.
    fn remaining(&self, after: Duration) -> Duration {
        let Some(started) = clock::parse(&self.started) else {
            return after;
        };
        let elapsed = (clock::now() - started).max(time::Duration::ZERO);
        after.saturating_sub(elapsed.try_into().unwrap_or(Duration::ZERO))
    }

    async fn post(&self, step: Step) -> Result<(), ()> {
        let at = Placement {
            host_ip: &self.host_ip,
            pod_ip: &self.pod_ip,
            started: &self.started,
        };
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let mut delay = Duration::from_millis(200);
        loop {
            let body = pod_status::patch(&self.pod, &at, step, &clock::time(clock::now()));
            let result = {
                let _permit = self.writers.acquire().await.map_err(|_| ())?;
                self.api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
                    .await
            };
            match result {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => return Err(()),
                Err(e) => {
                    tracing::warn!(pod = %name, error = %e, "posting pod status; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// A deleted pod's containers "stop" at once; then the pod is removed for good, which the
/// apiserver waits for before a bound pod disappears.
async fn finish_deleted(shared: Arc<Shared>, pod: Pod, uid: String) {
    let grace = pod
        .metadata
        .deletion_grace_period_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(MAX_GRACE)
        .min(MAX_GRACE);
    tokio::time::sleep(grace).await;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(
        shared.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let mut delay = Duration::from_millis(200);
    for _ in 0..8 {
        match api.delete(&name, &params).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return,
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "removing deleted pod; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipam_hands_out_and_reuses() {
        let mut ipam = Ipam::new(8); // a /29: offsets 2..=6 usable
        let got: Vec<Option<u32>> = (0..6).map(|_| ipam.alloc()).collect();
        assert_eq!(got, [Some(2), Some(3), Some(4), Some(5), Some(6), None]);
        ipam.release(4);
        ipam.release(4);
        assert_eq!(ipam.alloc(), Some(4));
        assert_eq!(ipam.alloc(), None);
        let mut adopted = Ipam::new(8);
        adopted.used.insert(2);
        assert_eq!(adopted.alloc(), Some(3));
    }
}
