//! Starting a pod's app containers: pull each image (see `crate::pull`), then
//! CreateContainer + StartContainer in spec order.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::sandbox::{self, CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};
use crate::cri::{v1 as cri, Cri};
use crate::events::Recorder;
use crate::pull::{self, Pulls};
use crate::Error;

/// What the status needs to know about a started container.
#[derive(Clone, Debug)]
pub struct Started {
    pub name: String,
    pub id: String,
    /// Restarts so far (the runtime's attempt number, for a container adopted after an
    /// agent restart).
    pub attempt: u32,
}

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

/// Creates and starts each app container the sandbox does not already run.
pub async fn containers(
    cri: &Cri,
    pulls: &Pulls,
    events: &Recorder,
    pod: &Pod,
    sandbox_id: &str,
    sandbox: &cri::PodSandboxConfig,
    inputs: &super::config::Inputs<'_>,
) -> Result<Vec<Started>, Failed> {
    let failed = |c: &Container, reason, error| Failed {
        container: c.name.clone(),
        reason,
        error,
    };
    let first = pod.spec.iter().flat_map(|s| s.containers.first()).next();
    let existing = match cri.containers_in(sandbox_id).await {
        Ok(e) => e,
        Err(e) => {
            let name = first.map(|c| c.name.clone()).unwrap_or_default();
            return Err(Failed {
                container: name,
                reason: "ContainerCreating",
                error: e,
            });
        }
    };
    let mut started = Vec::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        let running = existing.iter().find(|e| {
            e.labels.get(CONTAINER_NAME) == Some(&c.name)
                && e.state == cri::ContainerState::ContainerRunning as i32
        });
        if let Some(e) = running {
            started.push(Started {
                name: c.name.clone(),
                id: e.id.clone(),
                attempt: e.metadata.as_ref().map_or(0, |m| m.attempt),
            });
            continue;
        }
        let image_ref = pull::ensure_image(cri, pulls, events, pod, c, sandbox)
            .await
            .map_err(|e| failed(c, pull::pull_reason(c), e))?;
        let config = match super::config::container(inputs, pod, c, &image_ref, 0).await {
            Ok(config) => config,
            Err(Error::Config(msg)) => {
                let event = format!("Error: {msg}");
                events.record(pod, Some(&c.name), true, "Failed", &event);
                return Err(failed(c, "CreateContainerConfigError", Error::Config(msg)));
            }
            Err(e) => return Err(failed(c, "CreateContainerError", e)),
        };
        // The runtime writes the log file; its directory is ours to make, as the kubelet's.
        let log_dir = std::path::Path::new(&sandbox.log_directory).join(&c.name);
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| failed(c, "CreateContainerError", Error::io(&log_dir, e)))?;
        let id = cri
            .create_container(sandbox_id, config, sandbox)
            .await
            .map_err(|e| failed(c, "CreateContainerError", e))?;
        let name = Some(c.name.as_str());
        events.record(
            pod,
            name,
            false,
            "Created",
            &format!("Created container: {}", c.name),
        );
        cri.start_container(&id)
            .await
            .map_err(|e| failed(c, "RunContainerError", e))?;
        events.record(
            pod,
            name,
            false,
            "Started",
            &format!("Started container {}", c.name),
        );
        started.push(Started {
            name: c.name.clone(),
            id,
            attempt: 0,
        });
    }
    Ok(started)
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
