//! Every namespace has the `kube-root-ca.crt` ConfigMap holding the cluster CA, so pods can
//! verify the apiserver; it is put back if deleted or changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

const NAME: &str = "kube-root-ca.crt";
const KEY: &str = "ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Ctx {
    client: Client,
    ca_pem: String,
}

pub async fn run(client: Client, ca_pem: String) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let maps: Api<ConfigMap> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    Controller::new(namespaces, watcher::Config::default())
        .watches(maps, config, |cm| {
            cm.namespace().map(|ns| ObjectRef::new(&ns))
        })
        .run(reconcile, error_policy, Arc::new(Ctx { client, ca_pem }))
        .for_each(|_| async {})
        .await;
}

fn error_policy(ns: Arc<Namespace>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "root CA config map not ensured; retrying");
    Action::requeue(Duration::from_secs(5))
}

fn desired(ca_pem: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/description".to_string(),
                DESCRIPTION.to_string(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(KEY.to_string(), ca_pem.to_string())])),
        ..Default::default()
    }
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns.name_any());
    let want = desired(&ctx.ca_pem);
    let result = match api.get_opt(NAME).await? {
        None => api.create(&PostParams::default(), &want).await.map(|_| ()),
        Some(have) if have.data.as_ref().and_then(|d| d.get(KEY)) != Some(&ctx.ca_pem) => {
            let mut fixed = have;
            fixed.data = want.data;
            api.replace(NAME, &PostParams::default(), &fixed)
                .await
                .map(|_| ())
        }
        Some(_) => Ok(()),
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 => {
            Ok(Action::requeue(Duration::from_secs(1)))
        }
        Err(e) => Err(e.into()),
    }
}
