//! Starting a pod's app containers: pull each image (as imagePullPolicy says), then
//! CreateContainer + StartContainer in spec order.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::sandbox::{self, CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};
use crate::cri::{v1 as cri, Cri};
use crate::events::Recorder;
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

/// upstream's default: `Always` for `:latest` or no tag, else `IfNotPresent` (the API
/// server fills it in, but a pod from an older client may lack it).
pub fn pull_policy(c: &Container) -> &str {
    if let Some(p) = c.image_pull_policy.as_deref() {
        return p;
    }
    let image = c.image.as_deref().unwrap_or("");
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else if last.split_once(':').is_none_or(|(_, tag)| tag == "latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
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

/// `ErrImageNeverPull` when the policy forbids pulling, else `ErrImagePull`.
fn pull_reason(c: &Container) -> &'static str {
    if pull_policy(c) == "Never" {
        "ErrImageNeverPull"
    } else {
        "ErrImagePull"
    }
}

/// Pulls `image` unless the policy and the image store say it is not needed; returns the
/// image reference to create containers from.
pub async fn ensure_image(
    cri: &Cri,
    certs_d: Option<&std::path::Path>,
    events: &Recorder,
    pod: &Pod,
    c: &Container,
    sandbox: &cri::PodSandboxConfig,
) -> Result<String, Error> {
    let image = c.image.as_deref().unwrap_or("");
    let policy = pull_policy(c);
    let name = Some(c.name.as_str());
    if policy != "Always" {
        if let Some(id) = cri.image_present(image).await? {
            let msg = format!("Container image {image:?} already present on machine");
            events.record(pod, name, false, "Pulled", &msg);
            return Ok(id);
        }
        if policy == "Never" {
            let msg = format!("Container image {image:?} is not present with pull policy of Never");
            events.record(pod, name, true, "ErrImageNeverPull", &msg);
            return Err(Error::Cri(msg));
        }
    }
    if let Some(certs_d) = certs_d {
        crate::containerd::ensure_registry_hosts(certs_d, image)?;
    }
    events.record(
        pod,
        name,
        false,
        "Pulling",
        &format!("Pulling image {image:?}"),
    );
    let started = std::time::Instant::now();
    match cri.pull_image(image, sandbox).await {
        Ok(r) => {
            let msg = format!(
                "Successfully pulled image {image:?} in {:?}",
                started.elapsed()
            );
            events.record(pod, name, false, "Pulled", &msg);
            Ok(r)
        }
        Err(e) => {
            let detail = match &e {
                Error::Cri(m) => m.clone(),
                e => e.to_string(),
            };
            let msg = format!("Failed to pull image {image:?}: {detail}");
            events.record(pod, name, true, "Failed", &msg);
            events.record(pod, name, true, "Failed", "Error: ErrImagePull");
            Err(e)
        }
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
    certs_d: Option<&std::path::Path>,
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
        let image_ref = ensure_image(cri, certs_d, events, pod, c, sandbox)
            .await
            .map_err(|e| failed(c, pull_reason(c), e))?;
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
    fn pull_policies() {
        let cases = [
            ("nginx", None, "Always"),
            ("nginx:latest", None, "Always"),
            ("nginx:1.27", None, "IfNotPresent"),
            ("127.0.0.1:5055/skiff/testimage", None, "Always"),
            ("127.0.0.1:5055/skiff/testimage:1", None, "IfNotPresent"),
            ("x@sha256:abc", None, "IfNotPresent"),
            ("nginx", Some("Never"), "Never"),
        ];
        for (image, policy, want) in cases {
            let c = Container {
                image: Some(image.into()),
                image_pull_policy: policy.map(String::from),
                ..Default::default()
            };
            assert_eq!(pull_policy(&c), want, "{image} {policy:?}");
        }
    }

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
