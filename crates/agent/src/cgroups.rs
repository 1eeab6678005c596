//! The pod cgroup hierarchy by QoS class, as upstream's kubelet lays it out (cgroupfs
//! driver): Guaranteed pods directly under `/skiff`, Burstable under `/skiff/burstable`,
//! BestEffort under `/skiff/besteffort` (CPU shares 2, so they yield to everything), each
//! pod in its own `pod<uid>` cgroup capped by the sum of its containers' limits. The
//! runtime puts the containers beneath the pod cgroup we pass as the sandbox's parent.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use crate::resources::milli_value;

pub const ROOT: &str = "/skiff";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// The pod's QoS class: the API server's (status.qosClass), else worked out from the spec
/// as upstream does (every container with equal cpu and memory requests and limits →
/// Guaranteed; nothing requested or limited → BestEffort; else Burstable).
pub fn qos(pod: &Pod) -> Qos {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        Some("Guaranteed") => return Qos::Guaranteed,
        Some("Burstable") => return Qos::Burstable,
        Some("BestEffort") => return Qos::BestEffort,
        _ => {}
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let r = c.resources.clone().unwrap_or_default();
        let (req, lim) = (r.requests.unwrap_or_default(), r.limits.unwrap_or_default());
        for name in ["cpu", "memory"] {
            let l = lim.get(name).and_then(|q| milli_value(&q.0));
            // A request defaults to the limit.
            let q = req.get(name).and_then(|q| milli_value(&q.0)).or(l);
            any |= q.is_some_and(|v| v > 0) || l.is_some_and(|v| v > 0);
            guaranteed &= l.is_some() && q == l;
        }
    }
    match (any, guaranteed) {
        (false, _) => Qos::BestEffort,
        (true, true) => Qos::Guaranteed,
        (true, false) => Qos::Burstable,
    }
}

/// The cgroup (relative to each hierarchy's root) the pod's sandbox and containers go in.
pub fn pod_parent(pod: &Pod) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or("unknown");
    format!("{}/pod{uid}", qos_dir(qos(pod)))
}

fn qos_dir(q: Qos) -> String {
    match q {
        Qos::Guaranteed => ROOT.to_string(),
        Qos::Burstable => format!("{ROOT}/burstable"),
        Qos::BestEffort => format!("{ROOT}/besteffort"),
    }
}

/// What the pod cgroup is given: CPU shares from the requests, and a CPU quota and memory
/// limit only when every container sets that limit (one unlimited container leaves the
/// pod unlimited). Init containers run alone, so each resource takes the larger of their
/// largest and the app containers' sum.
#[derive(Debug, PartialEq, Eq)]
pub struct PodLimits {
    pub cpu_shares: u64,
    pub cpu_quota_us: Option<i64>,
    pub memory_bytes: Option<i64>,
}

const CPU_PERIOD_US: i64 = 100_000;

pub fn pod_limits(pod: &Pod) -> PodLimits {
    let spec = pod.spec.clone().unwrap_or_default();
    let get = |c: &k8s_openapi::api::core::v1::Container, limits: bool, name: &str| {
        let r = c.resources.clone().unwrap_or_default();
        let lim = r
            .limits
            .unwrap_or_default()
            .get(name)
            .and_then(|q| milli_value(&q.0));
        if limits {
            lim
        } else {
            r.requests
                .unwrap_or_default()
                .get(name)
                .and_then(|q| milli_value(&q.0))
                .or(lim)
        }
    };
    // Sum over app containers; None if one lacks the value and `all` is required.
    let total = |limits: bool, name: &str, all: bool| -> Option<i128> {
        let mut sum = 0;
        for c in &spec.containers {
            match get(c, limits, name) {
                Some(v) => sum += v,
                None if all => return None,
                None => {}
            }
        }
        let mut init_max = 0;
        for c in spec.init_containers.iter().flatten() {
            match get(c, limits, name) {
                Some(v) => init_max = init_max.max(v),
                None if all => return None,
                None => {}
            }
        }
        Some(sum.max(init_max))
    };
    let cpu_request = total(false, "cpu", false).unwrap_or(0);
    let cpu_shares = if qos(pod) == Qos::BestEffort {
        2
    } else {
        ((cpu_request * 1024 / 1000) as u64).max(2)
    };
    let cpu_quota_us = total(true, "cpu", true)
        .filter(|m| *m > 0)
        .map(|m| ((m * CPU_PERIOD_US as i128 / 1000) as i64).max(1000));
    let memory_bytes = total(true, "memory", true)
        .filter(|m| *m > 0)
        .map(|m| (m / 1000) as i64);
    PodLimits {
        cpu_shares,
        cpu_quota_us,
        memory_bytes,
    }
}

/// The machine's cgroup layout.
enum Layout {
    /// cgroup v2: one tree.
    Unified(PathBuf),
    /// cgroup v1: the cpu and memory hierarchies.
    Split { cpu: PathBuf, memory: PathBuf },
}

