//! This node's API objects as a kubelet keeps them: the Node (registered, then its status
//! through `nodes/status`), and its Lease in `kube-node-lease` renewed every 10 s.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use sim::clock;
use time::OffsetDateTime;

use crate::machine::Machine;
use crate::Error;

pub const KUBELET_VERSION: &str = "v1.37.0-skiff";
/// Upstream's default maxPods.
pub const MAX_PODS: u32 = 110;
const LEASE_RENEW: Duration = Duration::from_secs(10);
const STATUS_EVERY: Duration = Duration::from_secs(60);

pub fn object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
    })
}

/// What the node's status says; `ready` is false until the pod network is configured.
pub struct StatusInput<'a> {
    pub name: &'a str,
    pub machine: &'a Machine,
    pub runtime_version: &'a str,
    pub ready: bool,
    /// Which hard eviction thresholds are met (or were, within the transition period).
    pub pressure: crate::eviction::Pressure,
    pub since: OffsetDateTime,
    pub now: OffsetDateTime,
}

pub fn status(s: &StatusInput) -> Value {
    let m = s.machine;
    let capacity = json!({
        "cpu": m.cpus.to_string(),
        "ephemeral-storage": format!("{}Ki", m.ephemeral_storage_bytes / 1024),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format!("{}Ki", m.memory_kib),
        "pods": MAX_PODS.to_string(),
    });
    let mut allocatable = capacity.clone();
    // Upstream's default hard eviction thresholds: memory.available<100Mi, nodefs.available<10%.
    allocatable["memory"] = json!(format!("{}Ki", m.memory_kib.saturating_sub(100 * 1024)));
    allocatable["ephemeral-storage"] = json!((m.ephemeral_storage_bytes / 10 * 9).to_string());
    let (since, now) = (clock::time(s.since), clock::time(s.now));
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        })
    };
    let ready = if s.ready {
        condition(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        )
    } else {
        condition(
            "Ready",
            "False",
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        )
    };
    json!({
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": [
            if s.pressure.memory {
                condition("MemoryPressure", "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
            } else {
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
            },
            if s.pressure.disk {
                condition("DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure")
            } else {
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure")
            },
            if s.pressure.pid {
                condition("PIDPressure", "True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available")
            } else {
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available")
            },
            ready,
        ],
        "addresses": [
            {"type": "InternalIP", "address": m.internal_ip.to_string()},
            {"type": "Hostname", "address": s.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": m.machine_id,
            "systemUUID": m.machine_id,
            "bootID": m.boot_id,
            "kernelVersion": m.kernel_version,
            "osImage": m.os_image,
            "containerRuntimeVersion": s.runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        },
    })
}

/// Creates the Node (or takes over the one an earlier run left). Returns its uid.
pub async fn register(api: &Api<Node>, name: &str) -> Result<String, Error> {
    let err = |e| Error::Api(format!("registering node {name}"), e);
    let obj: Node =
        serde_json::from_value(object(name)).map_err(|e| err(kube::Error::SerdeError(e)))?;
    let node = match api.create(&PostParams::default(), &obj).await {
        Ok(n) => n,
        Err(kube::Error::Api(s)) if s.code == 409 => api.get(name).await.map_err(err)?,
        Err(e) => return Err(err(e)),
    };
    Ok(node.metadata.uid.unwrap_or_default())
}

pub async fn post_status(api: &Api<Node>, name: &str, status: Value) -> Result<(), Error> {
    let body = json!({"status": status});
    let mut attempt = 0;
    loop {
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => return Ok(()),
            // A patch races with other writers of the node (the IPAM controller setting
            // the podCIDR); the server may answer Conflict, and the patch applies on retry.
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(Error::Api(format!("posting status of node {name}"), e)),
        }
    }
}

/// Waits for the node IPAM controller to give this node its podCIDR.
pub async fn wait_pod_cidr(api: &Api<Node>, name: &str) -> Result<String, Error> {
    let mut warned = false;
    let start = tokio::time::Instant::now();
    loop {
        match api.get(name).await {
            Ok(n) => {
                if let Some(cidr) = n.spec.and_then(|s| s.pod_cidr) {
                    return Ok(cidr);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading node"),
        }
        if !warned && start.elapsed() > Duration::from_secs(10) {
            warned = true;
            tracing::warn!(
                node = name,
                "still waiting for a podCIDR (is the server's node IPAM controller running?)"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn ensure_lease(api: &Api<Lease>, name: &str, node_uid: &str) -> Result<(), Error> {
    let now = clock::micro_time(clock::now());
    let lease: Lease = serde_json::from_value(sim::lease_object(name, node_uid, &now))
        .map_err(|e| Error::Api(format!("lease {name}"), kube::Error::SerdeError(e)))?;
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => renew_lease(api, name).await,
        Err(e) => Err(Error::Api(format!("creating lease {name}"), e)),
    }
}

async fn renew_lease(api: &Api<Lease>, name: &str) -> Result<(), Error> {
    let now = clock::micro_time(clock::now());
    let patch = json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": sim::LEASE_DURATION_SECONDS, "renewTime": now}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::Api(format!("renewing lease {name}"), e))?;
    Ok(())
}

/// Renews the Lease every 10 s and re-posts the full status every 60 s (a kubelet's
/// rhythm), recreating the Lease if someone deleted it.
pub async fn heartbeat(
    nodes: Api<Node>,
    leases: Api<Lease>,
    name: String,
    node_uid: String,
    status: impl Fn() -> Value,
) {
    let mut tick = tokio::time::interval(LEASE_RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_status = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if let Err(e) = renew_lease(&leases, &name).await {
            tracing::warn!(error = %e, "lease");
            if let Err(e) = ensure_lease(&leases, &name, &node_uid).await {
                tracing::warn!(error = %e, "recreating lease");
            }
        }
        if last_status.elapsed() >= STATUS_EVERY {
            last_status = tokio::time::Instant::now();
            if let Err(e) = post_status(&nodes, &name, status()).await {
                tracing::warn!(error = %e, "node status");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn node_status() {
        let m = Machine {
            cpus: 2,
            memory_kib: 24 * 1024 * 1024,
            ephemeral_storage_bytes: 100 << 30,
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            machine_id: "abc".into(),
            boot_id: "def".into(),
            internal_ip: "192.0.2.2".parse().unwrap(),
        };
        let t = datetime!(2026-12-05 07:00:00 UTC);
        let mut out = String::new();
        for ready in [true, false] {
            let s = status(&StatusInput {
                name: "n1",
                machine: &m,
                runtime_version: "containerd://1.6.20",
                ready,
                pressure: Default::default(),
                since: t,
                now: t,
            });
            out += &serde_json::to_string_pretty(&json!({"allocatable": s["allocatable"], "capacity": s["capacity"], "ready": s["conditions"][3]})).unwrap();
            out.push('\n');
        }
        expect_test::expect_file!["../testdata/node_status.txt"].assert_eq(&out);
    }
}
