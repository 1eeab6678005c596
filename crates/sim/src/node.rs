//! Node objects: registration (the object, then its status through `nodes/status`) and
//! the periodic status heartbeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::Api;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{clock, Error, Shared, SimConfig, SimNode};

/// Upstream's kubelet posts status this often when nothing changes (the Lease carries
/// liveness in between).
const HEARTBEAT: Duration = Duration::from_secs(60);

/// The kubelet's nodeStatusUpdateFrequency: how often it compares the status it would
/// post with what the API holds.
const STATUS_SYNC: Duration = Duration::from_secs(10);

pub const KUBELET_VERSION: &str = "v1.37.0-skiff-sim";

/// The Node as registered: identity, labels and pod range; status comes separately.
pub fn object(config: &SimConfig, n: &SimNode) -> Value {
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": n.name,
            "labels": labels(config, n),
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "sim.skiff.dev/simulated": "true",
            },
        },
        "spec": {
            "podCIDR": n.pod_cidr.to_string(),
            "podCIDRs": [n.pod_cidr.to_string()],
            "providerID": format!("sim://{}", n.name),
        },
    });
    let taints: Vec<Value> = config.taints.iter().filter_map(|t| taint(t)).collect();
    if !taints.is_empty() {
        node["spec"]["taints"] = json!(taints);
    }
    node
}

/// `key[=value]:Effect` as `kubectl taint` writes it.
pub fn taint(spec: &str) -> Option<Value> {
    let (kv, effect) = spec.rsplit_once(':')?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") || kv.is_empty() {
        return None;
    }
    Some(match kv.split_once('=') {
        Some((k, v)) => json!({"key": k, "value": v, "effect": effect}),
        None => json!({"key": kv, "effect": effect}),
    })
}

fn labels(config: &SimConfig, n: &SimNode) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": config.instance_type,
        "topology.kubernetes.io/region": config.region,
        "topology.kubernetes.io/zone": n.zone,
    });
    for (k, v) in &config.labels {
        labels[k.as_str()] = json!(v);
    }
    labels
}

