//! Resource arithmetic: what a pod requests and what a node has left.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Amounts in the units the scheduler compares: CPU in millicores, everything else in its
/// base unit (bytes, pods, devices).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
    /// Extended resources such as `nvidia.com/gpu`.
    pub scalar: BTreeMap<String, i64>,
}

fn amount(q: &Quantity, milli: bool) -> i64 {
    let v = apimachinery::quantity::parse_str(&q.0).unwrap_or(0.0);
    if milli {
        (v * 1000.0).ceil() as i64
    } else {
        v.ceil() as i64
    }
}

impl Resources {
    pub fn from_map(map: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in map.into_iter().flatten() {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = amount(q, true),
            "memory" => self.memory = amount(q, false),
            "ephemeral-storage" => self.ephemeral_storage = amount(q, false),
            "pods" => self.pods = amount(q, false),
            other if other.contains('/') || other.starts_with("hugepages-") => {
                self.scalar.insert(other.to_string(), amount(q, false));
            }
            _ => {}
        }
    }

    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        self.pods += o.pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    pub fn sub(&mut self, o: &Resources) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        self.pods -= o.pods;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    fn max_with(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

fn container_requests(c: &Container) -> Resources {
    Resources::from_map(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

/// What a pod needs on a node, as upstream computes it: the regular containers and the
/// restartable init containers (sidecars) together, or the largest one-shot init container
/// (plus the sidecars started before it) if that is more; plus the pod overhead.
pub fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&container_requests(c));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            total.add(&r);
        } else {
            let mut with_sidecars = sidecars.clone();
            with_sidecars.add(&r);
            init_peak.max_with(&with_sidecars);
        }
    }
    total.max_with(&init_peak);
    if let Some(overhead) = spec.overhead.as_ref() {
        total.add(&Resources::from_map(Some(overhead)));
    }
    total.pods = 1;
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    #[test]
    fn requests() {
        let cases = [
            (
                json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                                   {"name": "b", "resources": {"requests": {"cpu": "1", "nvidia.com/gpu": "1"}}}]}),
                (1250, 64 << 20, Some(1)),
            ),
            // A one-shot init container larger than the app containers sets the peak.
            (
                json!({"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
                    "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}]}),
                (2000, 0, None),
            ),
            // A sidecar runs beside the app containers and beside later init containers.
            (
                json!({"initContainers": [{"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                                       {"name": "i", "resources": {"requests": {"cpu": "1"}}}],
                    "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}],
                    "overhead": {"cpu": "10m"}}),
                (1110, 0, None),
            ),
        ];
        for (spec, (cpu, mem, gpu)) in cases {
            let r = pod_requests(&pod(spec.clone()));
            assert_eq!(
                (
                    r.milli_cpu,
                    r.memory,
                    r.scalar.get("nvidia.com/gpu").copied(),
                    r.pods
                ),
                (cpu, mem, gpu, 1),
                "{spec}"
            );
        }
    }
}
