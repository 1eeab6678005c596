//! Everything a container's CRI config needs beyond its spec, gathered when it starts: the
//! environment (ConfigMaps, Secrets, downward API), `$(VAR)` in command and args, the
//! security context (with the runAsNonRoot check against the image), and the volume
//! mounts. Failures are CreateContainerConfigError with upstream's messages. Also the
//! worker's volume steps: setup before the sandbox, refresh while running.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{downward, env, security, start, status, Context, PodState};
use crate::cri::v1 as cri;
use crate::volumes;
use crate::Error;

/// `<data>/kubelet/pods`: pods' volumes (the data dir is the logs dir's parent).
pub fn volumes_root(ctx: &Context) -> PathBuf {
    data_dir(ctx).join("kubelet").join("pods")
}

fn data_dir(ctx: &Context) -> PathBuf {
    ctx.pod_logs
        .parent()
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Whether anything in the pod asks for a limit through the downward API (limits default
/// to the node's allocatable, which is then read).
fn wants_limits(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return false };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let in_env = containers.clone().any(env::needs_allocatable);
    let items = spec.volumes.iter().flatten().flat_map(|v| {
        let direct = v.downward_api.iter().flat_map(|d| d.items.iter().flatten());
        let projected = v
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
            .flat_map(|s| s.downward_api.iter().flat_map(|d| d.items.iter().flatten()));
        direct.chain(projected).cloned().collect::<Vec<_>>()
    });
    let in_volumes = items
        .filter_map(|i| i.resource_field_ref)
        .any(|r| r.resource.starts_with("limits."));
    in_env || in_volumes
}

pub async fn facts(ctx: &Context, pod: &Pod, pod_ip: &str) -> downward::Facts {
    let allocatable = if wants_limits(pod) {
        env::allocatable(&ctx.client, &ctx.node_name).await
    } else {
        Default::default()
    };
    downward::Facts {
        host_ip: ctx.host_ip.clone(),
        pod_ip: pod_ip.to_string(),
        allocatable,
    }
}

/// What a container start has at hand.
pub struct Inputs<'a> {
    pub ctx: &'a Context,
    pub pod_ip: &'a str,
    pub sandbox: &'a cri::PodSandboxConfig,
    /// An ephemeral container's target: the runtime id of the container whose process
    /// namespace it joins.
    pub target: Option<&'a str>,
}

/// The config of the container's `attempt`-th start. `Error::Config` is a
/// CreateContainerConfigError.
pub async fn container(
    i: &Inputs<'_>,
    pod: &Pod,
    c: &Container,
    image_ref: &str,
    attempt: u32,
) -> Result<cri::ContainerConfig, Error> {
    let ctx = i.ctx;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut config = start::attempt_config(pod, c, image_ref, attempt);
    let objects = env::fetch(&ctx.client, ns, c)
        .await
        .map_err(Error::Config)?;
    let facts = facts(ctx, pod, i.pod_ip).await;
    let envs = env::resolve(pod, c, &objects, &facts).map_err(Error::Config)?;
    config.command = env::expand_all(&config.command, &envs);
    config.args = env::expand_all(&config.args, &envs);
    if security::effective(pod, c).run_as_non_root {
        let (uid, user) = ctx.cri.image_user(image_ref).await?;
        security::verify_non_root(pod, c, uid, &user).map_err(Error::Config)?;
    }
    let mut namespaces = i
        .sandbox
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone());
    if let (Some(target), Some(ns)) = (i.target, namespaces.as_mut()) {
        ns.pid = cri::NamespaceMode::Target as i32;
        ns.target_id = target.to_string();
    }
    let seccomp_root = data_dir(ctx).join("kubelet").join("seccomp");
    let sc = security::container(pod, c, namespaces, &seccomp_root.display().to_string());
    if let Some(linux) = config.linux.as_mut() {
        linux.security_context = Some(sc);
    }
    let mounted = volumes::host_paths(&ctx.client, &volumes_root(ctx), pod)
        .await
        .map_err(|f| Error::Config(f.message))?;
    config.mounts = volumes::mounts::for_container(c, &mounted, &envs).map_err(Error::Config)?;
    config.envs = envs
        .into_iter()
        .map(|(key, value)| cri::KeyValue { key, value })
        .collect();
    Ok(config)
}

