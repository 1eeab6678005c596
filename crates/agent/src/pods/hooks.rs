//! Lifecycle hooks: postStart right after a container starts, preStop before it is
//! stopped. Exec, httpGet and sleep handlers; a failure returns upstream's message.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use super::handlers::{self, HttpRequest};
use crate::cri::Cri;

/// Hooks have no timeout of their own upstream; this only keeps a hung hook from holding
/// the pod worker forever.
pub const MAX_HOOK: Duration = Duration::from_secs(600);

/// `name_namespace(uid)`, as upstream's messages name a pod.
pub fn pod_ref(pod: &Pod) -> String {
    let id = super::sandbox::ids(pod);
    format!("{}_{}({})", id.name, id.namespace, id.uid)
}

/// Runs the handler against the container, giving up after `limit`.
pub async fn run(
    cri: &Cri,
    pod: &Pod,
    c: &Container,
    container_id: &str,
    pod_ip: &str,
    h: &LifecycleHandler,
    limit: Duration,
) -> Result<(), String> {
    let work = async {
        if let Some(e) = &h.exec {
            let cmd = e.command.clone().unwrap_or_default();
            let failed = |err: String, output: &str| {
                // Go's %v of a []string: [a b].
                format!(
                    "Exec lifecycle hook ([{}]) for Container {:?} in Pod {:?} failed - error: {err}, message: {output:?}",
                    cmd.join(" "),
                    c.name,
                    pod_ref(pod),
                )
            };
            let out = handlers::exec_raw(cri, container_id, &cmd, Duration::ZERO)
                .await
                .map_err(|e| failed(e, ""))?;
            if out.exit_code != 0 {
                let err = format!(
                    "command '{}' exited with {}: {}",
                    cmd.join(" "),
                    out.exit_code,
                    out.stderr
                );
                return Err(failed(err, &(out.stdout + &out.stderr)));
            }
            return Ok(());
        }
        if let Some(a) = &h.http_get {
            let path = a.path.clone().unwrap_or_default();
            let failed = |e: String| {
                format!(
                    "HTTP lifecycle hook ({path}) for Container {:?} in Pod {:?} failed - error: {e}",
                    c.name,
                    pod_ref(pod)
                )
            };
            let req = HttpRequest::from_action(a, c, pod_ip).map_err(failed)?;
            // Upstream only fails a hook on a transport error, not on the status code.
            return handlers::http_get(&req, limit)
                .await
                .map(|_| ())
                .map_err(failed);
        }
        if let Some(s) = &h.sleep {
            tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64)).await;
            return Ok(());
        }
        Err(format!(
            "Cannot run handler: invalid handler for Container {:?}",
            c.name
        ))
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Lifecycle hook for Container {:?} in Pod {:?} did not complete within {}s",
            c.name,
            pod_ref(pod),
            limit.as_secs()
        )),
    }
}
