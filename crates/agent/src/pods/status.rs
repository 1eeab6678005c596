//! The pod statuses a kubelet posts: Running once all app containers started, Pending with
//! each container's waiting reason while they cannot start, and the general case from each
//! container's state (restarts, CrashLoopBackOff, terminated). Pure: the caller gathers the
//! runtime's facts.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

pub use super::init::Role;

/// One running app container as the runtime reports it.
#[derive(Clone, Debug)]
pub struct RunningContainer {
    pub name: String,
    /// The image as the spec names it.
    pub image: String,
    /// The runtime's reference to the exact image (repo@digest or image id).
    pub image_id: String,
    /// `containerd://<id>`.
    pub container_id: String,
    pub started_at: String,
}

pub struct Facts<'a> {
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    /// When the agent first saw the pod (status.startTime).
    pub start_time: &'a str,
    pub now: &'a str,
    pub containers: &'a [RunningContainer],
}

/// The status of a pod whose app containers all run (no probes yet, so running = ready).
pub fn running(pod: &Pod, f: &Facts) -> Value {
    let old = pod.status.clone().unwrap_or_default();
    let old_conditions = old.conditions.unwrap_or_default();
    // Keep a condition's transition time while its status does not change.
    let condition = |kind: &str| {
        let since = old_conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_else(|| json!(f.now));
        json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": since})
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers"),
        condition("Initialized"),
        condition("Ready"),
        condition("ContainersReady"),
    ];
    match old_conditions.iter().find(|c| c.type_ == "PodScheduled") {
        Some(c) => conditions.push(serde_json::to_value(c).unwrap_or_default()),
        None => conditions.push(condition("PodScheduled")),
    }
    let mut statuses: Vec<Value> = f
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "image": c.image,
                "imageID": c.image_id,
                "containerID": c.container_id,
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": c.started_at}},
            })
        })
        .collect();
    statuses.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut status = json!({
        "phase": "Running",
        "conditions": conditions,
        "hostIP": f.host_ip,
        "hostIPs": [{"ip": f.host_ip}],
        "startTime": f.start_time,
        "containerStatuses": statuses,
    });
    if !f.pod_ip.is_empty() {
        status["podIP"] = json!(f.pod_ip);
        status["podIPs"] = json!([{"ip": f.pod_ip}]);
    }
    status
}

/// A container not running yet: its waiting reason and message.
#[derive(Clone, Debug)]
pub struct Waiting {
    pub name: String,
    pub reason: String,
    pub message: String,
}