/// Sets up the pod's volumes before its sandbox; on failure a FailedMount event and a
/// Pending status with every container ContainerCreating, as upstream.
pub(super) async fn setup_volumes(
    ctx: &Context,
    pod: &Pod,
    state: &mut PodState,
) -> Result<(), Error> {
    let facts = facts(ctx, pod, &state.pod_ip).await;
    let root = volumes_root(ctx);
    let e = volumes::Env {
        client: &ctx.client,
        root: &root,
        facts: &facts,
    };
    let Err(failure) = volumes::setup(&e, pod, &mut state.volumes).await else {
        return Ok(());
    };
    if state.volumes.should_report(&failure.message) {
        ctx.events
            .record(pod, None, true, "FailedMount", &failure.message);
    }
    let now = sim::clock::time(sim::clock::now());
    let start_time = state.start_time.clone().unwrap_or_else(|| now.clone());
    let f = status::Facts {
        pod_ip: &state.pod_ip,
        host_ip: &ctx.host_ip,
        start_time: &start_time,
        now: &now,
        containers: &[],
    };
    if let Err(e) = super::post_status(ctx, pod, status::pending(pod, &f, &[])).await {
        tracing::warn!(error = %e, "posting pending status");
    }
    Err(Error::Config(failure.message))
}

/// Brings a running pod's configMap/secret/downwardAPI/projected volumes up to date every
/// [`volumes::REFRESH`]; a failure keeps the old files and is an event.
pub(super) async fn refresh_volumes(ctx: &Context, pod: &Pod, state: &mut PodState) {
    if !state.volumes.refresh_due() {
        return;
    }
    let facts = facts(ctx, pod, &state.pod_ip).await;
    let root = volumes_root(ctx);
    let e = volumes::Env {
        client: &ctx.client,
        root: &root,
        facts: &facts,
    };
    if let Err(f) = volumes::refresh(&e, pod, &mut state.volumes).await {
        tracing::warn!(pod = pod.metadata.name.as_deref().unwrap_or(""), error = %f.message, "refreshing volumes");
        if state.volumes.should_report(&f.message) {
            ctx.events
                .record(pod, None, true, "FailedMount", &f.message);
        }
    }
}

/// Unmounts and removes a gone pod's volumes.
pub fn cleanup_volumes(ctx: &Context, uid: &str) {
    volumes::cleanup(&volumes_root(ctx), uid);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_wanted() {
        let field = json!({"fieldRef": {"fieldPath": "metadata.name"}});
        let request = json!({"resourceFieldRef": {"resource": "requests.cpu"}});
        let limit =
            json!({"resourceFieldRef": {"resource": "limits.memory", "containerName": "c"}});
        let cases = [
            (json!({"containers": [{"name": "c"}]}), false),
            (
                json!({"containers": [{"name": "c", "env": [{"name": "A", "valueFrom": field}]}]}),
                false,
            ),
            (
                json!({"containers": [{"name": "c", "env": [{"name": "A", "valueFrom": request}]}]}),
                false,
            ),
            (
                json!({"containers": [{"name": "c", "env": [{"name": "A", "valueFrom": limit}]}]}),
                true,
            ),
            (
                json!({"containers": [{"name": "c"}], "volumes": [{"name": "d", "downwardAPI": {"items": [
                {"path": "m", "resourceFieldRef": {"resource": "limits.memory", "containerName": "c"}}]}}]}),
                true,
            ),
            (
                json!({"containers": [{"name": "c"}], "volumes": [{"name": "p", "projected": {"sources": [{"downwardAPI": {"items": [
                {"path": "m", "resourceFieldRef": {"resource": "limits.cpu", "containerName": "c"}}]}}]}}]}),
                true,
            ),
        ];
        for (spec, want) in cases {
            let pod: Pod = serde_json::from_value(json!({"metadata": {}, "spec": spec})).unwrap();
            assert_eq!(wants_limits(&pod), want, "{spec}");
        }
    }
}
