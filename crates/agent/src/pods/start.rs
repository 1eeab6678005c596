//! Starting one container: pull its image (see `crate::pull`), CreateContainer +
//! StartContainer, then its postStart hook; and finding the containers an earlier run of
//! the agent left in the sandbox.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::sandbox::{self, CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};
use super::Context;
use crate::cri::v1 as cri;
use crate::pull;
use crate::Error;

pub fn container_config(pod: &Pod, c: &Container, image_ref: &str) -> cri::ContainerConfig {
    attempt_config(pod, c, image_ref, 0)
}

/// The config of the container's `attempt`-th start (0 first; one more per restart).
pub fn attempt_config(
    pod: &Pod,
    c: &Container,
    image_ref: &str,
    attempt: u32,
) -> cri::ContainerConfig {
    let id = sandbox::ids(pod);
    let labels: HashMap<String, String> = [
        (POD_NAME, id.name),
        (POD_NAMESPACE, id.namespace),
        (POD_UID, id.uid),
        (CONTAINER_NAME, c.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let annotations: HashMap<String, String> = [
        (
            "io.kubernetes.container.restartCount".to_string(),
            "0".to_string(),
        ),
        (
            "io.kubernetes.container.terminationMessagePath".to_string(),
            c.termination_message_path
                .clone()
                .unwrap_or_else(|| "/dev/termination-log".into()),
        ),
    ]
    .into();
    // Literal values only: config::container resolves valueFrom and envFrom.
    let envs = c
        .env
        .iter()
        .flatten()
        .filter(|e| e.value_from.is_none())
        .map(|e| cri::KeyValue {
            key: e.name.clone(),
            value: e.value.clone().unwrap_or_default(),
        })
        .collect();
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt,
        }),
        image: Some(crate::cri::image_spec(image_ref)),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs,
        labels,
        annotations,
        log_path: format!("{}/{attempt}.log", c.name),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(crate::resources::linux_resources(c)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container that could not be started, with the waiting reason upstream's kubelet shows.
#[derive(Debug)]
pub struct Failed {
    pub container: String,
    pub reason: &'static str,
    pub error: Error,
}

/// Pulls the image when needed, creates and starts the container's `attempt`-th instance,
/// and runs its postStart hook. A failing hook kills the container, which then restarts as
/// its policy says: the id comes back all the same.
pub async fn start_one(
    ctx: &Context,
    pod: &Pod,
    c: &Container,
    sandbox_id: &str,
    sandbox: &cri::PodSandboxConfig,
    pod_ip: &str,
    attempt: u32,
) -> Result<String, Failed> {
    let at = Place {
        sandbox_id,
        sandbox,
        pod_ip,
        target: None,
    };
    start_in(ctx, pod, c, &at, attempt).await
}

/// Where a container starts: its pod's sandbox, and for an ephemeral container with a
/// target, the container whose process namespace it shares.
pub struct Place<'a> {
    pub sandbox_id: &'a str,
    pub sandbox: &'a cri::PodSandboxConfig,
    pub pod_ip: &'a str,
    pub target: Option<&'a str>,
}

pub async fn start_in(
    ctx: &Context,
    pod: &Pod,
    c: &Container,
    at: &Place<'_>,
    attempt: u32,
) -> Result<String, Failed> {
    let (sandbox_id, sandbox, pod_ip) = (at.sandbox_id, at.sandbox, at.pod_ip);
    let failed = |reason, error| Failed {
        container: c.name.clone(),
        reason,
        error,
    };
    let (cri, events) = (&ctx.cri, &ctx.events);
    let began = std::time::Instant::now();
    let image_ref = pull::ensure_image(cri, &ctx.pulls, events, pod, c, sandbox)
        .await
        .map_err(|e| failed(pull::pull_reason(c), e))?;
    let inputs = super::config::Inputs {
        ctx,
        pod_ip,
        sandbox,
        target: at.target,
    };
    let image_ms = began.elapsed().as_millis();
    let config = match super::config::container(&inputs, pod, c, &image_ref, attempt).await {
        Ok(config) => config,
        Err(Error::Config(msg)) => {
            let event = format!("Error: {msg}");
            events.record(pod, Some(&c.name), true, "Failed", &event);
            return Err(failed("CreateContainerConfigError", Error::Config(msg)));
        }
        Err(e) => return Err(failed("CreateContainerError", e)),
    };
    // The runtime writes the log file; its directory is ours to make, as the kubelet's.
    let log_dir = std::path::Path::new(&sandbox.log_directory).join(&c.name);
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| failed("CreateContainerError", Error::io(&log_dir, e)))?;
    let config_ms = began.elapsed().as_millis() - image_ms;
    let id = cri
        .create_container(sandbox_id, config, sandbox)
        .await
        .map_err(|e| failed("CreateContainerError", e))?;
    let create_ms = began.elapsed().as_millis() - image_ms - config_ms;
    let name = Some(c.name.as_str());
    let msg = format!("Created container: {}", c.name);
    events.record(pod, name, false, "Created", &msg);
    cri.start_container(&id)
        .await
        .map_err(|e| failed("RunContainerError", e))?;
    tracing::debug!(
        pod = pod.metadata.name.as_deref().unwrap_or(""),
        container = %c.name,
        image_ms,
        config_ms,
        create_ms,
        start_ms = began.elapsed().as_millis() - image_ms - config_ms - create_ms,
        "container started"
    );
    let msg = format!("Started container {}", c.name);
    events.record(pod, name, false, "Started", &msg);
    let post_start = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref());
    if let Some(h) = post_start {
        let r = super::hooks::run(cri, pod, c, &id, pod_ip, h, super::hooks::MAX_HOOK).await;
        if let Err(msg) = r {
            events.record(pod, name, true, "FailedPostStartHook", &msg);
            let stop = super::kill::Stop {
                cri,
                events,
                pod,
                container: c,
                id: &id,
                pod_ip,
                grace: super::kill::grace_seconds(pod),
                message: "FailedPostStartHook".to_string(),
            };
            if let Err(e) = super::kill::stop_container(stop).await {
                tracing::warn!(container = %c.name, error = %e, "killing after a failed postStart hook");
            }
        }
    }
    Ok(id)
}

