//! DefaultBinder: binds through the pod's `binding` subresource, as upstream does.

use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::framework::{BindPlugin, CycleState, Handle, Plugin, PodInfo, Status};

pub const NAME: &str = "DefaultBinder";

pub struct DefaultBinder {
    handle: Arc<Handle>,
}

impl DefaultBinder {
    pub fn new(handle: &Arc<Handle>) -> DefaultBinder {
        DefaultBinder {
            handle: handle.clone(),
        }
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
    fn events_to_register(&self) -> Vec<crate::framework::ClusterEvent> {
        Vec::new()
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        Some(self)
    }
}

impl BindPlugin for DefaultBinder {
    fn bind<'a>(
        &'a self,
        _state: &'a CycleState,
        pod: &'a PodInfo,
        node: &'a str,
    ) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            let Some(client) = self.handle.client.clone() else {
                return Status::error("no API client to bind with");
            };
            let api: Api<Pod> = Api::namespaced(client, &pod.namespace);
            let binding = json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": { "name": pod.name, "namespace": pod.namespace, "uid": pod.uid },
                "target": { "apiVersion": "v1", "kind": "Node", "name": node },
            });
            match api
                .create_subresource::<serde_json::Value, serde_json::Value>(
                    "binding",
                    &pod.name,
                    &PostParams::default(),
                    &binding,
                )
                .await
            {
                Ok(_) => Status::success(),
                Err(e) => Status::error(format!("binding rejected: {e}")),
            }
        })
    }
}
