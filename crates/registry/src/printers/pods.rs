//! Pods: READY, STATUS and RESTARTS computed as upstream's `printPod`.

use std::collections::HashMap;

use serde_json::Value;

use super::{
    arr_at, bool_at, creation_age, docs, get, human_duration, int_at, name_cell, opt_bool, opt_str,
    parse_timestamp, s, str_at, Column, Printer, AGE, NAME,
};

pub static PODS: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        Column::new("Status", "string", "The aggregate status of the containers in this pod."),
        Column::new(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        Column::new("IP", "string", docs::POD_STATUS_POD_IP).wide(),
        Column::new("Node", "string", docs::POD_SPEC_NODE_NAME).wide(),
        Column::new("Nominated Node", "string", docs::POD_STATUS_NOMINATED_NODE_NAME).wide(),
        Column::new("Readiness Gates", "string", docs::POD_SPEC_READINESS_GATES).wide(),
    ],
    row: pod_row,
};

/// The READY / STATUS / RESTARTS summary of a pod.
#[derive(Debug, PartialEq, Eq)]
pub struct PodSummary {
    pub ready: String,
    pub status: String,
    pub restarts: String,
}

fn pod_row(pod: &Value, now: i64) -> Vec<Value> {
    let summary = summarize(pod, now);
    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    let pod_ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .map(|ip| str_at(ip, &["ip"]));
    vec![
        name_cell(pod),
        s(summary.ready),
        s(summary.status),
        s(summary.restarts),
        creation_age(pod, now),
        s(or_none(pod_ip.unwrap_or(""))),
        s(or_none(str_at(pod, &["spec", "nodeName"]))),
        s(or_none(str_at(pod, &["status", "nominatedNodeName"]))),
        s(readiness_gates(pod)),
    ]
}

/// A sidecar: an init container with `restartPolicy: Always`.
fn is_restartable(container: Option<&&Value>) -> bool {
    container.is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

/// Finish time of a container's previous termination, if any.
fn last_termination(status: &Value) -> Option<i64> {
    opt_str(status, &["lastState", "terminated", "finishedAt"]).and_then(parse_timestamp)
}

fn latest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

fn has_condition(pod: &Value, type_: &str) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// Upstream's printPod summary, step for step.
pub fn summarize(pod: &Value, now: i64) -> PodSummary {
    let init_specs: HashMap<&str, &Value> = arr_at(pod, &["spec", "initContainers"])
        .iter()
        .map(|c| (str_at(c, &["name"]), c))
        .collect();
    let init_count = arr_at(pod, &["spec", "initContainers"]).len();
    let sidecars = init_specs
        .values()
        .filter(|c| is_restartable(Some(c)))
        .count();
    let total = arr_at(pod, &["spec", "containers"]).len() + sidecars;

    let phase = str_at(pod, &["status", "phase"]);
    let mut reason = match str_at(pod, &["status", "reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = arr_at(pod, &["status", "conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    });
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<i64> = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart: Option<i64> = None;
    let mut initializing = false;

    for (i, status) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let spec = init_specs.get(str_at(status, &["name"]));
        let restartable = is_restartable(spec);
        restarts += int_at(status, &["restartCount"]);
        last_restart = latest(last_restart, last_termination(status));
        if restartable {
            sidecar_restarts += int_at(status, &["restartCount"]);
            sidecar_last_restart = latest(sidecar_last_restart, last_termination(status));
        }
        let terminated = get(status, &["state", "terminated"]);
        let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
        match terminated {
            Some(t) if int_at(t, &["exitCode"]) == 0 => continue,
            _ if restartable && opt_bool(status, &["started"]) == Some(true) => {
                if bool_at(status, &["ready"]) {
                    ready += 1;
                }
                continue;
            }
            Some(t) => {
                reason = match str_at(t, &["reason"]) {
                    "" if int_at(t, &["signal"]) != 0 => {
                        format!("Init:Signal:{}", int_at(t, &["signal"]))
                    }
                    "" => format!("Init:ExitCode:{}", int_at(t, &["exitCode"])),
                    r => format!("Init:{r}"),
                };
            }
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                reason = format!("Init:{waiting_reason}");
            }
            None => reason = format!("Init:{i}/{init_count}"),
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for status in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(status, &["restartCount"]);
            last_restart = latest(last_restart, last_termination(status));
            let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
            let terminated = get(status, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match str_at(t, &["reason"]) {
                    "" if int_at(t, &["signal"]) != 0 => {
                        format!("Signal:{}", int_at(t, &["signal"]))
                    }
                    "" => format!("ExitCode:{}", int_at(t, &["exitCode"])),
                    r => r.to_string(),
                };
            } else if bool_at(status, &["ready"]) && get(status, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs is not "Completed".
        if reason == "Completed" && has_running {
            let ready_condition = arr_at(pod, &["status", "conditions"])
                .iter()
                .any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True");
            reason = if ready_condition {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if get(pod, &["metadata", "deletionTimestamp"]).is_some() {
        if str_at(pod, &["status", "reason"]) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    PodSummary {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
    }
}

/// "true/total" readiness gates, `<none>` without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = arr_at(pod, &["status", "conditions"]);
    let passed = gates
        .iter()
        .filter(|g| {
            let type_ = str_at(g, &["conditionType"]);
            conditions
                .iter()
                .find(|c| str_at(c, &["type"]) == type_)
                .is_some_and(|c| str_at(c, &["status"]) == "True")
        })
        .count();
    format!("{passed}/{}", gates.len())
}
