//! The pod sandbox: its CRI config from the pod spec, and finding or creating it.

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use crate::cri::{v1 as cri, Cri};
use crate::Error;

/// Labels upstream's kubelet puts on sandboxes and containers; tools such as crictl show
/// them, and we find a pod's sandbox by its uid after a restart.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

pub struct PodIds<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
}

pub fn ids(pod: &Pod) -> PodIds<'_> {
    PodIds {
        name: pod.metadata.name.as_deref().unwrap_or(""),
        namespace: pod.metadata.namespace.as_deref().unwrap_or("default"),
        uid: pod.metadata.uid.as_deref().unwrap_or(""),
    }
}

/// `<logs>/<namespace>_<name>_<uid>`, as upstream's /var/log/pods.
pub fn log_directory(logs: &Path, pod: &Pod) -> String {
    let id = ids(pod);
    logs.join(format!("{}_{}_{}", id.namespace, id.name, id.uid))
        .display()
        .to_string()
}

pub fn config(pod: &Pod, logs: &Path, dns: &crate::pod_dns::Settings) -> cri::PodSandboxConfig {
    let id = ids(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.insert(POD_NAME.into(), id.name.into());
    labels.insert(POD_NAMESPACE.into(), id.namespace.into());
    labels.insert(POD_UID.into(), id.uid.into());
    let annotations = pod
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let host_network = spec.host_network.unwrap_or(false);
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.unwrap_or(0) > 0)
        .map(|p| cri::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp as i32,
                Some("SCTP") => cri::Protocol::Sctp as i32,
                _ => cri::Protocol::Tcp as i32,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or(0),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    // A pod on the node's network has the node's UTS namespace too, and so its hostname:
    // the runtime refuses to set one there.
    let hostname = if host_network {
        String::new()
    } else {
        spec.hostname
            .clone()
            .unwrap_or_else(|| id.name.chars().take(63).collect())
    };
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: id.name.into(),
            uid: id.uid.into(),
            namespace: id.namespace.into(),
            attempt: 0,
        }),
        hostname,
        log_directory: log_directory(logs, pod),
        dns_config: Some({
            let d = crate::pod_dns::build(pod, dns);
            cri::DnsConfig {
                servers: d.servers,
                searches: d.searches,
                options: d.options,
            }
        }),
        port_mappings,
        labels,
        annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: crate::cgroups::pod_parent(pod),
            sysctls: super::security::sysctls(pod),
            security_context: Some(super::security::sandbox(
                pod,
                cri::NamespaceOption {
                    network: if host_network {
                        cri::NamespaceMode::Node as i32
                    } else {
                        cri::NamespaceMode::Pod as i32
                    },
                    pid: if spec.host_pid.unwrap_or(false) {
                        cri::NamespaceMode::Node as i32
                    } else if spec.share_process_namespace.unwrap_or(false) {
                        cri::NamespaceMode::Pod as i32
                    } else {
                        cri::NamespaceMode::Container as i32
                    },
                    ipc: if spec.host_ipc.unwrap_or(false) {
                        cri::NamespaceMode::Node as i32
                    } else {
                        cri::NamespaceMode::Pod as i32
                    },
                    ..Default::default()
                },
                &logs
                    .parent()
                    .map(|d| d.join("kubelet").join("seccomp").display().to_string())
                    .unwrap_or_default(),
            )),
            ..Default::default()
        }),
        windows: None,
    }
}

/// A ready sandbox this pod already has (left by an earlier run of the agent), or a new one.
pub async fn ensure(cri: &Cri, pod: &Pod, config: &cri::PodSandboxConfig) -> Result<String, Error> {
    let uid = ids(pod).uid;
    let existing = cri.sandboxes_labelled(POD_UID, uid).await?;
    if let Some(s) = existing
        .iter()
        .find(|s| s.state == cri::PodSandboxState::SandboxReady as i32)
    {
        return Ok(s.id.clone());
    }
    std::fs::create_dir_all(&config.log_directory)
        .map_err(|e| Error::io(Path::new(&config.log_directory), e))?;
    cri.run_sandbox(config.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_config() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [
                {"containerPort": 8080},
                {"containerPort": 53, "hostPort": 5353, "protocol": "UDP"},
            ]}]},
        }))
        .unwrap();
        let c = config(&pod, Path::new("/d/pods"), &Default::default());
        let mut labels: Vec<_> = c.labels.iter().collect();
        labels.sort();
        let got = format!(
            "hostname={} logs={} labels={labels:?}\nports={:?}\nns={:?}",
            c.hostname,
            c.log_directory,
            c.port_mappings,
            c.linux
                .and_then(|l| l.security_context)
                .and_then(|s| s.namespace_options),
        );
        expect_test::expect![[r#"
            hostname=web-1 logs=/d/pods/default_web-1_u-1 labels=[("app", "web"), ("io.kubernetes.pod.name", "web-1"), ("io.kubernetes.pod.namespace", "default"), ("io.kubernetes.pod.uid", "u-1")]
            ports=[PortMapping { protocol: Udp, container_port: 53, host_port: 5353, host_ip: "" }]
            ns=Some(NamespaceOption { network: Pod, pid: Container, ipc: Pod, target_id: "", userns_options: None })"#]].assert_eq(&got);
    }
}
