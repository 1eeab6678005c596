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

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages a failing hook leaves in its event, for each handler.
    #[tokio::test]
    async fn failures() {
        let dir = std::env::temp_dir().join(format!("skiff-hooks-{}", std::process::id()));
        // No runtime listens there: exec fails to run at all.
        let cri = Cri::connect(&dir.join("none.sock")).unwrap();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1"},
            "spec": {"containers": []},
        }))
        .unwrap();
        let c: Container = serde_json::from_value(serde_json::json!({"name": "web"})).unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let handler =
            |v: serde_json::Value| -> LifecycleHandler { serde_json::from_value(v).unwrap() };
        let cases = [
            serde_json::json!({"sleep": {"seconds": 0}}),
            serde_json::json!({"httpGet": {"path": "/quit", "port": closed, "host": "127.0.0.1"}}),
            serde_json::json!({"exec": {"command": ["/bin/stop", "now"]}}),
            serde_json::json!({"sleep": {"seconds": 5}}),
        ];
        let mut got = Vec::new();
        for h in cases {
            let r = run(
                &cri,
                &pod,
                &c,
                "c1",
                "10.42.0.5",
                &handler(h),
                Duration::from_secs(1),
            )
            .await;
            got.push(match r {
                Ok(()) => "ok".to_string(),
                // The transport's own words after "error: " vary; keep the shape.
                Err(e) => e.split(" - error: ").next().unwrap_or("").to_string(),
            });
        }
        expect_test::expect![[r#"
            ok
            HTTP lifecycle hook (/quit) for Container "web" in Pod "web-1_default(u-1)" failed
            Exec lifecycle hook ([/bin/stop now]) for Container "web" in Pod "web-1_default(u-1)" failed
            Lifecycle hook for Container "web" in Pod "web-1_default(u-1)" did not complete within 1s"#]].assert_eq(&got.join("\n"));
    }
}
