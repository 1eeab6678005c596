use super::*;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimSpec, PodSpec, PodStatus, ResourceRequirements, ServicePort, ServiceSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ObjectMeta;

fn res(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, Quantity>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect(),
    )
    .filter(|m: &BTreeMap<_, _>| !m.is_empty())
}

fn container(req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
    Container {
        name: "c".into(),
        resources: Some(ResourceRequirements {
            requests: res(req),
            limits: res(lim),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod(phase: &str, containers: Vec<Container>, init: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta::default(),
        spec: Some(PodSpec {
            containers,
            init_containers: Some(init).filter(|i| !i.is_empty()),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    }
}

fn svc(type_: &str, node_ports: &[i32]) -> Service {
    Service {
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            ports: Some(
                node_ports
                    .iter()
                    .map(|n| ServicePort {
                        port: 80,
                        node_port: Some(*n),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn claim(class: &str, size: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        spec: Some(PersistentVolumeClaimSpec {
            storage_class_name: Some(class.into()),
            resources: Some(VolumeResourceRequirements {
                requests: res(&[("storage", size)]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn used_table() {
    let now = Timestamp::UNIX_EPOCH + SignedDuration::from_secs(100);
    let mut past_grace = pod("Running", vec![container(&[("cpu", "1")], &[])], vec![]);
    past_grace.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    past_grace.metadata.deletion_grace_period_seconds = Some(30);
    let inv = Inventory {
        pods: vec![
            pod(
                "Running",
                vec![
                    container(&[("cpu", "100m"), ("memory", "64Mi")], &[("cpu", "1")]),
                    container(&[("cpu", "200m")], &[("memory", "256Mi")]),
                ],
                vec![container(&[("cpu", "500m")], &[])],
            ),
            pod(
                "Pending",
                vec![container(&[], &[("cpu", "2"), ("memory", "128Mi")])],
                vec![],
            ),
            pod("Succeeded", vec![container(&[("cpu", "4")], &[])], vec![]),
            past_grace,
        ],
        services: vec![
            svc("ClusterIP", &[]),
            svc("NodePort", &[30001, 30002]),
            svc("LoadBalancer", &[30003]),
        ],
        claims: vec![claim("fast", "1Gi"), claim("slow", "512Mi")],
        counts: [
            ("configmaps".to_string(), 2),
            ("deployments.apps".to_string(), 1),
        ]
        .into(),
    };
    let keys = [
        "pods",
        "count/pods",
        "requests.cpu",
        "cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
        "services",
        "services.nodeports",
        "services.loadbalancers",
        "persistentvolumeclaims",
        "requests.storage",
        "fast.storageclass.storage.k8s.io/requests.storage",
        "configmaps",
        "count/configmaps",
        "secrets",
        "count/deployments.apps",
        "bogus",
    ];
    let hard: BTreeMap<String, Quantity> = keys
        .iter()
        .map(|k| (k.to_string(), Quantity("10".into())))
        .collect();
    let got: Vec<String> = used(&hard, &inv, now)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", v.0))
        .collect();
    expect_test::expect![[r#"
        [
            "configmaps=2",
            "count/configmaps=2",
            "count/deployments.apps=1",
            "count/pods=2",
            "cpu=2500m",
            "fast.storageclass.storage.k8s.io/requests.storage=1Gi",
            "limits.cpu=3",
            "limits.memory=384Mi",
            "persistentvolumeclaims=2",
            "pods=2",
            "requests.cpu=2500m",
            "requests.memory=448Mi",
            "requests.storage=1536Mi",
            "secrets=0",
            "services=3",
            "services.loadbalancers=1",
            "services.nodeports=3",
        ]
    "#]]
    .assert_debug_eq(&got);
}
