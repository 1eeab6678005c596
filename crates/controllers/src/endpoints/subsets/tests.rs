use super::*;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodCondition, PodIP, PodSpec, PodStatus, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ObjectMeta;

/// A pod `name` with IP `ip`, ready or not, labelled app=web, with a container port
/// named http on 8080.
pub(crate) fn pod(name: &str, ip: &str, ready: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("n1".into()),
            containers: vec![Container {
                name: "c".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: 8080,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(ip.into()).filter(|s: &String| !s.is_empty()),
            pod_ips: Some(vec![PodIP { ip: ip.into() }]).filter(|_| !ip.is_empty()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

pub(crate) fn service(ports: Vec<(&str, i32, IntOrString)>) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("10.0.0.1".into()),
            selector: Some([("app".to_string(), "web".to_string())].into()),
            ports: Some(
                ports
                    .into_iter()
                    .map(|(name, port, target)| ServicePort {
                        name: Some(name.into()).filter(|n: &String| !n.is_empty()),
                        port,
                        target_port: Some(target),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `ready=ip:port,...; notready=...` per subset, one line each.
fn render(subsets: &[EndpointSubset]) -> String {
    subsets
        .iter()
        .map(|s| {
            let ports: Vec<String> = s
                .ports
                .iter()
                .flatten()
                .map(|p| format!("{}:{}", p.name.as_deref().unwrap_or(""), p.port))
                .collect();
            let ips = |a: &Option<Vec<EndpointAddress>>| {
                a.iter()
                    .flatten()
                    .map(|x| x.ip.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!(
                "ports=[{}] ready=[{}] notready=[{}]",
                ports.join(","),
                ips(&s.addresses),
                ips(&s.not_ready_addresses)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn subsets_table() {
    let int = IntOrString::Int;
    let named = |s: &str| IntOrString::String(s.into());
    let mut terminating = pod("t", "10.0.0.9", true);
    terminating.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    let mut other_app = pod("o", "10.0.0.8", true);
    other_app.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
    let mut succeeded = pod("s", "10.0.0.7", false);
    if let Some(spec) = succeeded.spec.as_mut() {
        spec.restart_policy = Some("Never".into());
    }
    if let Some(st) = succeeded.status.as_mut() {
        st.phase = Some("Succeeded".into());
    }
    let mut publish = service(vec![("", 80, int(8080))]);
    if let Some(s) = publish.spec.as_mut() {
        s.publish_not_ready_addresses = Some(true);
    }
    let cases: Vec<(&str, Service, Vec<Pod>, &str)> = vec![
        (
            "ready and not ready apart, sorted by ip",
            service(vec![("", 80, int(8080))]),
            vec![
                pod("b", "10.0.0.2", true),
                pod("a", "10.0.0.1", true),
                pod("c", "10.0.0.3", false),
            ],
            "ports=[:8080] ready=[10.0.0.1,10.0.0.2] notready=[10.0.0.3]",
        ),
        (
            "named target port resolved from the container",
            service(vec![("web", 80, named("http"))]),
            vec![pod("a", "10.0.0.1", true)],
            "ports=[web:8080] ready=[10.0.0.1] notready=[]",
        ),
        (
            "unknown named port: no endpoint",
            service(vec![("web", 80, named("grpc"))]),
            vec![pod("a", "10.0.0.1", true)],
            "",
        ),
        (
            "two ports, one subset",
            service(vec![("a", 80, int(8080)), ("b", 81, named("http"))]),
            vec![pod("a", "10.0.0.1", true)],
            "ports=[a:8080,b:8080] ready=[10.0.0.1] notready=[]",
        ),
        (
            "no ip, terminating, terminal and unselected pods are skipped",
            service(vec![("", 80, int(8080))]),
            vec![
                pod("x", "", true),
                terminating.clone(),
                succeeded,
                other_app,
            ],
            "",
        ),
        (
            "publishNotReadyAddresses lists every pod as ready, terminating too",
            publish,
            vec![pod("c", "10.0.0.3", false), terminating],
            "ports=[:8080] ready=[10.0.0.3,10.0.0.9] notready=[]",
        ),
    ];
    for (what, svc, pods, want) in cases {
        assert_eq!(render(&subsets(&svc, &pods)), want, "{what}");
    }
}

#[test]
fn address_details() {
    let svc = service(vec![("", 80, IntOrString::Int(8080))]);
    let mut p = pod("a", "10.0.0.1", true);
    if let Some(spec) = p.spec.as_mut() {
        spec.hostname = Some("host-a".into());
        spec.subdomain = Some("web".into());
    }
    let subsets = subsets(&svc, &[p]);
    let addr = &subsets[0].addresses.as_ref().expect("ready")[0];
    assert_eq!(addr.hostname.as_deref(), Some("host-a"));
    assert_eq!(addr.node_name.as_deref(), Some("n1"));
    let r = addr.target_ref.as_ref().expect("target ref");
    assert_eq!(
        (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
        (Some("Pod"), Some("a"), Some("uid-a"))
    );
}

fn addrs(n: usize, prefix: &str) -> Option<Vec<EndpointAddress>> {
    Some(
        (0..n)
            .map(|i| EndpointAddress {
                ip: format!("{prefix}{i}"),
                ..Default::default()
            })
            .collect(),
    )
    .filter(|v: &Vec<_>| !v.is_empty())
}

/// (ready, not ready) per subset before, after, and whether it was cut.
type Case = (Vec<(usize, usize)>, Vec<(usize, usize)>, bool);

#[test]
fn truncation_table() {
    // (ready, not ready) per subset → after truncation, and whether it was cut.
    let cases: Vec<Case> = vec![
        (vec![(600, 400)], vec![(600, 400)], false),
        (vec![(600, 600)], vec![(600, 400)], true),
        (vec![(1200, 5)], vec![(1000, 0)], true),
        (
            vec![(500, 300), (100, 300)],
            vec![(500, 200), (100, 200)],
            true,
        ),
        (vec![(700, 0), (700, 0)], vec![(500, 0), (500, 0)], true),
    ];
    for (input, want, cut) in cases {
        let mut subsets: Vec<EndpointSubset> = input
            .iter()
            .map(|(r, n)| EndpointSubset {
                addresses: addrs(*r, "r"),
                not_ready_addresses: addrs(*n, "n"),
                ports: None,
            })
            .collect();
        assert_eq!(truncate(&mut subsets), cut, "{input:?}");
        let got: Vec<(usize, usize)> = subsets
            .iter()
            .map(|s| {
                (
                    s.addresses.as_ref().map_or(0, Vec::len),
                    s.not_ready_addresses.as_ref().map_or(0, Vec::len),
                )
            })
            .collect();
        assert_eq!(got, want, "{input:?}");
    }
}
