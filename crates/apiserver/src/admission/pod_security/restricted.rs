//! The Restricted level's own checks (pure), on top of Baseline's.

use serde_json::Value;

use super::pod::{containers_phrase, plural_phrase, pluralize, quoted, PodView};
use super::Violation;

/// Volume sources that cannot reach the node's files or devices.
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

pub fn volume_types(pod: &PodView) -> Option<Violation> {
    let mut names = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    for v in pod.volumes() {
        let Some(fields) = v.as_object() else {
            continue;
        };
        let bad: Vec<&str> = fields
            .iter()
            .filter(|(k, val)| *k != "name" && !val.is_null())
            .map(|(k, _)| k.as_str())
            .filter(|k| !ALLOWED_VOLUMES.contains(k))
            .collect();
        if !bad.is_empty() {
            names.push(v.get("name").and_then(Value::as_str).unwrap_or(""));
            for t in bad {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
    }
    Violation::new(
        "restricted volume types",
        format!(
            "{} {} restricted volume {} {}",
            plural_phrase("volume", "volumes", &names),
            pluralize(names.len(), "uses", "use"),
            pluralize(types.len(), "type", "types"),
            quoted(&types)
        ),
        !names.is_empty(),
    )
}

pub fn allow_privilege_escalation(pod: &PodView) -> Option<Violation> {
    if pod.is_windows() {
        return None;
    }
    let names: Vec<&str> = pod
        .containers()
        .iter()
        .filter(|c| c.sc("/allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false))
        .map(|c| c.name)
        .collect();
    Violation::new(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&names)
        ),
        !names.is_empty(),
    )
}

pub fn run_as_non_root(pod: &PodView) -> Option<Violation> {
    let pod_value = pod.sc("/runAsNonRoot").and_then(Value::as_bool);
    let mut explicit_false = Vec::new();
    let mut unset = Vec::new();
    for c in pod.containers() {
        match c.sc("/runAsNonRoot").and_then(Value::as_bool) {
            Some(false) => explicit_false.push(c.name),
            Some(true) => {}
            None if pod_value != Some(true) => unset.push(c.name),
            None => {}
        }
    }
    // An explicit `false` is reported alone: it is what the user must change first.
    let mut setters = Vec::new();
    if pod_value == Some(false) {
        setters.push("pod".to_string());
    }
    if !explicit_false.is_empty() {
        setters.push(containers_phrase(&explicit_false));
    }
    if !setters.is_empty() {
        return Violation::new(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
            true,
        );
    }
    Violation::new(
        "runAsNonRoot != true",
        format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&unset)
        ),
        !unset.is_empty(),
    )
}

pub fn run_as_user(pod: &PodView) -> Option<Violation> {
    let root = |v: Option<&Value>| v.and_then(Value::as_i64) == Some(0);
    let mut details = Vec::new();
    if root(pod.sc("/runAsUser")) {
        details.push("pod must not set runAsUser=0".to_string());
    }
    let names: Vec<&str> = pod
        .containers()
        .iter()
        .filter(|c| root(c.sc("/runAsUser")))
        .map(|c| c.name)
        .collect();
    if !names.is_empty() {
        details.push(format!(
            "{} must not set runAsUser=0",
            containers_phrase(&names)
        ));
    }
    Violation::new("runAsUser=0", details.join(", "), !details.is_empty())
}

pub fn seccomp(pod: &PodView) -> Option<Violation> {
    if pod.is_windows() {
        return None;
    }
    let allowed = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut bad_types = std::collections::BTreeSet::new();
    let mut setters = Vec::new();
    let pod_type = pod.sc("/seccompProfile/type").and_then(Value::as_str);
    if let Some(t) = pod_type.filter(|t| !allowed(t)) {
        setters.push("pod".to_string());
        bad_types.insert(t);
    }
    let pod_ok = pod_type.is_some_and(allowed);
    let mut bad = Vec::new();
    let mut unset = Vec::new();
    for c in pod.containers() {
        match c.sc("/seccompProfile/type").and_then(Value::as_str) {
            Some(t) if !allowed(t) => {
                bad.push(c.name);
                bad_types.insert(t);
            }
            Some(_) => {}
            None if !pod_ok => unset.push(c.name),
            None => {}
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    // A profile set to a forbidden type is reported alone, as upstream does.
    if !setters.is_empty() {
        let types: Vec<&str> = bad_types.into_iter().collect();
        return Violation::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                quoted(&types)
            ),
            true,
        );
    }
    Violation::new(
        "seccompProfile",
        format!(
            "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            containers_phrase(&unset)
        ),
        !unset.is_empty(),
    )
}

pub fn capabilities(pod: &PodView) -> Option<Violation> {
    if pod.is_windows() {
        return None;
    }
    let mut no_drop = Vec::new();
    let mut adders = Vec::new();
    let mut added: Vec<&str> = Vec::new();
    for c in pod.containers() {
        if !c.caps("drop").contains(&"ALL") {
            no_drop.push(c.name);
        }
        let bad: Vec<&str> = c
            .caps("add")
            .into_iter()
            .filter(|cap| *cap != "NET_BIND_SERVICE")
            .collect();
        if !bad.is_empty() {
            adders.push(c.name);
            for cap in bad {
                if !added.contains(&cap) {
                    added.push(cap);
                }
            }
        }
    }
    added.sort_unstable();
    let mut details = Vec::new();
    if !no_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&no_drop)
        ));
    }
    if !adders.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adders),
            quoted(&added)
        ));
    }
    Violation::new(
        "unrestricted capabilities",
        details.join("; "),
        !details.is_empty(),
    )
}