/// The status of a pod whose containers are not all running yet: phase Pending, each
/// container waiting (`ContainerCreating` unless it has a reason of its own).
pub fn pending(pod: &Pod, f: &Facts, waiting: &[Waiting]) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let old_conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    let unready = format!("containers with unready status: [{}]", names.join(" "));
    let condition = |kind: &str, status: &str, reason: Option<&str>| {
        let since = old_conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == status)
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_else(|| json!(f.now));
        let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
        if let Some(r) = reason {
            c["reason"] = json!(r);
            c["message"] = json!(unready);
        }
        c
    };
    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            if f.pod_ip.is_empty() { "False" } else { "True" },
            None,
        ),
        condition("Initialized", "True", None),
        condition("Ready", "False", Some("ContainersNotReady")),
        condition("ContainersReady", "False", Some("ContainersNotReady")),
    ];
    if let Some(c) = old_conditions.iter().find(|c| c.type_ == "PodScheduled") {
        conditions.push(serde_json::to_value(c).unwrap_or_default());
    }
    let statuses: Vec<Value> = names
        .iter()
        .map(|name| {
            let image = spec
                .containers
                .iter()
                .find(|c| c.name == *name)
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let state = match waiting.iter().find(|w| w.name == *name) {
                Some(w) => json!({"waiting": {"reason": w.reason, "message": w.message}}),
                None => json!({"waiting": {"reason": "ContainerCreating"}}),
            };
            json!({
                "name": name,
                "image": image,
                "imageID": "",
                "ready": false,
                "started": false,
                "restartCount": 0,
                "state": state,
            })
        })
        .collect();
    let mut status = json!({
        "phase": "Pending",
        "conditions": conditions,
        "hostIP": f.host_ip,
        "hostIPs": [{"ip": f.host_ip}],
        "startTime": f.start_time,
        "containerStatuses": statuses,
    });
    if !f.pod_ip.is_empty() {
        status["podIP"] = json!(f.pod_ip);
        status["podIPs"] = json!([{"ip": f.pod_ip}]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_status() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1"},
            "spec": {"containers": []},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-05T07:00:00Z"}
            ]},
        }))
        .unwrap();
        let containers = [RunningContainer {
            name: "web".into(),
            image: "127.0.0.1:5055/skiff/testimage:1".into(),
            image_id: "127.0.0.1:5055/skiff/testimage@sha256:abc".into(),
            container_id: "containerd://c1".into(),
            started_at: "2026-12-05T07:00:02Z".into(),
        }];
        let s = running(
            &pod,
            &Facts {
                pod_ip: "10.42.0.5",
                host_ip: "192.0.2.2",
                start_time: "2026-12-05T07:00:01Z",
                now: "2026-12-05T07:00:03Z",
                containers: &containers,
            },
        );
        expect_test::expect_file!["../../testdata/pod_status_running.json"]
            .assert_eq(&serde_json::to_string_pretty(&s).unwrap());
    }

    #[test]
    fn pending_status() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1"},
            "spec": {"containers": [{"name": "web", "image": "127.0.0.1:5055/skiff/nope:1"}, {"name": "side", "image": "i:1"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-05T07:00:00Z"}
            ]},
        }))
        .unwrap();
        let waiting = [Waiting {
            name: "web".into(),
            reason: "ErrImagePull".into(),
            message: "PullImage: not found".into(),
        }];
        let s = pending(
            &pod,
            &Facts {
                pod_ip: "10.42.0.5",
                host_ip: "192.0.2.2",
                start_time: "2026-12-05T07:00:01Z",
                now: "2026-12-05T07:00:03Z",
                containers: &[],
            },
            &waiting,
        );
        expect_test::expect_file!["../../testdata/pod_status_pending.json"]
            .assert_eq(&serde_json::to_string_pretty(&s).unwrap());
    }
}

/// One container as the status shows it, whatever its state.
#[derive(Clone, Debug)]
pub struct ContainerView {
    pub name: String,
    /// App, regular init or sidecar: decides the status list and the conditions it counts in.
    pub role: Role,
    pub image: String,
    pub image_id: String,
    pub container_id: String,
    pub restart_count: u32,
    /// `{"running": ...}`, `{"waiting": ...}` or `{"terminated": ...}`.
    pub state: Value,
    pub last_state: Option<Value>,
    pub ready: bool,
    pub started: bool,
}

impl ContainerView {
    fn exited_zero(&self) -> bool {
        self.state["terminated"]["exitCode"].as_i64() == Some(0)
    }

    /// Upstream's "has started": running, or ran and ended.
    fn has_run(&self) -> bool {
        self.state.get("running").is_some() || self.state.get("terminated").is_some()
    }
}

