//! Pod status as a kubelet reports it, for each step a simulated container goes through.

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};

use crate::node::fnv1a;

/// Where the pod's (identical) app containers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Running {
        ready: bool,
        restarts: u32,
        last_exit: Option<i32>,
    },
    /// Exited and waiting out the restart back-off.
    BackOff {
        restarts: u32,
        exit: i32,
        backoff_s: u64,
    },
    /// Exited for good: the pod is Succeeded (code 0) or Failed.
    Exited { code: i32 },
}

/// Facts fixed for the pod's life.
pub struct Placement<'a> {
    pub host_ip: &'a str,
    pub pod_ip: &'a str,
    /// When the kubelet started the pod (`status.startTime`).
    pub started: &'a str,
}

/// The merge patch for `pods/status`.
pub fn patch(pod: &Pod, at: &Placement<'_>, step: Step, now: &str) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let meta = &pod.metadata;
    let (name, ns, uid) = (
        meta.name.as_deref().unwrap_or(""),
        meta.namespace.as_deref().unwrap_or(""),
        meta.uid.as_deref().unwrap_or(""),
    );
    let terminated = |c: &Container, code: i32, restarts: u32| {
        json!({"terminated": {
            "exitCode": code,
            "reason": if code == 0 { "Completed" } else { "Error" },
            "startedAt": at.started,
            "finishedAt": now,
            "containerID": container_id(uid, &c.name, restarts),
        }})
    };
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let (state, last, ready, restarts) = match step {
                Step::Running { ready, restarts, last_exit } => (
                    json!({"running": {"startedAt": if restarts == 0 { at.started } else { now }}}),
                    last_exit.map(|code| terminated(c, code, restarts.saturating_sub(1))),
                    ready,
                    restarts,
                ),
                Step::BackOff { restarts, exit, backoff_s } => (
                    json!({"waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": format!("back-off {backoff_s}s restarting failed container={} pod={name}_{ns}({uid})", c.name),
                    }}),
                    Some(terminated(c, exit, restarts)),
                    false,
                    restarts,
                ),
                Step::Exited { code } => (terminated(c, code, 0), None, false, 0),
            };
            let mut s = json!({
                "name": c.name,
                "state": state,
                "lastState": last.unwrap_or_else(|| json!({})),
                "ready": ready,
                "restartCount": restarts,
                "image": c.image.as_deref().unwrap_or(""),
                "imageID": image_id(c.image.as_deref().unwrap_or("")),
                "containerID": container_id(uid, &c.name, restarts),
                "started": matches!(step, Step::Running { .. }),
            });
            // A container waiting to restart has no current container.
            if let (Step::BackOff { .. }, Some(o)) = (step, s.as_object_mut()) {
                o.remove("containerID");
            }
            s
        })
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            // Sidecars (restartPolicy Always) keep running; the others ran to completion.
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let state = if sidecar {
                json!({"running": {"startedAt": at.started}})
            } else {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": at.started, "finishedAt": at.started, "containerID": container_id(uid, &c.name, 0)}})
            };
            json!({
                "name": c.name,
                "state": state,
                "lastState": {},
                "ready": true,
                "restartCount": 0,
                "image": c.image.as_deref().unwrap_or(""),
                "imageID": image_id(c.image.as_deref().unwrap_or("")),
                "containerID": container_id(uid, &c.name, 0),
                "started": sidecar,
            })
        })
        .collect();

    let (phase, all_ready) = match step {
        Step::Running { ready, .. } => ("Running", ready),
        Step::BackOff { .. } => ("Running", false),
        Step::Exited { code: 0 } => ("Succeeded", false),
        Step::Exited { .. } => ("Failed", false),
    };
    let cond = |kind: &str, ok: bool, since: &str| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": since});
    let readiness = |kind: &str| {
        let mut c = cond(kind, all_ready, now);
        if phase == "Succeeded" {
            c["reason"] = json!("PodCompleted");
        } else if !all_ready {
            let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                names.join(" ")
            ));
        }
        c
    };
    let mut status = json!({
        "phase": phase,
        "conditions": [
            cond("PodReadyToStartContainers", matches!(step, Step::Running { .. } | Step::BackOff { .. }), at.started),
            cond("Initialized", true, at.started),
            readiness("Ready"),
            readiness("ContainersReady"),
            cond("PodScheduled", true, at.started),
        ],
        "hostIP": at.host_ip,
        "hostIPs": [{"ip": at.host_ip}],
        "podIP": at.pod_ip,
        "podIPs": [{"ip": at.pod_ip}],
        "startTime": at.started,
        "containerStatuses": containers,
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    json!({ "status": status })
}

fn container_id(uid: &str, name: &str, restarts: u32) -> String {
    let key = format!("{uid}/{name}/{restarts}");
    let parts: Vec<String> = (0..4)
        .map(|salt| format!("{:016x}", fnv1a(key.as_bytes(), salt)))
        .collect();
    format!("sim://{}", parts.concat())
}

/// `registry/repository@sha256:<digest>`, with the registry and `library/` filled in as
/// container runtimes do; the digest is derived from the reference, not fetched.
pub fn image_id(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let repo = match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    };
    let full = match repo.split_once('/') {
        None => format!("docker.io/library/{repo}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            repo.to_string()
        }
        Some(_) => format!("docker.io/{repo}"),
    };
    let parts: Vec<String> = (10..14)
        .map(|salt| format!("{:016x}", fnv1a(image.as_bytes(), salt)))
        .collect();
    format!("{full}@sha256:{}", parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {
                "nodeName": "sim-0",
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [{"name": "app", "image": "nginx:1.27"}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn steps() {
        let at = Placement {
            host_ip: "198.18.0.1",
            pod_ip: "10.42.0.2",
            started: "2026-11-22T03:00:00Z",
        };
        let now = "2026-11-22T03:00:05Z";
        let steps = [
            Step::Running {
                ready: true,
                restarts: 0,
                last_exit: None,
            },
            Step::Running {
                ready: false,
                restarts: 0,
                last_exit: None,
            },
            Step::BackOff {
                restarts: 1,
                exit: 1,
                backoff_s: 10,
            },
            Step::Exited { code: 0 },
            Step::Exited { code: 2 },
        ];
        let got: Vec<Value> = steps.iter().map(|s| patch(&pod(), &at, *s, now)).collect();
        expect_test::expect_file!["../testdata/pod_steps.json"]
            .assert_eq(&serde_json::to_string_pretty(&got).unwrap());
    }

    #[test]
    fn image_ids() {
        let cases = [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx"),
            ("bitnami/redis:7", "docker.io/bitnami/redis"),
            ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause"),
            ("localhost:5000/app:v1", "localhost:5000/app"),
            ("busybox@sha256:abc", "docker.io/library/busybox"),
        ];
        for (image, repo) in cases {
            let id = image_id(image);
            assert_eq!(id.split('@').next(), Some(repo), "{image}");
            assert_eq!(id.len(), repo.len() + "@sha256:".len() + 64, "{image}");
        }
    }
}
