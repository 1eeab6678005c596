//! securityContext → CRI: the pod's and the container's settings merged (the container's
//! win), as upstream's kubelet maps them for the sandbox and each container, and the
//! runAsNonRoot check against the image's user. Pure.

use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SeccompProfile};

use crate::cri::v1 as cri;

/// Upstream's default masked and read-only paths (Docker's), for unprivileged containers.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The settings that may come from either level, after merging.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effective {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    pub seccomp: Option<SeccompProfile>,
    pub apparmor: Option<k8s_openapi::api::core::v1::AppArmorProfile>,
}

fn pod_sc(pod: &Pod) -> PodSecurityContext {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default()
}

pub fn effective(pod: &Pod, c: &Container) -> Effective {
    let p = pod_sc(pod);
    let s = c.security_context.clone().unwrap_or_default();
    Effective {
        run_as_user: s.run_as_user.or(p.run_as_user),
        run_as_group: s.run_as_group.or(p.run_as_group),
        run_as_non_root: s.run_as_non_root.or(p.run_as_non_root) == Some(true),
        seccomp: s.seccomp_profile.or(p.seccomp_profile),
        apparmor: s.app_armor_profile.or(p.app_armor_profile),
    }
}

fn profile(kind: &str, localhost: Option<&str>, localhost_root: &str) -> cri::SecurityProfile {
    use cri::security_profile::ProfileType;
    let (t, r) = match kind {
        "RuntimeDefault" => (ProfileType::RuntimeDefault, String::new()),
        "Localhost" => (
            ProfileType::Localhost,
            if localhost_root.is_empty() {
                localhost.unwrap_or("").to_string()
            } else {
                format!("{localhost_root}/{}", localhost.unwrap_or(""))
            },
        ),
        _ => (ProfileType::Unconfined, String::new()),
    };
    cri::SecurityProfile {
        profile_type: t as i32,
        localhost_ref: r,
    }
}

/// Seccomp: unconfined unless asked for (the kubelet's default without SeccompDefault);
/// a Localhost profile is relative to `<seccomp_root>`.
fn seccomp(p: &Option<SeccompProfile>, seccomp_root: &str) -> Option<cri::SecurityProfile> {
    let p = p.as_ref()?;
    Some(profile(
        &p.type_,
        p.localhost_profile.as_deref(),
        seccomp_root,
    ))
}

fn apparmor(
    p: &Option<k8s_openapi::api::core::v1::AppArmorProfile>,
) -> Option<cri::SecurityProfile> {
    let p = p.as_ref()?;
    Some(profile(&p.type_, p.localhost_profile.as_deref(), ""))
}

/// fsGroup, then the supplemental groups, as upstream orders them.
fn groups(p: &PodSecurityContext) -> Vec<i64> {
    p.fs_group
        .into_iter()
        .chain(p.supplemental_groups.iter().flatten().copied())
        .collect()
}

fn groups_policy(p: &PodSecurityContext) -> i32 {
    match p.supplemental_groups_policy.as_deref() {
        Some("Strict") => cri::SupplementalGroupsPolicy::Strict as i32,
        _ => cri::SupplementalGroupsPolicy::Merge as i32,
    }
}

pub fn privileged(c: &Container) -> bool {
    c.security_context.as_ref().and_then(|s| s.privileged) == Some(true)
}

/// The sandbox's security context around the namespace options the sandbox uses.
pub fn sandbox(
    pod: &Pod,
    namespaces: cri::NamespaceOption,
    seccomp_root: &str,
) -> cri::LinuxSandboxSecurityContext {
    let p = pod_sc(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let any_privileged = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(privileged);
    cri::LinuxSandboxSecurityContext {
        namespace_options: Some(namespaces),
        run_as_user: p.run_as_user.map(|value| cri::Int64Value { value }),
        run_as_group: p.run_as_group.map(|value| cri::Int64Value { value }),
        supplemental_groups: groups(&p),
        supplemental_groups_policy: groups_policy(&p),
        privileged: any_privileged,
        seccomp: seccomp(&p.seccomp_profile, seccomp_root),
        ..Default::default()
    }
}

/// The pod's sysctls for the sandbox.
pub fn sysctls(pod: &Pod) -> std::collections::HashMap<String, String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.sysctls.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name, s.value))
        .collect()
}

