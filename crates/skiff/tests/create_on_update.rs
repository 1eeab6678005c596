//! PUT of a missing object creates it for the kinds upstream allows (leader election
//! replaces Leases that may not exist yet) and is a 404 for the rest.

use std::path::Path;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use testkit::Server;

async fn client(s: &Server) -> Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(cfg).expect("client")
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_creates_leases_but_not_configmaps() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let c = client(&s).await;

    let leases: Api<Lease> = Api::namespaced(c.clone(), "kube-system");
    let lease = Lease {
        metadata: meta("leader"),
        ..Default::default()
    };
    let made = leases
        .replace("leader", &PostParams::default(), &lease)
        .await
        .expect("PUT creates a lease");
    assert!(made.metadata.uid.is_some());
    assert!(leases.get("leader").await.is_ok());

    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    let cm = ConfigMap {
        metadata: meta("absent"),
        ..Default::default()
    };
    match cms.replace("absent", &PostParams::default(), &cm).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 404);
            assert_eq!(e.message, r#"configmaps "absent" not found"#);
        }
        other => panic!("expected 404, got {other:?}"),
    }
    assert!(cms.get_opt("absent").await.expect("get").is_none());
}
