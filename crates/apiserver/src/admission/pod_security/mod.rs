//! Upstream's `PodSecurity` admission plugin: a namespace's labels
//! `pod-security.kubernetes.io/{enforce,warn,audit}` pick a Pod Security Standards level
//! (privileged, baseline, restricted). `enforce` refuses a pod that breaks it; `warn`
//! answers with Warning headers; workload objects (Deployments and the like) only ever get
//! warnings for their pod template, since their pods are checked when they are created.
//!
//! Every `-version` label is read as `latest`: skiff ships one version of the checks.
//! `audit` is parsed but has no effect, as skiff keeps no audit log. Upstream exempts no
//! namespace, user or runtime class by default, and neither does skiff.
//!
//! Pure: the caller passes the namespace and the object.

mod baseline;
mod pod;
mod restricted;
#[cfg(test)]
mod tests;

use serde_json::Value;

use pod::PodView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// What one check found: upstream's `forbiddenReason (forbiddenDetail)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub reason: String,
    pub detail: String,
}

impl Violation {
    /// `Some` when `found`; lets a check build its message and decide in one expression.
    fn new(reason: &str, detail: String, found: bool) -> Option<Violation> {
        found.then(|| Violation {
            reason: reason.to_string(),
            detail,
        })
    }
}

type Check = fn(&PodView) -> Option<Violation>;

/// Every check with upstream's check ID and the level that runs it; a Restricted check that
/// replaces a Baseline one names it. Baseline's checks come first, then Restricted's, each
/// sorted by ID: the order upstream reports violations in.
const CHECKS: &[(&str, Level, Option<&str>, Check)] = &[
    (
        "appArmorProfile",
        Level::Baseline,
        None,
        baseline::app_armor,
    ),
    (
        "capabilities_baseline",
        Level::Baseline,
        None,
        baseline::capabilities,
    ),
    (
        "hostNamespaces",
        Level::Baseline,
        None,
        baseline::host_namespaces,
    ),
    (
        "hostPathVolumes",
        Level::Baseline,
        None,
        baseline::host_path_volumes,
    ),
    ("hostPorts", Level::Baseline, None, baseline::host_ports),
    ("privileged", Level::Baseline, None, baseline::privileged),
    ("procMount", Level::Baseline, None, baseline::proc_mount),
    ("seLinuxOptions", Level::Baseline, None, baseline::selinux),
    (
        "seccompProfile_baseline",
        Level::Baseline,
        None,
        baseline::seccomp,
    ),
    ("sysctls", Level::Baseline, None, baseline::sysctls),
    (
        "windowsHostProcess",
        Level::Baseline,
        None,
        baseline::windows_host_process,
    ),
    (
        "allowPrivilegeEscalation",
        Level::Restricted,
        None,
        restricted::allow_privilege_escalation,
    ),
    (
        "capabilities_restricted",
        Level::Restricted,
        Some("capabilities_baseline"),
        restricted::capabilities,
    ),
    (
        "restrictedVolumes",
        Level::Restricted,
        Some("hostPathVolumes"),
        restricted::volume_types,
    ),
    (
        "runAsNonRoot",
        Level::Restricted,
        None,
        restricted::run_as_non_root,
    ),
    (
        "runAsUser",
        Level::Restricted,
        None,
        restricted::run_as_user,
    ),
    (
        "seccompProfile_restricted",
        Level::Restricted,
        Some("seccompProfile_baseline"),
        restricted::seccomp,
    ),
];

/// What a pod (metadata + spec) does that `level` forbids, in upstream's order.
pub fn evaluate(level: Level, meta: &Value, spec: &Value) -> Vec<Violation> {
    let pod = PodView::new(meta, spec);
    let replaced: Vec<&str> = CHECKS
        .iter()
        .filter(|(_, l, _, _)| *l <= level)
        .filter_map(|(_, _, replaces, _)| *replaces)
        .collect();
    CHECKS
        .iter()
        .filter(|(id, l, _, _)| *l <= level && !replaced.contains(id))
        .filter_map(|(_, _, _, check)| check(&pod))
        .collect()
}

/// One mode's level and the version it names (shown in messages as upstream does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModePolicy {
    pub level: Level,
    pub version: String,
}

impl ModePolicy {
    fn label(&self) -> String {
        format!("{}:{}", self.level.name(), self.version)
    }
}

/// A namespace's policy for enforce and warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub enforce: ModePolicy,
    pub warn: ModePolicy,
}

const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

/// `v1.30` or `latest`; anything else reads as `latest`, which is what skiff checks anyway.
fn version(labels: Option<&serde_json::Map<String, Value>>, mode: &str) -> String {
    let v = labels
        .and_then(|l| l.get(&format!("{LABEL_PREFIX}{mode}-version")))
        .and_then(Value::as_str)
        .unwrap_or("latest");
    let valid = v
        .strip_prefix("v1.")
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()));
    if valid {
        v.to_string()
    } else {
        "latest".into()
    }
}

