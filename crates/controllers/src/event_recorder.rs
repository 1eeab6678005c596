//! Events about a workload object, as upstream's event recorder writes them (core/v1
//! Events named `<object>.<hex nanoseconds>`). Best effort: a failed write is only logged.

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;

/// The object an event is about.
pub struct Involved<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Records a `Normal` (`warning == false`) or `Warning` event from `component`.
pub async fn record(
    client: &Client,
    component: &str,
    about: &Involved<'_>,
    warning: bool,
    reason: &str,
    message: &str,
) {
    let now = Timestamp::now();
    // Event times are whole seconds upstream.
    let seconds = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let name = format!("{}.{:x}", about.name, now.as_nanosecond());
    let event = json!({
        "metadata": {"name": name, "namespace": about.namespace},
        "involvedObject": {
            "apiVersion": about.api_version,
            "kind": about.kind,
            "namespace": about.namespace,
            "name": about.name,
            "uid": about.uid,
        },
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
        "firstTimestamp": seconds.to_string(),
        "lastTimestamp": seconds.to_string(),
        "count": 1,
    });
    let result = match serde_json::from_value::<Event>(event) {
        Ok(ev) => Api::<Event>::namespaced(client.clone(), about.namespace)
            .create(&PostParams::default(), &ev)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        tracing::debug!(object = about.name, reason, error = %e, "event not recorded");
    }
}