/// The status of a pod whose sandbox runs, from each container's view (init containers in
/// spec order, then app containers in spec order) and the phase.
pub fn general(pod: &Pod, f: &Facts, views: &[ContainerView], phase: &str) -> Value {
    let old_conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let condition = |kind: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        let since = old_conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == status)
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| serde_json::to_value(t).ok())
            .unwrap_or_else(|| json!(f.now));
        let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    };
    let list = |names: Vec<&str>| format!("[{}]", names.join(" "));
    let apps = || views.iter().filter(|v| v.role == Role::App);
    let incomplete: Vec<&str> = views
        .iter()
        .filter(|v| match v.role {
            Role::App | Role::Ephemeral => false,
            Role::Sidecar => !v.started,
            Role::Init => !v.exited_zero(),
        })
        .map(|v| v.name.as_str())
        .collect();
    let initialized = if phase == "Succeeded" {
        condition("Initialized", true, Some("PodCompleted"), None)
    } else if incomplete.is_empty() || apps().any(ContainerView::has_run) {
        condition("Initialized", true, None, None)
    } else {
        let msg = format!("containers with incomplete status: {}", list(incomplete));
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(msg),
        )
    };
    let unready: Vec<&str> = views
        .iter()
        .filter(|v| matches!(v.role, Role::App | Role::Sidecar) && !v.ready)
        .map(|v| v.name.as_str())
        .collect();
    let ready = |kind: &str| {
        if phase == "Succeeded" {
            condition(kind, false, Some("PodCompleted"), None)
        } else if unready.is_empty() {
            condition(kind, true, None, None)
        } else {
            let msg = format!("containers with unready status: {}", list(unready.clone()));
            condition(kind, false, Some("ContainersNotReady"), Some(msg))
        }
    };
    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            !f.pod_ip.is_empty(),
            None,
            None,
        ),
        initialized,
        ready("Ready"),
        ready("ContainersReady"),
    ];
    // The scheduler's condition; a merge patch replaces the whole list, so it is kept (or,
    // when our copy of the pod predates it, restated: the pod is bound to this node).
    match old_conditions.iter().find(|c| c.type_ == "PodScheduled") {
        Some(c) => conditions.push(serde_json::to_value(c).unwrap_or_default()),
        None => conditions.push(condition("PodScheduled", true, None, None)),
    }
    let to_json = |v: &ContainerView| {
        let mut s = json!({
            "name": v.name,
            "image": v.image,
            "imageID": v.image_id,
            "containerID": v.container_id,
            "ready": v.ready,
            "started": v.started,
            "restartCount": v.restart_count,
            "state": v.state,
        });
        if v.container_id.is_empty() {
            if let Some(o) = s.as_object_mut() {
                o.remove("containerID");
            }
        }
        if let Some(last) = &v.last_state {
            s["lastState"] = last.clone();
        }
        s
    };
    let mut statuses: Vec<Value> = apps().map(to_json).collect();
    statuses.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": f.host_ip,
        "hostIPs": [{"ip": f.host_ip}],
        "startTime": f.start_time,
        "containerStatuses": statuses,
    });
    // Spec order: kubectl's Init:N/M counts along this list.
    let init: Vec<Value> = views
        .iter()
        .filter(|v| matches!(v.role, Role::Init | Role::Sidecar))
        .map(to_json)
        .collect();
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    let ephemeral: Vec<Value> = views
        .iter()
        .filter(|v| v.role == Role::Ephemeral)
        .map(to_json)
        .collect();
    if !ephemeral.is_empty() {
        status["ephemeralContainerStatuses"] = json!(ephemeral);
    }
    if !f.pod_ip.is_empty() {
        status["podIP"] = json!(f.pod_ip);
        status["podIPs"] = json!([{"ip": f.pod_ip}]);
    }
    status
}

#[cfg(test)]
mod general_tests {
    use super::*;

