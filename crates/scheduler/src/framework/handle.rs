//! What plugins may reach beyond the pod and the snapshot: the API client, informer caches,
//! the pods waiting at Permit and the pods nominated to nodes by preemption.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::Store;
use kube::Client;

use super::pod_info::PodInfo;
use super::waiting_pods::WaitingPods;

/// Informer caches, kept current by the scheduler's watches.
#[derive(Clone)]
pub struct Stores {
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub namespaces: Store<Namespace>,
    pub services: Store<Service>,
    pub replica_sets: Store<ReplicaSet>,
    pub stateful_sets: Store<StatefulSet>,
    pub pdbs: Store<PodDisruptionBudget>,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub pvs: Store<PersistentVolume>,
    pub storage_classes: Store<StorageClass>,
}

impl Stores {
    /// Stores nothing feeds (unit tests).
    pub fn empty() -> Stores {
        Stores {
            pods: kube::runtime::reflector::store().0,
            nodes: kube::runtime::reflector::store().0,
            namespaces: kube::runtime::reflector::store().0,
            services: kube::runtime::reflector::store().0,
            replica_sets: kube::runtime::reflector::store().0,
            stateful_sets: kube::runtime::reflector::store().0,
            pdbs: kube::runtime::reflector::store().0,
            pvcs: kube::runtime::reflector::store().0,
            pvs: kube::runtime::reflector::store().0,
            storage_classes: kube::runtime::reflector::store().0,
        }
    }

    /// The labels of namespace `name` (empty if unknown).
    pub fn namespace_labels(&self, name: &str) -> std::collections::BTreeMap<String, String> {
        self.namespaces
            .get(&kube::runtime::reflector::ObjectRef::new(name))
            .and_then(|ns| ns.metadata.labels.clone())
            .unwrap_or_default()
    }
}

/// Pods nominated to a node (`status.nominatedNodeName`) by preemption: Filter counts them
/// on their node for pods of lower or equal priority, so the room made stays theirs.
#[derive(Debug, Default)]
pub struct Nominator {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    node_of: HashMap<String, String>,
}

impl Nominator {
    pub fn add(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(&pod.uid);
        self.node_of.insert(pod.uid.clone(), node.to_string());
        self.by_node.entry(node.to_string()).or_default().push(pod);
    }

    pub fn remove(&mut self, uid: &str) {
        if let Some(node) = self.node_of.remove(uid) {
            if let Some(v) = self.by_node.get_mut(&node) {
                v.retain(|p| p.uid != uid);
                if v.is_empty() {
                    self.by_node.remove(&node);
                }
            }
        }
    }

    pub fn pods_for_node(&self, node: &str) -> &[Arc<PodInfo>] {
        self.by_node.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn node_of(&self, uid: &str) -> Option<&str> {
        self.node_of.get(uid).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.node_of.is_empty()
    }
}

/// Pods a plugin wants tried again now, out of backoff or the unschedulable pods
/// (upstream's PodActivator); the scheduling loop hands them to the queue.
#[derive(Debug, Default, Clone)]
pub struct Activator(Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Activator {
    pub fn activate(&self, uids: impl IntoIterator<Item = String>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(uids);
    }

    pub fn take(&self) -> std::collections::HashSet<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

pub struct Handle {
    /// `None` in unit tests; plugins that write to the API report an error without one.
    pub client: Option<Client>,
    pub stores: Stores,
    pub waiting_pods: WaitingPods,
    pub nominator: Arc<RwLock<Nominator>>,
    pub activator: Activator,
}

impl Handle {
    pub fn for_tests() -> Arc<Handle> {
        Arc::new(Handle {
            client: None,
            stores: Stores::empty(),
            waiting_pods: WaitingPods::default(),
            nominator: Arc::default(),
            activator: Activator::default(),
        })
    }

    pub fn nominator(&self) -> std::sync::RwLockReadGuard<'_, Nominator> {
        self.nominator.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn nominator_mut(&self) -> std::sync::RwLockWriteGuard<'_, Nominator> {
        self.nominator.write().unwrap_or_else(|e| e.into_inner())
    }
}
