//! Events about pods as upstream's kubelet writes them (source `kubelet` and the node,
//! `involvedObject.fieldPath` naming the container), so `kubectl describe pod` and
//! `kubectl events` tell the user what happened. Best effort: a failed write only logs.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, PostParams};
use serde_json::{json, Value};
use sim::clock;

#[derive(Clone)]
pub struct Recorder {
    pub client: kube::Client,
    pub node: String,
}

/// The Event object (pure, for tests); `container` sets the field path.
pub fn event(
    node: &str,
    pod: &Pod,
    container: Option<&str>,
    warning: bool,
    reason: &str,
    message: &str,
    now: time::OffsetDateTime,
) -> Value {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut involved = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": namespace,
        "name": name,
        "uid": pod.metadata.uid.as_deref().unwrap_or(""),
    });
    if let Some(c) = container {
        involved["fieldPath"] = json!(format!("spec.containers{{{c}}}"));
    }
    let stamp = clock::time(now);
    json!({
        "metadata": {
            "name": format!("{name}.{:x}", now.unix_timestamp_nanos()),
            "namespace": namespace,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    })
}

impl Recorder {
    /// Writes the event in the background: pod start-up never waits on it.
    pub fn record(
        &self,
        pod: &Pod,
        container: Option<&str>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        let value = event(
            &self.node,
            pod,
            container,
            warning,
            reason,
            message,
            clock::now(),
        );
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let (client, reason) = (self.client.clone(), reason.to_string());
        tokio::spawn(async move {
            let result = match serde_json::from_value::<Event>(value) {
                Ok(ev) => Api::<Event>::namespaced(client, &namespace)
                    .create(&PostParams::default(), &ev)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                tracing::debug!(%reason, error = %e, "event not recorded");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn pulled_event() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1"},
            "spec": {"containers": []},
        }))
        .unwrap();
        let e = event(
            "n1",
            &pod,
            Some("web"),
            false,
            "Pulled",
            "Successfully pulled image \"i:1\" in 120ms",
            datetime!(2026-12-05 07:00:00 UTC),
        );
        expect_test::expect_file!["../testdata/event_pulled.json"]
            .assert_eq(&serde_json::to_string_pretty(&e).unwrap());
    }
}
