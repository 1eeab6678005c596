//! The Baseline level's checks (pure): each returns what the pod does that the level
//! forbids, or `None`. Restricted runs these too, except the three it replaces with
//! stricter ones.

use serde_json::Value;

use super::pod::{containers_phrase, plural_phrase, pluralize, quoted, PodView};
use super::Violation;

pub fn host_namespaces(pod: &PodView) -> Option<Violation> {
    let set: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|k| pod.flag(k))
        .map(|k| format!("{k}=true"))
        .collect();
    Violation::new("host namespaces", set.join(", "), !set.is_empty())
}

pub fn privileged(pod: &PodView) -> Option<Violation> {
    let names: Vec<&str> = pod
        .containers()
        .iter()
        .filter(|c| c.sc("/privileged").and_then(Value::as_bool) == Some(true))
        .map(|c| c.name)
        .collect();
    Violation::new(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&names)
        ),
        !names.is_empty(),
    )
}

/// What a container runtime grants by default, which Baseline lets a container add back.
const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

pub fn capabilities(pod: &PodView) -> Option<Violation> {
    let mut names = Vec::new();
    let mut caps: Vec<&str> = Vec::new();
    for c in pod.containers() {
        let bad: Vec<&str> = c
            .caps("add")
            .into_iter()
            .filter(|cap| !DEFAULT_CAPABILITIES.contains(cap))
            .collect();
        if !bad.is_empty() {
            names.push(c.name);
            for cap in bad {
                if !caps.contains(&cap) {
                    caps.push(cap);
                }
            }
        }
    }
    caps.sort_unstable();
    Violation::new(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&names),
            quoted(&caps)
        ),
        !names.is_empty(),
    )
}

pub fn host_path_volumes(pod: &PodView) -> Option<Violation> {
    let names: Vec<&str> = pod
        .volumes()
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
        .map(|v| v.get("name").and_then(Value::as_str).unwrap_or(""))
        .collect();
    Violation::new(
        "hostPath volumes",
        plural_phrase("volume", "volumes", &names),
        !names.is_empty(),
    )
}

pub fn host_ports(pod: &PodView) -> Option<Violation> {
    let mut names = Vec::new();
    // Each port once, in string order, as upstream lists them.
    let mut ports = std::collections::BTreeSet::new();
    for c in pod.containers() {
        let used: Vec<String> =
            c.c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("hostPort").and_then(Value::as_i64))
                .filter(|p| *p != 0)
                .map(|p| p.to_string())
                .collect();
        if !used.is_empty() {
            names.push(c.name);
            ports.extend(used);
        }
    }
    Violation::new(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_phrase(&names),
            pluralize(names.len(), "uses", "use"),
            pluralize(ports.len(), "hostPort", "hostPorts"),
            ports.into_iter().collect::<Vec<_>>().join(", ")
        ),
        !names.is_empty(),
    )
}

const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

pub fn app_armor(pod: &PodView) -> Option<Violation> {
    let mut annotations: Vec<(&str, &str)> = pod
        .annotations()
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION)
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .collect();
    annotations.sort_unstable();
    let mut bad: Vec<String> = annotations
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    let unconfined =
        |p: Option<&Value>| p.and_then(Value::as_str).is_some_and(|t| t == "Unconfined");
    if unconfined(pod.sc("/appArmorProfile/type")) {
        bad.push("pod must not set AppArmor profile type to \"Unconfined\"".into());
    }
    for c in pod.containers() {
        if unconfined(c.sc("/appArmorProfile/type")) {
            bad.push(format!(
                "container {:?} must not set AppArmor profile type to \"Unconfined\"",
                c.name
            ));
        }
    }
    Violation::new(
        pluralize(
            bad.len(),
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
        ),
        bad.join(", "),
        !bad.is_empty(),
    )
}

/// SELinux types a container may ask for; user and role must stay unset.
const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// What is wrong with the SELinux options of the pod and its containers, all together.
#[derive(Default)]
struct SelinuxFindings {
    types: std::collections::BTreeSet<String>,
    user: bool,
    role: bool,
}