    #[test]
    fn crash_loop_and_completed() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "crash"},
            "spec": {"containers": []},
            "status": {"phase": "Running", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-05T07:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-05T07:00:02Z"}
            ]},
        }))
        .unwrap();
        let facts = Facts {
            pod_ip: "10.42.0.5",
            host_ip: "192.0.2.2",
            start_time: "2026-12-05T07:00:01Z",
            now: "2026-12-05T07:00:20Z",
            containers: &[],
        };
        let terminated = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-12-05T07:00:02Z", "finishedAt": "2026-12-05T07:00:03Z", "containerID": "containerd://c1"}});
        let crash = ContainerView {
            name: "app".into(),
            role: Role::App,
            image: "i:1".into(),
            image_id: "i@sha256:abc".into(),
            container_id: "containerd://c1".into(),
            restart_count: 1,
            state: json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container=app pod=crash_default(u-1)"}}),
            last_state: Some(terminated.clone()),
            ready: false,
            started: false,
        };
        let mut out =
            serde_json::to_string_pretty(&general(&pod, &facts, &[crash], "Running")).unwrap();
        let done = ContainerView {
            name: "app".into(),
            role: Role::App,
            image: "i:1".into(),
            image_id: "i@sha256:abc".into(),
            container_id: "containerd://c1".into(),
            restart_count: 0,
            state: json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-12-05T07:00:02Z", "finishedAt": "2026-12-05T07:00:03Z", "containerID": "containerd://c1"}}),
            last_state: None,
            ready: false,
            started: false,
        };
        out.push('\n');
        out += &serde_json::to_string_pretty(&general(&pod, &facts, &[done], "Succeeded")).unwrap();
        expect_test::expect_file!["../../testdata/pod_status_general.txt"].assert_eq(&out);
    }
}

#[cfg(test)]
mod init_tests {
    use super::*;

    /// A view from a compact spec: role letter (a app, i init, s sidecar, e ephemeral), name, state
    /// (`run`, `wait:<reason>`, `exit:<code>`), then `R` ready and/or `S` started.
    fn view(spec: &str) -> ContainerView {
        let f: Vec<&str> = spec.split_whitespace().collect();
        let role = match f[0] {
            "i" => Role::Init,
            "s" => Role::Sidecar,
            "e" => Role::Ephemeral,
            _ => Role::App,
        };
        let state = match f[2].split_once(':') {
            Some(("wait", r)) => json!({"waiting": {"reason": r}}),
            Some(("exit", c)) => {
                json!({"terminated": {"exitCode": c.parse::<i32>().unwrap(), "reason": "x"}})
            }
            _ => json!({"running": {"startedAt": "2026-12-05T07:00:02Z"}}),
        };
        let flags = f.get(3).copied().unwrap_or("");
        ContainerView {
            name: f[1].into(),
            role,
            image: "i:1".into(),
            image_id: String::new(),
            container_id: String::new(),
            restart_count: 0,
            state,
            last_state: None,
            ready: flags.contains('R'),
            started: flags.contains('S'),
        }
    }

