//! Cluster events the queue reacts to: a pod some plugins rejected goes back to the active
//! queue only on an event one of those plugins registered for.

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResource {
    Node,
    /// A pod already bound (or assumed) to a node.
    AssignedPod,
    /// A pod not yet bound (its own spec changed, or another pending pod changed).
    UnscheduledPod,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    Namespace,
    /// Matches every resource.
    Any,
}

/// What happened, as a bit set (an update may change several things at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionType(pub u32);

impl ActionType {
    pub const ADD: ActionType = ActionType(1);
    pub const DELETE: ActionType = ActionType(1 << 1);
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// Taints, and `spec.unschedulable` (upstream counts a cordon as a taint change).
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    pub const UPDATE_NODE_IMAGES: ActionType = ActionType(1 << 6);
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    /// A pod's requests went down, or it finished (its resources are free again).
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    pub const UPDATE_POD_TOLERATIONS: ActionType = ActionType(1 << 9);
    /// Any other update.
    pub const UPDATE_OTHER: ActionType = ActionType(1 << 10);
    pub const UPDATE: ActionType = ActionType(((1 << 11) - 1) & !3);
    pub const ALL: ActionType = ActionType(u32::MAX);

    pub fn union(self, o: ActionType) -> ActionType {
        ActionType(self.0 | o.0)
    }

    pub fn intersects(self, o: ActionType) -> bool {
        self.0 & o.0 != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    pub resource: EventResource,
    pub action: ActionType,
}

impl ClusterEvent {
    pub const ANY: ClusterEvent = ClusterEvent {
        resource: EventResource::Any,
        action: ActionType::ALL,
    };
    /// Pods left over in the unschedulable map for too long.
    pub const FLUSH: ClusterEvent = ClusterEvent::ANY;

    pub const fn new(resource: EventResource, action: ActionType) -> ClusterEvent {
        ClusterEvent { resource, action }
    }

    /// Whether a plugin registered for `self` cares about `event`.
    pub fn covers(&self, event: &ClusterEvent) -> bool {
        (self.resource == EventResource::Any
            || event.resource == EventResource::Any
            || self.resource == event.resource)
            && self.action.intersects(event.action)
    }
}