impl SelinuxFindings {
    /// Records the problems of one set of options; whether it had any.
    fn record(&mut self, opts: Option<&Value>) -> bool {
        let Some(opts) = opts else {
            return false;
        };
        let field = |k: &str| opts.get(k).and_then(Value::as_str).unwrap_or("");
        let mut bad = false;
        if !SELINUX_TYPES.contains(&field("type")) {
            self.types.insert(field("type").to_string());
            bad = true;
        }
        if !field("user").is_empty() {
            self.user = true;
            bad = true;
        }
        if !field("role").is_empty() {
            self.role = true;
            bad = true;
        }
        bad
    }
}

pub fn selinux(pod: &PodView) -> Option<Violation> {
    let mut found = SelinuxFindings::default();
    let mut setters = Vec::new();
    if found.record(pod.sc("/seLinuxOptions")) {
        setters.push("pod".to_string());
    }
    let names: Vec<&str> = pod
        .containers()
        .iter()
        .filter(|c| found.record(c.sc("/seLinuxOptions")))
        .map(|c| c.name)
        .collect();
    if !names.is_empty() {
        setters.push(containers_phrase(&names));
    }
    let mut what = Vec::new();
    if !found.types.is_empty() {
        let types: Vec<&str> = found.types.iter().map(String::as_str).collect();
        what.push(format!(
            "{} {}",
            pluralize(types.len(), "type", "types"),
            quoted(&types)
        ));
    }
    if found.user {
        what.push("user may not be set".to_string());
    }
    if found.role {
        what.push("role may not be set".to_string());
    }
    Violation::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            what.join("; ")
        ),
        !setters.is_empty(),
    )
}

pub fn proc_mount(pod: &PodView) -> Option<Violation> {
    // Since 1.35 a pod in its own user namespace may unmask /proc: it cannot reach the host's.
    if pod.spec.get("hostUsers").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    let mut names = Vec::new();
    let mut mounts = std::collections::BTreeSet::new();
    for c in pod.containers() {
        if let Some(m) = c.sc("/procMount").and_then(Value::as_str) {
            if m != "Default" {
                names.push(c.name);
                mounts.insert(m);
            }
        }
    }
    let mounts: Vec<&str> = mounts.into_iter().collect();
    Violation::new(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&names),
            quoted(&mounts)
        ),
        !names.is_empty(),
    )
}

pub fn seccomp(pod: &PodView) -> Option<Violation> {
    let unconfined = |v: Option<&Value>| v.and_then(Value::as_str) == Some("Unconfined");
    let mut setters = Vec::new();
    if unconfined(pod.sc("/seccompProfile/type")) {
        setters.push("pod".to_string());
    }
    let names: Vec<&str> = pod
        .containers()
        .iter()
        .filter(|c| unconfined(c.sc("/seccompProfile/type")))
        .map(|c| c.name)
        .collect();
    if !names.is_empty() {
        setters.push(containers_phrase(&names));
    }
    Violation::new(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
            setters.join(" and ")
        ),
        !setters.is_empty(),
    )
}

/// Namespaced sysctls that cannot affect other pods on the node.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

pub fn sysctls(pod: &PodView) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .sc("/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    Violation::new("forbidden sysctls", bad.join(", "), !bad.is_empty())
}

pub fn windows_host_process(pod: &PodView) -> Option<Violation> {
    let host_process = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(true);
    let names: Vec<&str> = pod
        .containers()
        .iter()
        .filter(|c| host_process(c.sc("/windowsOptions/hostProcess")))
        .map(|c| c.name)
        .collect();
    let pod_set = host_process(pod.sc("/windowsOptions/hostProcess"));
    let who = match (pod_set, names.is_empty()) {
        (true, true) => "pod".to_string(),
        (true, false) => format!("pod and {}", containers_phrase(&names)),
        _ => containers_phrase(&names),
    };
    Violation::new(
        "hostProcess",
        format!("{who} must not set securityContext.windowsOptions.hostProcess=true"),
        pod_set || !names.is_empty(),
    )
}