    /// Phase, conditions and both status lists in one line each.
    fn summary(s: &Value) -> String {
        let mut out = format!("phase={}\n", s["phase"].as_str().unwrap_or(""));
        for c in s["conditions"].as_array().into_iter().flatten() {
            if c["type"] == "PodScheduled" || c["type"] == "PodReadyToStartContainers" {
                continue;
            }
            let line = format!(
                "  {}={} {} {}",
                c["type"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or("-"),
                c["message"].as_str().unwrap_or("")
            );
            out += line.trim_end();
            out.push('\n');
        }
        for list in [
            "initContainerStatuses",
            "containerStatuses",
            "ephemeralContainerStatuses",
        ] {
            if s.get(list).is_none() && list == "ephemeralContainerStatuses" {
                continue;
            }
            let items: Vec<String> = s[list]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let state = c["state"]
                        .as_object()
                        .and_then(|o| o.keys().next().cloned());
                    format!(
                        "{}:{}{}{}",
                        c["name"].as_str().unwrap_or(""),
                        state.unwrap_or_default(),
                        if c["ready"] == true { "+ready" } else { "" },
                        if c["started"] == true { "+started" } else { "" },
                    )
                })
                .collect();
            out += &format!("  {list}: {}\n", items.join(" "));
        }
        out
    }

    #[test]
    fn init_sidecars_and_readiness() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"}, "spec": {"containers": []},
        }))
        .unwrap();
        let facts = Facts {
            pod_ip: "10.42.0.5",
            host_ip: "192.0.2.2",
            start_time: "2026-12-05T07:00:01Z",
            now: "2026-12-05T07:00:03Z",
            containers: &[],
        };
        let cases: [(&str, &[&str], &str); 8] = [
            (
                "the first of two init containers runs",
                &[
                    "i first run S",
                    "i second wait:PodInitializing",
                    "a web wait:PodInitializing",
                ],
                "Pending",
            ),
            (
                "init done, the app runs but fails readiness",
                &[
                    "i first exit:0 R",
                    "i second exit:0 R",
                    "a web run S",
                    "a log run RS",
                ],
                "Running",
            ),
            (
                "an init container failed for good",
                &["i setup exit:3", "a web wait:PodInitializing"],
                "Failed",
            ),
            (
                "a sidecar not started yet holds init",
                &[
                    "s proxy run",
                    "i migrate wait:PodInitializing",
                    "a web wait:PodInitializing",
                ],
                "Pending",
            ),
            (
                "a sidecar that is not ready makes the pod unready",
                &["s proxy run S", "a web run RS"],
                "Running",
            ),
            ("all ready", &["s proxy run RS", "a web run RS"], "Running"),
            (
                "an ephemeral debugger neither holds readiness nor counts as an app",
                &["a web run RS", "e debugger wait:ContainerCreating"],
                "Running",
            ),
            (
                "the app completed, the sidecar was stopped",
                &["s proxy exit:0", "a job exit:0"],
                "Succeeded",
            ),
        ];
        let mut out = String::new();
        for (what, views, phase) in cases {
            let views: Vec<ContainerView> = views.iter().map(|v| view(v)).collect();
            out += &format!("# {what}\n");
            out += &summary(&general(&pod, &facts, &views, phase));
        }
        expect_test::expect![[r#"
            # the first of two init containers runs
            phase=Pending
              Initialized=False ContainersNotInitialized containers with incomplete status: [first second]
              Ready=False ContainersNotReady containers with unready status: [web]
              ContainersReady=False ContainersNotReady containers with unready status: [web]
              initContainerStatuses: first:running+started second:waiting
              containerStatuses: web:waiting
            # init done, the app runs but fails readiness
            phase=Running
              Initialized=True -
              Ready=False ContainersNotReady containers with unready status: [web]
              ContainersReady=False ContainersNotReady containers with unready status: [web]
              initContainerStatuses: first:terminated+ready second:terminated+ready
              containerStatuses: log:running+ready+started web:running+started
            # an init container failed for good
            phase=Failed
              Initialized=False ContainersNotInitialized containers with incomplete status: [setup]
              Ready=False ContainersNotReady containers with unready status: [web]
              ContainersReady=False ContainersNotReady containers with unready status: [web]
              initContainerStatuses: setup:terminated
              containerStatuses: web:waiting
            # a sidecar not started yet holds init
            phase=Pending
              Initialized=False ContainersNotInitialized containers with incomplete status: [proxy migrate]
              Ready=False ContainersNotReady containers with unready status: [proxy web]
              ContainersReady=False ContainersNotReady containers with unready status: [proxy web]
              initContainerStatuses: proxy:running migrate:waiting
              containerStatuses: web:waiting
            # a sidecar that is not ready makes the pod unready
            phase=Running
              Initialized=True -
              Ready=False ContainersNotReady containers with unready status: [proxy]
              ContainersReady=False ContainersNotReady containers with unready status: [proxy]
              initContainerStatuses: proxy:running+started
              containerStatuses: web:running+ready+started
            # all ready
            phase=Running
              Initialized=True -
              Ready=True -
              ContainersReady=True -
              initContainerStatuses: proxy:running+ready+started
              containerStatuses: web:running+ready+started
            # an ephemeral debugger neither holds readiness nor counts as an app
            phase=Running
              Initialized=True -
              Ready=True -
              ContainersReady=True -
              initContainerStatuses: 
              containerStatuses: web:running+ready+started
              ephemeralContainerStatuses: debugger:waiting
            # the app completed, the sidecar was stopped
            phase=Succeeded
              Initialized=True PodCompleted
              Ready=False PodCompleted
              ContainersReady=False PodCompleted
              initContainerStatuses: proxy:terminated
              containerStatuses: job:terminated
        "#]].assert_eq(&out);
    }
}
