//! Core/v1 Events as client-go's recorder writes them, for `kubectl describe`.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

/// Who reports and about what: the object's kind, version and identity.
pub struct Recorder {
    pub client: Client,
    pub component: &'static str,
}

impl Recorder {
    pub async fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, msg: &str) {
        self.record(obj, "Normal", reason, msg).await;
    }

    pub async fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, msg: &str) {
        self.record(obj, "Warning", reason, msg).await;
    }

    /// Best effort, as upstream's recorder: a lost event must not fail a sync.
    async fn record<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: &str,
        reason: &str,
        msg: &str,
    ) {
        let ns = obj.namespace().unwrap_or_else(|| "default".into());
        let now = jiff::Timestamp::now();
        let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nanos = now.as_nanosecond();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            // client-go names events after the object and a hex timestamp.
            "metadata": { "name": format!("{}.{:x}", obj.name_any(), nanos), "namespace": ns },
            "involvedObject": {
                "apiVersion": K::api_version(&()), "kind": K::kind(&()),
                "name": obj.name_any(), "namespace": obj.namespace(), "uid": obj.uid(),
                "resourceVersion": obj.resource_version(),
            },
            "reason": reason, "message": msg, "type": type_,
            "source": { "component": self.component },
            "reportingComponent": self.component,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        });
        let event: Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "event encoding failed");
                return;
            }
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::debug!(error = %e, reason, "event not recorded");
        }
    }
}