/// A container's security context; it shares the sandbox's namespaces.
pub fn container(
    pod: &Pod,
    c: &Container,
    namespaces: Option<cri::NamespaceOption>,
    seccomp_root: &str,
) -> cri::LinuxContainerSecurityContext {
    let p = pod_sc(pod);
    let s = c.security_context.clone().unwrap_or_default();
    let e = effective(pod, c);
    let privileged = s.privileged == Some(true);
    let caps = s.capabilities.clone().unwrap_or_default();
    let unmasked = s.proc_mount.as_deref() == Some("Unmasked");
    let paths = |list: &[&str]| {
        if privileged || unmasked {
            Vec::new()
        } else {
            list.iter().map(|p| p.to_string()).collect()
        }
    };
    cri::LinuxContainerSecurityContext {
        capabilities: Some(cri::Capability {
            add_capabilities: caps.add.unwrap_or_default(),
            drop_capabilities: caps.drop.unwrap_or_default(),
            ..Default::default()
        }),
        privileged,
        namespace_options: namespaces,
        run_as_user: e.run_as_user.map(|value| cri::Int64Value { value }),
        run_as_group: e.run_as_group.map(|value| cri::Int64Value { value }),
        readonly_rootfs: s.read_only_root_filesystem == Some(true),
        supplemental_groups: groups(&p),
        supplemental_groups_policy: groups_policy(&p),
        // upstream: no_new_privs only when allowPrivilegeEscalation is explicitly false.
        no_new_privs: s.allow_privilege_escalation == Some(false),
        masked_paths: paths(MASKED_PATHS),
        readonly_paths: paths(READONLY_PATHS),
        seccomp: seccomp(&e.seccomp, seccomp_root),
        apparmor: apparmor(&e.apparmor),
        ..Default::default()
    }
}

