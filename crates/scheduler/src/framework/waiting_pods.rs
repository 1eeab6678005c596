//! Pods held at Permit. A Permit plugin that returns Wait names itself; the pod binds once
//! every such plugin allowed it, and is unreserved if one rejects it or time runs out.
//! Any plugin can allow or reject a waiting pod by uid (e.g. a gang plugin releasing a
//! whole group from the last member's cycle).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::pod_info::PodInfo;
use super::status::{Code, Status};

/// Upstream caps a Permit wait at 15 minutes.
pub const MAX_PERMIT_WAIT: Duration = Duration::from_secs(15 * 60);

struct Entry {
    pod: Arc<PodInfo>,
    node: String,
    /// Plugins still to allow the pod, with the time each granted.
    pending: BTreeMap<&'static str, Duration>,
    done: Option<oneshot::Sender<Status>>,
}

/// A waiting pod as plugins see it.
#[derive(Debug, Clone)]
pub struct WaitingPod {
    pub pod: Arc<PodInfo>,
    pub node: String,
    pub pending_plugins: Vec<&'static str>,
}

#[derive(Clone, Default)]
pub struct WaitingPods {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for WaitingPods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingPods")
            .field("len", &self.list().len())
            .finish()
    }
}

impl WaitingPods {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a consistent map; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a pod that some Permit plugins asked to wait; the receiver yields the
    /// outcome. The wait ends at the shortest of the plugins' timeouts.
    pub(crate) fn add(
        &self,
        pod: Arc<PodInfo>,
        node: &str,
        pending: BTreeMap<&'static str, Duration>,
    ) -> (oneshot::Receiver<Status>, Duration, &'static str) {
        let (tx, rx) = oneshot::channel();
        let (plugin, timeout) = pending
            .iter()
            .min_by_key(|(_, d)| **d)
            .map(|(p, d)| (*p, (*d).min(MAX_PERMIT_WAIT)))
            .unwrap_or(("", Duration::ZERO));
        self.lock().insert(
            pod.uid.clone(),
            Entry {
                pod,
                node: node.to_string(),
                pending,
                done: Some(tx),
            },
        );
        (rx, timeout, plugin)
    }

    pub(crate) fn remove(&self, uid: &str) {
        self.lock().remove(uid);
    }

    pub fn get(&self, uid: &str) -> Option<WaitingPod> {
        self.lock().get(uid).map(view)
    }

    pub fn list(&self) -> Vec<WaitingPod> {
        self.lock().values().map(view).collect()
    }

    /// `plugin` lets the pod go; it binds once no plugin is left. False if not waiting.
    pub fn allow(&self, uid: &str, plugin: &str) -> bool {
        let mut map = self.lock();
        let Some(e) = map.get_mut(uid) else {
            return false;
        };
        e.pending.remove(plugin);
        if e.pending.is_empty() {
            if let Some(tx) = e.done.take() {
                let _ = tx.send(Status::success());
            }
            map.remove(uid);
        }
        true
    }

    /// Rejects a waiting pod: it is unreserved and goes back to the queue as unschedulable.
    pub fn reject(&self, uid: &str, plugin: &'static str, message: &str) -> bool {
        let Some(mut e) = self.lock().remove(uid) else {
            return false;
        };
        if let Some(tx) = e.done.take() {
            let _ =
                tx.send(Status::new(Code::Unschedulable, message.to_string()).with_plugin(plugin));
        }
        true
    }
}

fn view(e: &Entry) -> WaitingPod {
    WaitingPod {
        pod: e.pod.clone(),
        node: e.node.clone(),
        pending_plugins: e.pending.keys().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(
            serde_json::from_value(serde_json::json!({"metadata": {"name": uid, "uid": uid}}))
                .expect("pod"),
        ))
    }

    #[test]
    fn allow_by_every_plugin_then_reject() {
        let w = WaitingPods::default();
        let pending =
            BTreeMap::from([("A", Duration::from_secs(5)), ("B", Duration::from_secs(1))]);
        let (mut rx, timeout, plugin) = w.add(pod("u1"), "n1", pending);
        assert_eq!((timeout, plugin), (Duration::from_secs(1), "B"));
        assert!(w.allow("u1", "A"));
        assert!(rx.try_recv().is_err(), "B has not allowed yet");
        assert_eq!(w.get("u1").map(|p| p.pending_plugins), Some(vec!["B"]));
        assert!(w.allow("u1", "B"));
        assert_eq!(rx.try_recv().map(|s| s.is_success()), Ok(true));
        assert!(w.get("u1").is_none());

        let (mut rx, _, _) = w.add(
            pod("u2"),
            "n1",
            BTreeMap::from([("A", Duration::from_secs(5))]),
        );
        assert!(w.reject("u2", "Gang", "gang broken"));
        let s = rx.try_recv().expect("status");
        assert_eq!(
            (s.code(), s.message(), s.plugin()),
            (Code::Unschedulable, "gang broken".into(), "Gang")
        );
        assert!(!w.allow("u2", "A"));
    }
}