/// A container the sandbox already has (left by an earlier run of the agent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adopted {
    pub name: String,
    pub id: String,
    pub attempt: u32,
    /// The instance before it, kept for `kubectl logs --previous`.
    pub previous: Option<String>,
}

/// The newest instance of each container in the sandbox (by attempt, then creation). Pure.
pub fn newest(existing: &[cri::Container]) -> Vec<Adopted> {
    let mut by_name: HashMap<&str, Vec<&cri::Container>> = HashMap::new();
    for e in existing {
        if let Some(name) = e.labels.get(CONTAINER_NAME) {
            by_name.entry(name).or_default().push(e);
        }
    }
    let mut out: Vec<Adopted> = by_name
        .into_iter()
        .map(|(name, mut list)| {
            list.sort_by_key(|e| (e.metadata.as_ref().map_or(0, |m| m.attempt), e.created_at));
            let last = list[list.len() - 1];
            Adopted {
                name: name.to_string(),
                id: last.id.clone(),
                attempt: last.metadata.as_ref().map_or(0, |m| m.attempt),
                previous: list.len().checked_sub(2).map(|i| list[i].id.clone()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_of_a_container() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1"},
            "spec": {"containers": [{
                "name": "web", "image": "i:1",
                "command": ["/skiff-testimage"], "args": ["serve-http", "--port", "8080"],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }]},
        }))
        .unwrap();
        let spec = pod.spec.clone().unwrap();
        let c = container_config(&pod, &spec.containers[0], "sha256:abc");
        let mut labels: Vec<_> = c.labels.iter().collect();
        labels.sort();
        let got = format!(
            "image={:?} command={:?} args={:?} env={:?} log={}\nlabels={labels:?}",
            c.image.map(|i| i.image),
            c.command,
            c.args,
            c.envs
                .iter()
                .map(|e| format!("{}={}", e.key, e.value))
                .collect::<Vec<_>>(),
            c.log_path,
        );
        expect_test::expect![[r#"
            image=Some("sha256:abc") command=["/skiff-testimage"] args=["serve-http", "--port", "8080"] env=["A=1"] log=web/0.log
            labels=[("io.kubernetes.container.name", "web"), ("io.kubernetes.pod.name", "web-1"), ("io.kubernetes.pod.namespace", "default"), ("io.kubernetes.pod.uid", "u-1")]"#]].assert_eq(&got);
    }
}

#[cfg(test)]
mod adopt_tests {
    use super::*;

    #[test]
    fn newest_instances() {
        let c = |id: &str, name: &str, attempt: u32, created: i64| cri::Container {
            id: id.into(),
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt,
            }),
            labels: [(CONTAINER_NAME.to_string(), name.to_string())].into(),
            created_at: created,
            ..Default::default()
        };
        let existing = [
            c("a0", "app", 0, 1),
            c("a2", "app", 2, 5),
            c("a1", "app", 1, 3),
            c("i0", "init", 0, 0),
        ];
        let got: Vec<String> = newest(&existing)
            .iter()
            .map(|a| format!("{} {} {} {:?}", a.name, a.id, a.attempt, a.previous))
            .collect();
        assert_eq!(got, ["app a2 2 Some(\"a1\")", "init i0 0 None"]);
    }
}
