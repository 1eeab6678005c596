//! The outcome of one plugin at one extension point, with upstream's codes.

/// Upstream's status codes. `Unschedulable` may be fixed by preemption;
/// `UnschedulableAndUnresolvable` may not (so preemption skips such nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Success,
    Error,
    Unschedulable,
    UnschedulableAndUnresolvable,
    /// Permit only: the pod waits (bounded by a timeout) until allowed or rejected.
    Wait,
    /// PreFilter/PreScore: this plugin's Filter/Score has nothing to do for this pod.
    /// Bind: this plugin does not bind this pod.
    Skip,
    /// The pod waits for something outside the scheduler (e.g. a volume being provisioned).
    Pending,
}

/// A reason: usually one of a plugin's constant messages, so no allocation per node.
pub type Reason = std::borrow::Cow<'static, str>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Reasons,
    plugin: &'static str,
}

/// Almost every status has one reason or none; those take no allocation (Filter makes a
/// status for every node it rejects).
#[derive(Debug, Clone)]
enum Reasons {
    One(Reason),
    Many(Vec<Reason>),
}

impl PartialEq for Reasons {
    fn eq(&self, other: &Reasons) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Reasons {}

impl Reasons {
    const NONE: Reasons = Reasons::Many(Vec::new());

    fn as_slice(&self) -> &[Reason] {
        match self {
            Reasons::One(r) => std::slice::from_ref(r),
            Reasons::Many(v) => v,
        }
    }
}

impl Default for Status {
    fn default() -> Self {
        Status::success()
    }
}

impl Status {
    pub const fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Reasons::NONE,
            plugin: "",
        }
    }

    pub fn new(code: Code, reason: impl Into<Reason>) -> Status {
        Status {
            code,
            reasons: Reasons::One(reason.into()),
            plugin: "",
        }
    }

    pub fn with_reasons(code: Code, reasons: Vec<String>) -> Status {
        Status {
            code,
            reasons: Reasons::Many(reasons.into_iter().map(Reason::from).collect()),
            plugin: "",
        }
    }

    pub fn unschedulable(reason: impl Into<Reason>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    pub fn unresolvable(reason: impl Into<Reason>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    pub fn error(reason: impl Into<Reason>) -> Status {
        Status::new(Code::Error, reason)
    }

    pub const fn skip() -> Status {
        Status {
            code: Code::Skip,
            reasons: Reasons::NONE,
            plugin: "",
        }
    }

    pub const fn wait() -> Status {
        Status {
            code: Code::Wait,
            reasons: Reasons::NONE,
            plugin: "",
        }
    }

    /// Records which plugin produced the status (kept if already set).
    pub fn with_plugin(mut self, plugin: &'static str) -> Status {
        if self.plugin.is_empty() {
            self.plugin = plugin;
        }
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    pub fn reasons(&self) -> &[Reason] {
        self.reasons.as_slice()
    }

    pub fn message(&self) -> String {
        self.reasons.as_slice().join(", ")
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    pub fn is_wait(&self) -> bool {
        self.code == Code::Wait
    }

    /// The pod does not fit (as opposed to an internal error).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }
}