fn layout() -> Option<Layout> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return Some(Layout::Unified(root.to_path_buf()));
    }
    let cpu = ["cpu", "cpu,cpuacct"]
        .iter()
        .map(|d| root.join(d))
        .find(|p| p.join("cpu.shares").exists())?;
    let memory = root.join("memory");
    memory
        .join("memory.limit_in_bytes")
        .exists()
        .then_some(Layout::Split { cpu, memory })
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

/// Creates the pod's cgroup with its limits (and the QoS level above it) before the
/// sandbox starts in it. Best effort: a machine without the controllers still runs pods.
pub fn prepare(pod: &Pod) {
    if let Err(e) = try_prepare(pod) {
        tracing::warn!(error = %e, "setting up the pod cgroup");
    }
}

fn try_prepare(pod: &Pod) -> std::io::Result<()> {
    let Some(layout) = layout() else {
        return Ok(());
    };
    let rel = pod_parent(pod);
    let qos_rel = qos_dir(qos(pod));
    let limits = pod_limits(pod);
    match layout {
        Layout::Split { cpu, memory } => {
            let qos_cpu = cpu.join(qos_rel.trim_start_matches('/'));
            std::fs::create_dir_all(&qos_cpu)?;
            if qos(pod) == Qos::BestEffort {
                write(&qos_cpu.join("cpu.shares"), "2")?;
            }
            let pod_cpu = cpu.join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(&pod_cpu)?;
            write(&pod_cpu.join("cpu.shares"), &limits.cpu_shares.to_string())?;
            if let Some(q) = limits.cpu_quota_us {
                write(
                    &pod_cpu.join("cpu.cfs_period_us"),
                    &CPU_PERIOD_US.to_string(),
                )?;
                write(&pod_cpu.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
            let pod_mem = memory.join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(&pod_mem)?;
            if let Some(m) = limits.memory_bytes {
                write(&pod_mem.join("memory.limit_in_bytes"), &m.to_string())?;
            }
        }
        Layout::Unified(root) => {
            // Each level hands the cpu and memory controllers down to its children.
            let mut dir = root.clone();
            for part in rel.trim_start_matches('/').split('/') {
                let _ = write(&dir.join("cgroup.subtree_control"), "+cpu +memory +pids");
                dir = dir.join(part);
                std::fs::create_dir_all(&dir)?;
            }
            let weight = 1 + (limits.cpu_shares.saturating_sub(2) * 9999) / 262_142;
            write(&dir.join("cpu.weight"), &weight.to_string())?;
            if let Some(q) = limits.cpu_quota_us {
                write(&dir.join("cpu.max"), &format!("{q} {CPU_PERIOD_US}"))?;
            }
            if let Some(m) = limits.memory_bytes {
                write(&dir.join("memory.max"), &m.to_string())?;
            }
        }
    }
    Ok(())
}

/// Removes the pod's cgroup once its sandbox is gone (the runtime removes only the
/// containers' own). Every QoS level is tried: the pod's class is not known by uid alone.
pub fn remove(uid: &str) {
    if uid.is_empty() {
        return;
    }
    let Some(layout) = layout() else { return };
    let roots = match layout {
        Layout::Unified(r) => vec![r],
        Layout::Split { cpu, memory } => vec![cpu, memory],
    };
    for root in roots {
        for q in [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort] {
            let dir = root
                .join(qos_dir(q).trim_start_matches('/'))
                .join(format!("pod{uid}"));
            // rmdir on a cgroup: its control files go with it.
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn c(requests: serde_json::Value, limits: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"name": "c", "image": "i",
            "resources": {"requests": requests, "limits": limits}})
    }

    #[test]
    fn classes_parents_and_limits() {
        use serde_json::json;
        let cases = [
            (
                json!({"containers": [c(json!({}), json!({}))]}),
                "/skiff/besteffort/podu1 shares=2 quota=None mem=None",
            ),
            (
                json!({"containers": [c(json!({}), json!({"cpu": "500m", "memory": "64Mi"}))]}),
                "/skiff/podu1 shares=512 quota=Some(50000) mem=Some(67108864)",
            ),
            (
                json!({"containers": [c(json!({"cpu": "250m"}), json!({})), c(json!({}), json!({"memory": "1Gi"}))]}),
                "/skiff/burstable/podu1 shares=256 quota=None mem=None",
            ),
            (
                json!({"containers": [c(json!({"cpu": "1"}), json!({"cpu": "2", "memory": "128Mi"}))],
                    "initContainers": [c(json!({}), json!({"cpu": "3", "memory": "64Mi"}))]}),
                "/skiff/burstable/podu1 shares=3072 quota=Some(300000) mem=Some(134217728)",
            ),
        ];
        for (spec, want) in cases {
            let p = pod(spec.clone());
            let l = pod_limits(&p);
            let got = format!(
                "{} shares={} quota={:?} mem={:?}",
                pod_parent(&p),
                l.cpu_shares,
                l.cpu_quota_us,
                l.memory_bytes
            );
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn the_api_servers_class_wins() {
        let mut p = pod(serde_json::json!({"containers": [{"name": "c", "image": "i"}]}));
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            qos_class: Some("Burstable".into()),
            ..Default::default()
        });
        assert_eq!(qos(&p), Qos::Burstable);
    }
}