/// The namespace's policy from its labels. An unset mode is `privileged`; an invalid level
/// is `restricted`, so a typo never opens a namespace up; `warn` left unset follows a
/// stricter `enforce`, so a workload whose pods would be refused warns when it is created.
pub fn policy(namespace: &Value) -> Policy {
    let labels = namespace
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    let mode = |m: &str| -> Option<ModePolicy> {
        let raw = labels?
            .get(&format!("{LABEL_PREFIX}{m}"))
            .and_then(Value::as_str)?;
        Some(ModePolicy {
            level: Level::parse(raw).unwrap_or(Level::Restricted),
            version: version(labels, m),
        })
    };
    let privileged = ModePolicy {
        level: Level::Privileged,
        version: "latest".into(),
    };
    let enforce = mode("enforce").unwrap_or_else(|| privileged.clone());
    let warn = match mode("warn") {
        Some(w) => w,
        None if enforce.level > Level::Privileged => enforce.clone(),
        None => privileged,
    };
    Policy { enforce, warn }
}

fn message(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{} ({})", v.reason, v.detail))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pod being created: `Err` is the reason for upstream's 403 (`violates PodSecurity
/// "restricted:latest": ...`); `Ok` holds the warnings to send.
pub fn admit_pod(policy: &Policy, pod: &Value) -> Result<Vec<String>, String> {
    let meta = pod.get("metadata").unwrap_or(&Value::Null);
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    if policy.enforce.level > Level::Privileged {
        let found = evaluate(policy.enforce.level, meta, spec);
        if !found.is_empty() {
            return Err(format!(
                "violates PodSecurity {:?}: {}",
                policy.enforce.label(),
                message(&found)
            ));
        }
    }
    Ok(warnings(&policy.warn, meta, spec))
}

fn warnings(mode: &ModePolicy, meta: &Value, spec: &Value) -> Vec<String> {
    if mode.level == Level::Privileged {
        return Vec::new();
    }
    let found = evaluate(mode.level, meta, spec);
    if found.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "would violate PodSecurity {:?}: {}",
        mode.label(),
        message(&found)
    )]
}

/// Where a workload kind keeps its pod template.
fn template_pointer(group: &str, plural: &str) -> Option<&'static str> {
    match (group, plural) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs")
        | ("", "replicationcontrollers") => Some("/spec/template"),
        ("batch", "cronjobs") => Some("/spec/jobTemplate/spec/template"),
        ("", "podtemplates") => Some("/template"),
        _ => None,
    }
}

/// Whether objects of this resource carry a pod template the plugin looks at.
pub fn is_workload(group: &str, plural: &str) -> bool {
    template_pointer(group, plural).is_some()
}

/// A workload being created or updated: the warnings its pod template earns at the `warn`
/// level (never a refusal: its pods are checked when its controller creates them).
pub fn admit_workload(policy: &Policy, group: &str, plural: &str, obj: &Value) -> Vec<String> {
    let Some(template) = template_pointer(group, plural).and_then(|p| obj.pointer(p)) else {
        return Vec::new();
    };
    let meta = template.get("metadata").unwrap_or(&Value::Null);
    let spec = template.get("spec").unwrap_or(&Value::Null);
    warnings(&policy.warn, meta, spec)
}

/// Whether an update changed a workload's pod template.
pub fn template_changed(group: &str, plural: &str, new: &Value, old: &Value) -> bool {
    template_pointer(group, plural).is_some_and(|p| new.pointer(p) != old.pointer(p))
}

/// A namespace whose `enforce` level was raised: upstream's warnings naming the existing
/// pods the new level would refuse (they keep running), pods with the same violations in
/// one line (`a (and 2 other pods): privileged, hostPort`).
pub fn namespace_update_warnings(new: &Value, old: &Value, pods: &[Value]) -> Vec<String> {
    let (now, before) = (policy(new).enforce, policy(old).enforce);
    if now == before || now.level == Level::Privileged {
        return Vec::new();
    }
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    let mut sorted: Vec<&Value> = pods.iter().collect();
    sorted.sort_by_key(|p| p.pointer("/metadata/name").and_then(Value::as_str));
    for pod in sorted {
        let meta = pod.get("metadata").unwrap_or(&Value::Null);
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        let found = evaluate(now.level, meta, spec);
        if found.is_empty() {
            continue;
        }
        let reasons = found
            .iter()
            .map(|v| v.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        match groups.iter_mut().find(|(r, _)| *r == reasons) {
            Some((_, names)) => names.push(name),
            None => groups.push((reasons, vec![name])),
        }
    }
    if groups.is_empty() {
        return Vec::new();
    }
    let ns = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = vec![format!(
        "existing pods in namespace {ns:?} violate the new PodSecurity enforce level {:?}",
        now.label()
    )];
    for (reasons, names) in groups {
        let who = match names.len() {
            1 => names[0].to_string(),
            2 => format!("{} (and 1 other pod)", names[0]),
            n => format!("{} (and {} other pods)", names[0], n - 1),
        };
        out.push(format!("{who}: {reasons}"));
    }
    out
}

/// A namespace's PodSecurity labels that name no level, as upstream refuses them when the
/// namespace is created or updated (a typo would otherwise silently enforce restricted).
pub fn invalid_labels(namespace: &Value) -> Vec<apimachinery::field::FieldError> {
    let labels = namespace
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    ["enforce", "warn", "audit"]
        .iter()
        .filter_map(|mode| {
            let key = format!("{LABEL_PREFIX}{mode}");
            let value = labels?.get(&key)?.as_str()?;
            Level::parse(value).is_none().then(|| {
                apimachinery::field::FieldError::invalid(
                    format!("metadata.labels[{key}]"),
                    value,
                    "must be one of privileged, baseline, restricted",
                )
            })
        })
        .collect()
}