/// upstream's runAsNonRoot check: the effective user (runAsUser, else the image's) must
/// be known and not 0. `image_uid`/`image_user` come from the runtime's image status.
pub fn verify_non_root(
    pod: &Pod,
    c: &Container,
    image_uid: Option<i64>,
    image_user: &str,
) -> Result<(), String> {
    let e = effective(pod, c);
    if !e.run_as_non_root {
        return Ok(());
    }
    let id = super::sandbox::ids(pod);
    let who = format!(
        "(pod: {:?}, container: {})",
        format!("{}_{}({})", id.name, id.namespace, id.uid),
        c.name
    );
    if let Some(uid) = e.run_as_user {
        if uid == 0 {
            return Err(format!(
                "container's runAsUser breaks non-root policy {who}"
            ));
        }
        return Ok(());
    }
    match (image_uid, image_user) {
        (Some(0), _) | (None, "") => Err(format!(
            "container has runAsNonRoot and image will run as root {who}"
        )),
        (None, user) => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root {who}"
        )),
        (Some(_), _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(pod_sc: serde_json::Value, sc: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
            "spec": {"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": sc}]},
        }))
        .unwrap()
    }

    fn show(c: &cri::LinuxContainerSecurityContext) -> String {
        format!(
            "user={:?} group={:?} groups={:?} ro={} priv={} nnp={} caps=+{:?}-{:?} masked={} seccomp={:?} apparmor={:?}",
            c.run_as_user.as_ref().map(|v| v.value),
            c.run_as_group.as_ref().map(|v| v.value),
            c.supplemental_groups,
            c.readonly_rootfs,
            c.privileged,
            c.no_new_privs,
            c.capabilities.as_ref().map(|c| c.add_capabilities.clone()).unwrap_or_default(),
            c.capabilities.as_ref().map(|c| c.drop_capabilities.clone()).unwrap_or_default(),
            c.masked_paths.len(),
            c.seccomp.as_ref().map(|s| (s.profile_type, s.localhost_ref.clone())),
            c.apparmor.as_ref().map(|s| s.profile_type),
        )
    }

    #[test]
    fn container_contexts() {
        let cases = [
            (json!(null), json!(null),
             "user=None group=None groups=[] ro=false priv=false nnp=false caps=+[]-[] masked=11 seccomp=None apparmor=None"),
            (json!({"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000]}), json!(null),
             "user=Some(1000) group=Some(3000) groups=[2000, 4000] ro=false priv=false nnp=false caps=+[]-[] masked=11 seccomp=None apparmor=None"),
            (json!({"runAsUser": 1000}), json!({"runAsUser": 2000, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}),
             "user=Some(2000) group=None groups=[] ro=true priv=false nnp=true caps=+[]-[] masked=11 seccomp=None apparmor=None"),
            (json!(null), json!({"allowPrivilegeEscalation": true, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}),
             "user=None group=None groups=[] ro=false priv=false nnp=false caps=+[\"NET_ADMIN\"]-[\"ALL\"] masked=11 seccomp=None apparmor=None"),
            (json!(null), json!({"privileged": true}),
             "user=None group=None groups=[] ro=false priv=true nnp=false caps=+[]-[] masked=0 seccomp=None apparmor=None"),
            (json!({"seccompProfile": {"type": "RuntimeDefault"}}), json!(null),
             "user=None group=None groups=[] ro=false priv=false nnp=false caps=+[]-[] masked=11 seccomp=Some((0, \"\")) apparmor=None"),
            (json!({"seccompProfile": {"type": "RuntimeDefault"}}), json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}, "appArmorProfile": {"type": "Unconfined"}}),
             "user=None group=None groups=[] ro=false priv=false nnp=false caps=+[]-[] masked=11 seccomp=Some((2, \"/d/seccomp/p.json\")) apparmor=Some(1)"),
        ];
        for (pod_sc, sc, want) in cases {
            let p = pod(pod_sc.clone(), sc.clone());
            let c = &p.spec.as_ref().unwrap().containers[0];
            assert_eq!(
                show(&container(&p, c, None, "/d/seccomp")),
                want,
                "{pod_sc} {sc}"
            );
        }
    }

    #[test]
    fn sandbox_context() {
        let p = pod(
            json!({"runAsUser": 1000, "fsGroup": 2000, "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}),
            json!({"privileged": true}),
        );
        let s = sandbox(&p, cri::NamespaceOption::default(), "");
        assert_eq!(s.run_as_user.map(|v| v.value), Some(1000));
        assert_eq!(s.supplemental_groups, [2000]);
        assert!(s.privileged);
        assert_eq!(
            sysctls(&p)
                .get("net.ipv4.ip_unprivileged_port_start")
                .map(String::as_str),
            Some("0")
        );
    }

    #[test]
    fn non_root() {
        let who = "(pod: \"p_ns(u-1)\", container: c)";
        let cases = [
            (json!(null), json!(null), None, "", "ok".to_string()),
            (json!({"runAsNonRoot": true}), json!(null), None, "", format!("container has runAsNonRoot and image will run as root {who}")),
            (json!({"runAsNonRoot": true}), json!(null), Some(0), "", format!("container has runAsNonRoot and image will run as root {who}")),
            (json!({"runAsNonRoot": true}), json!(null), Some(1000), "", "ok".to_string()),
            (json!({"runAsNonRoot": true}), json!(null), None, "app", format!("container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root {who}")),
            (json!({"runAsNonRoot": true}), json!({"runAsUser": 1000}), None, "", "ok".to_string()),
            (json!(null), json!({"runAsNonRoot": true, "runAsUser": 0}), Some(1000), "", format!("container's runAsUser breaks non-root policy {who}")),
            (json!({"runAsNonRoot": true}), json!({"runAsNonRoot": false}), Some(0), "", "ok".to_string()),
        ];
        for (pod_sc, sc, uid, user, want) in cases {
            let p = pod(pod_sc.clone(), sc.clone());
            let c = &p.spec.as_ref().unwrap().containers[0];
            let got = verify_non_root(&p, c, uid, user).map_or_else(|e| e, |()| "ok".into());
            assert_eq!(got, want, "{pod_sc} {sc} {uid:?} {user}");
        }
    }
}
