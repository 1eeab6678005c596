//! A controller written the way operator authors write them — `#[derive(CustomResource)]`
//! and kube-rs's `Controller` — runs against `skiff server`: it installs its CRD, watches
//! its resource and the ConfigMaps it owns, and reconciles spec into children and status.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config, CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use testkit::Server;

/// The controller's resource: `message` is copied into a ConfigMap `replicas` times (as
/// keys), and the status says how many it wrote.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.skiff.dev",
    version = "v1",
    kind = "Echo",
    namespaced,
    status = "EchoStatus",
    shortname = "ec",
    printcolumn = r#"{"name":"Written","type":"integer","jsonPath":".status.written"}"#
)]
pub struct EchoSpec {
    message: String,
    replicas: i32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct EchoStatus {
    written: i32,
    observed_generation: Option<i64>,
}

async fn reconcile(echo: Arc<Echo>, client: Arc<Client>) -> Result<Action, kube::Error> {
    let ns = echo.namespace().unwrap_or_default();
    let name = echo.name_any();
    let data: std::collections::BTreeMap<String, String> = (0..echo.spec.replicas)
        .map(|i| (format!("line{i}"), echo.spec.message.clone()))
        .collect();
    let owner = echo.controller_owner_ref(&()).expect("owner ref");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{name}-echo")),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    // The idiomatic kube-rs child write: server-side apply, forced (the controller owns it).
    let cms: Api<ConfigMap> = Api::namespaced((*client).clone(), &ns);
    let mut applied = serde_json::to_value(&cm).expect("configmap json");
    applied["apiVersion"] = json!("v1");
    applied["kind"] = json!("ConfigMap");
    cms.patch(
        &format!("{name}-echo"),
        &PatchParams::apply("echo-controller").force(),
        &Patch::Apply(&applied),
    )
    .await?;
    let echoes: Api<Echo> = Api::namespaced((*client).clone(), &ns);
    // Status through server-side apply on the status subresource, as kube-rs examples do.
    let status = json!({"apiVersion": "demo.skiff.dev/v1", "kind": "Echo",
        "status": {"written": echo.spec.replicas, "observed_generation": echo.metadata.generation}});
    echoes
        .patch_status(
            &name,
            &PatchParams::apply("echo-controller").force(),
            &Patch::Apply(&status),
        )
        .await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(_: Arc<Echo>, _: &kube::Error, _: Arc<Client>) -> Action {
    Action::requeue(Duration::from_millis(500))
}

async fn client(s: &Server) -> Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("read admin kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig to config");
    Client::try_from(cfg).expect("client")
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_custom_resource_controller_reconciles_spec_into_children_and_status() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let client = client(&s).await;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Echo::crd())
        .await
        .expect("create the derived CRD");
    tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(
            crds.clone(),
            Echo::crd_name(),
            conditions::is_crd_established(),
        ),
    )
    .await
    .expect("CRD established in time")
    .expect("watching the CRD");

    let echoes: Api<Echo> = Api::namespaced(client.clone(), "default");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(client.clone());
    let controller = tokio::spawn(
        Controller::new(echoes.clone(), Default::default())
            .owns(cms.clone(), Default::default())
            .run(reconcile, error_policy, ctx)
            .for_each(|_| async {}),
    );

    let e = Echo::new(
        "hello",
        EchoSpec {
            message: "hi".into(),
            replicas: 2,
        },
    );
    echoes
        .create(&PostParams::default(), &e)
        .await
        .expect("create Echo");
    until("the controller to write 2 lines and the status", || async {
        let cm = cms.get_opt("hello-echo").await.ok().flatten();
        let echo = echoes.get("hello").await.ok();
        cm.and_then(|c| c.data).is_some_and(|d| d.len() == 2)
            && echo
                .and_then(|e| e.status)
                .is_some_and(|st| st.written == 2 && st.observed_generation == Some(1))
    })
    .await;

    // A spec change is seen through the watch and reconciled again.
    echoes
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("patch spec");
    until("the controller to follow the new spec", || async {
        let cm = cms.get_opt("hello-echo").await.ok().flatten();
        let echo = echoes.get("hello").await.ok();
        cm.and_then(|c| c.data).is_some_and(|d| d.len() == 4)
            && echo
                .and_then(|e| e.status)
                .is_some_and(|st| st.written == 4 && st.observed_generation == Some(2))
    })
    .await;

    // An owned child deleted behind the controller's back is put back (owns() watch).
    cms.delete("hello-echo", &Default::default())
        .await
        .expect("delete child");
    until("the controller to recreate its child", || async {
        cms.get_opt("hello-echo").await.ok().flatten().is_some()
    })
    .await;
    let cm = cms.get("hello-echo").await.expect("child");
    assert_eq!(
        cm.owner_references()[0].uid,
        echoes
            .get("hello")
            .await
            .expect("echo")
            .uid()
            .unwrap_or_default()
    );
    assert_eq!(Echo::kind(&()), "Echo");
    controller.abort();
}