/// The full status a healthy kubelet posts. `since` is when Ready last changed.
pub fn status(
    config: &SimConfig,
    n: &SimNode,
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> Value {
    let capacity = json!({
        "cpu": config.cpu,
        "ephemeral-storage": config.ephemeral_storage,
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": config.memory,
        "pods": config.max_pods.to_string(),
    });
    let mut capacity = capacity;
    for (k, v) in &config.extended_resources {
        capacity[k.as_str()] = json!(v);
    }
    let mut allocatable = capacity.clone();
    // Upstream's default hard eviction thresholds come off allocatable:
    // memory.available<100Mi and nodefs.available<10%.
    if let Some(ki) = gibibytes(&config.memory).map(|g| g * 1024 * 1024) {
        allocatable["memory"] = json!(format!("{}Ki", ki.saturating_sub(100 * 1024)));
    }
    if let Some(bytes) = gibibytes(&config.ephemeral_storage).map(|g| g << 30) {
        allocatable["ephemeral-storage"] = json!((bytes / 10 * 9).to_string());
    }
    let (since, now) = (clock::time(since), clock::time(now));
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
    json!({
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": n.internal_ip.to_string()},
            {"type": "Hostname", "address": n.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": fake_id(&n.name, 1),
            "systemUUID": uuid_shape(&fake_id(&n.name, 2)),
            "bootID": uuid_shape(&fake_id(&n.name, 3)),
            "kernelVersion": "6.8.0-skiff-sim",
            "osImage": "skiff simulated node",
            "containerRuntimeVersion": format!("sim://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// Whole gibibytes in a quantity written as `NGi`.
fn gibibytes(q: &str) -> Option<u64> {
    q.strip_suffix("Gi")?.parse().ok()
}

/// 32 hex digits derived from a name (stable across runs of the simulator).
pub fn fake_id(name: &str, salt: u64) -> String {
    let a = fnv1a(name.as_bytes(), salt);
    let b = fnv1a(name.as_bytes(), salt.wrapping_add(0x9e37_79b9));
    format!("{a:016x}{b:016x}")
}

fn uuid_shape(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub fn fnv1a(bytes: &[u8], salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Creates the Node (or takes over one left by an earlier run) and posts its status.
/// Returns the Node's uid, for the Lease's owner reference.
pub async fn register(shared: &Shared, n: &SimNode) -> Result<String, Error> {
    let api: Api<Node> = Api::all(shared.client.clone());
    let err = |source| Error::Register {
        name: n.name.clone(),
        source,
    };
    let obj: Node = serde_json::from_value(object(&shared.config, n))
        .map_err(|e| err(kube::Error::SerdeError(e)))?;
    let created = match api.create(&PostParams::default(), &obj).await {
        Ok(node) => node,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = json!({"metadata": {"labels": labels(&shared.config, n)}});
            api.patch(&n.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(err)?
        }
        Err(e) => return Err(err(e)),
    };
    let now = clock::now();
    let status = json!({"status": status(&shared.config, n, now, now)});
    api.patch_status(&n.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(err)?;
    Ok(created.metadata.uid.unwrap_or_default())
}

/// Posts every live node's status once a minute (refreshing `lastHeartbeatTime`), and at
/// once when the node's Ready condition says otherwise (the node controller marks a silent
/// node Unknown; a kubelet that is back corrects it on its next 10 s status sync).
pub async fn heartbeat_loop(shared: Arc<Shared>) -> Result<(), Error> {
    let api: Api<Node> = Api::all(shared.client.clone());
    let (store, writer) = kube::runtime::reflector::store::<Node>();
    let watch = kube::runtime::reflector::reflector(
        writer,
        kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default()),
    )
    .default_backoff()
    .for_each(|_| async {});
    tokio::spawn(watch);
    let started = clock::now();
    let mut since: HashMap<String, OffsetDateTime> = HashMap::new();
    let mut last_post = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(STATUS_SYNC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // registration just posted status
    loop {
        tick.tick().await;
        let now = clock::now();
        let full = last_post.elapsed() >= HEARTBEAT;
        if full {
            last_post = tokio::time::Instant::now();
        }
        let due: Vec<(&SimNode, OffsetDateTime)> = shared
            .nodes
            .iter()
            .filter(|n| !shared.is_paused(&n.name))
            .filter_map(|n| {
                let ready = store
                    .get(&kube::runtime::reflector::ObjectRef::new(&n.name))
                    .and_then(|node| {
                        node.status
                            .as_ref()?
                            .conditions
                            .as_ref()?
                            .iter()
                            .find(|c| c.type_ == "Ready")
                            .map(|c| c.status == "True")
                    })
                    .unwrap_or(true);
                if !ready {
                    since.insert(n.name.clone(), now);
                }
                (full || !ready).then(|| (n, since.get(&n.name).copied().unwrap_or(started)))
            })
            .collect();
        futures::stream::iter(due)
            .for_each_concurrent(32, |(n, since)| {
                let api = api.clone();
                let body = json!({"status": status(&shared.config, n, since, now)});
                async move {
                    if let Err(e) = api
                        .patch_status(&n.name, &PatchParams::default(), &Patch::Merge(&body))
                        .await
                    {
                        tracing::warn!(node = %n.name, error = %e, "posting node status");
                    }
                }
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn node_object_and_status() {
        let config = SimConfig::default();
        let n = SimNode {
            name: "sim-1".into(),
            index: 1,
            zone: "zone-b".into(),
            pod_cidr: crate::cidr::Cidr::parse("10.42.1.0/24").unwrap(),
            internal_ip: "198.18.0.2".parse().unwrap(),
        };
        expect_test::expect_file!["../testdata/node_object.json"]
            .assert_eq(&serde_json::to_string_pretty(&object(&config, &n)).unwrap());
        let t = datetime!(2026-11-22 03:00:00 UTC);
        let st = status(&config, &n, t, t + time::Duration::seconds(60));
        expect_test::expect_file!["../testdata/node_status.json"]
            .assert_eq(&serde_json::to_string_pretty(&st).unwrap());
    }
}
