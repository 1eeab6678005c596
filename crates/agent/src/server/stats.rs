//! `GET /stats/summary`: the node's and each pod's containers' CPU (nanocores, a rate
//! between two samples of cumulative usage) and memory working set, in the shape of the
//! kubelet's Summary API (the part `metrics.k8s.io` needs). Containers come from CRI
//! ListContainerStats; the node from `/proc/stat` and `/proc/meminfo`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use http::{Response, StatusCode};
use k8s_cri::v1 as cri;
use serde_json::{json, Value};

use super::{Body, Context};
use crate::pods::sandbox::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};

/// A cumulative CPU reading: nanoseconds of CPU time at a moment (nanoseconds since epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    pub at_ns: i64,
    pub usage_ns: u64,
}

/// Usage in nanocores between two readings; None if they are too close or out of order.
pub fn rate(prev: CpuSample, now: CpuSample) -> Option<u64> {
    let dt = now.at_ns.checked_sub(prev.at_ns)?;
    // Below 100 ms the rate is mostly noise.
    if dt < 100_000_000 {
        return None;
    }
    let du = now.usage_ns.checked_sub(prev.usage_ns)?;
    Some((u128::from(du) * 1_000_000_000 / dt as u128) as u64)
}

/// The previous readings, so that each request can report a rate.
#[derive(Default)]
pub struct Sampler {
    last: tokio::sync::Mutex<HashMap<String, CpuSample>>,
}

struct ContainerReading {
    ns: String,
    pod: String,
    uid: String,
    name: String,
    cpu: CpuSample,
    memory: u64,
}

const NODE_KEY: &str = "/node";

async fn read_containers(ctx: &Context) -> Result<Vec<ContainerReading>, crate::Error> {
    let mut rt = ctx.cri.runtime.clone();
    let stats = rt
        .list_container_stats(cri::ListContainerStatsRequest { filter: None })
        .await
        .map_err(|e| crate::Error::status("ListContainerStats", e))?
        .into_inner()
        .stats;
    let running: std::collections::HashSet<String> = rt
        .list_containers(cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                state: Some(cri::ContainerStateValue {
                    state: cri::ContainerState::ContainerRunning as i32,
                }),
                ..Default::default()
            }),
        })
        .await
        .map_err(|e| crate::Error::status("ListContainers", e))?
        .into_inner()
        .containers
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut out = Vec::new();
    for s in stats {
        let Some(attr) = s.attributes else { continue };
        if !running.contains(&attr.id) {
            continue;
        }
        let label = |k: &str| attr.labels.get(k).cloned().unwrap_or_default();
        let cpu = s.cpu.as_ref();
        let usage = cpu
            .and_then(|c| c.usage_core_nano_seconds.as_ref())
            .map_or(0, |v| v.value);
        let at = cpu.map_or(0, |c| c.timestamp);
        let memory = s
            .memory
            .as_ref()
            .and_then(|m| m.working_set_bytes.as_ref())
            .map_or(0, |v| v.value);
        out.push(ContainerReading {
            ns: label(POD_NAMESPACE),
            pod: label(POD_NAME),
            uid: label(POD_UID),
            name: attr
                .metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_else(|| label(CONTAINER_NAME)),
            cpu: CpuSample {
                at_ns: at,
                usage_ns: usage,
            },
            memory,
        });
    }
    Ok(out)
}

fn now_ns() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64
}

/// The node's cumulative busy CPU time from `/proc/stat` (all but idle and iowait).
fn node_cpu() -> CpuSample {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    CpuSample {
        at_ns: now_ns(),
        usage_ns: busy_ns(&stat, clock_ticks()).unwrap_or(0),
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Busy nanoseconds in the first line of `/proc/stat`.
pub fn busy_ns(stat: &str, ticks_per_sec: u64) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    Some((total - idle) * (1_000_000_000 / ticks_per_sec.max(1)))
}

/// MemTotal − MemAvailable, in bytes.
pub fn node_working_set(meminfo: &str) -> u64 {
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field("MemTotal:").saturating_sub(field("MemAvailable:")) * 1024
}

fn key(r: &ContainerReading) -> String {
    format!("{}/{}/{}/{}", r.ns, r.pod, r.uid, r.name)
}

pub async fn summary(ctx: &Context) -> Response<Body> {
    match build(ctx).await {
        Ok(v) => {
            let mut resp = Response::new(super::full(serde_json::to_vec(&v).unwrap_or_default()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => super::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}

async fn build(ctx: &Context) -> Result<Value, crate::Error> {
    let mut last = ctx.stats.last.lock().await;
    let mut node = node_cpu();
    let mut containers = read_containers(ctx).await?;
    // A reading without a usable earlier one (first request, new container): take a
    // second reading shortly after, so every answer has rates.
    let lacking = last.get(NODE_KEY).is_none_or(|p| rate(*p, node).is_none())
        || containers
            .iter()
            .any(|c| last.get(&key(c)).is_none_or(|p| rate(*p, c.cpu).is_none()));
    if lacking {
        last.insert(NODE_KEY.into(), node);
        for c in &containers {
            last.entry(key(c)).or_insert(c.cpu);
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        node = node_cpu();
        containers = read_containers(ctx).await?;
    }
    let node_rate = last.get(NODE_KEY).and_then(|p| rate(*p, node)).unwrap_or(0);
    last.insert(NODE_KEY.into(), node);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let stamp = sim::clock::time(time::OffsetDateTime::now_utc());
    let mut pods: BTreeMap<(String, String, String), Vec<Value>> = BTreeMap::new();
    let mut seen = HashMap::new();
    for c in &containers {
        let k = key(c);
        let r = last.get(&k).and_then(|p| rate(*p, c.cpu)).unwrap_or(0);
        seen.insert(k, c.cpu);
        pods.entry((c.ns.clone(), c.pod.clone(), c.uid.clone()))
            .or_default()
            .push(json!({
                "name": c.name,
                "cpu": {"time": stamp, "usageNanoCores": r, "usageCoreNanoSeconds": c.cpu.usage_ns},
                "memory": {"time": stamp, "workingSetBytes": c.memory},
            }));
    }
    last.retain(|k, _| k == NODE_KEY);
    last.extend(seen);
    let pods: Vec<Value> = pods
        .into_iter()
        .map(|((ns, name, uid), containers)| {
            json!({
                "podRef": {"name": name, "namespace": ns, "uid": uid},
                "containers": containers,
            })
        })
        .collect();
    Ok(json!({
        "node": {
            "nodeName": ctx.node_name,
            "cpu": {"time": stamp, "usageNanoCores": node_rate, "usageCoreNanoSeconds": node.usage_ns},
            "memory": {"time": stamp, "workingSetBytes": node_working_set(&meminfo)},
        },
        "pods": pods,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let s = |at_ns, usage_ns| CpuSample { at_ns, usage_ns };
        let cases = [
            (s(0, 0), s(1_000_000_000, 500_000_000), Some(500_000_000)),
            (s(0, 0), s(2_000_000_000, 100_000_000), Some(50_000_000)),
            (s(0, 0), s(50_000_000, 1), None),
            (s(5, 10), s(2_000_000_000, 5), None),
            (s(2_000_000_000, 0), s(0, 5), None),
        ];
        for (a, b, want) in cases {
            assert_eq!(rate(a, b), want, "{a:?} {b:?}");
        }
    }

    #[test]
    fn proc_files() {
        let stat = "cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(busy_ns(stat, 100), Some(150 * 10_000_000));
        let meminfo = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n";
        assert_eq!(node_working_set(meminfo), 600 * 1024);
    }
}
