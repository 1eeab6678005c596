//! A client pod reaches a 3-replica Deployment through its Service by DNS name (cluster DNS,
//! then the service proxy): the answers come from all 3 pods; a pod whose readiness probe
//! fails gets no traffic; scaled to 0, a connection is refused at once, not left to hang.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use testkit::eventually;
use testkit::node::{http_get, NodeHost};

const NS: &str = "by-name";
const NODE: &str = "named";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// Runs pod `name` doing `n` GETs of `/hostname` at `target` and returns its output lines
/// once there are `n`.
fn client(
    host: &NodeHost,
    kubectl: &testkit::Kubectl,
    image: &str,
    name: &str,
    target: &str,
    n: usize,
) -> Vec<String> {
    kubectl.ok(&[
        "run",
        name,
        "-n",
        NS,
        &format!("--image={image}"),
        "--restart=Never",
        "--",
        "http-get",
        target,
        "/hostname",
        &n.to_string(),
    ]);
    let out = eventually(
        &format!("{n} answers to {name}"),
        Duration::from_secs(90),
        || host.container_output(NODE, NS, name, name),
        |out| out.lines().count() >= n,
    );
    out.lines().map(str::to_string).collect()
}

/// Pod name → pod IP of the Ready `app=web` pods, once there are `n`.
fn ready_pods(kubectl: &testkit::Kubectl, n: usize) -> Vec<(String, String)> {
    let out = eventually(
        &format!("{n} web pods Ready"),
        Duration::from_secs(120),
        || {
            kubectl.ok(&[
                "get", "pods", "-n", NS, "-l", "app=web", "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.status.podIP} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ])
        },
        |out| out.lines().count() == n && out.lines().all(|l| l.ends_with(" True")),
    );
    out.lines()
        .filter_map(|l| {
            let mut w = l.split(' ');
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

#[test]
fn a_client_pod_reaches_a_deployment_by_its_service_name() {
    let mut host = NodeHost::new();
    let image = host.image();
    let kubectl = host.server_with_agent(bin(), NODE, &[]).kubectl();
    kubectl.ok(&["create", "namespace", NS]);
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": [
              {{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "web", "namespace": "{NS}"}},
                "spec": {{"selector": {{"app": "web"}}, "ports": [{{"port": 80, "targetPort": 8080}}]}}}},
              {{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "web", "namespace": "{NS}"}},
                "spec": {{"replicas": 3, "selector": {{"matchLabels": {{"app": "web"}}}},
                  "template": {{"metadata": {{"labels": {{"app": "web"}}}},
                    "spec": {{"terminationGracePeriodSeconds": 1, "containers": [{{"name": "web", "image": "{image}",
                      "args": ["serve-http", "--port", "8080"], "ports": [{{"containerPort": 8080}}],
                      "readinessProbe": {{"httpGet": {{"path": "/healthz", "port": 8080}},
                        "periodSeconds": 1, "failureThreshold": 1}}}}]}}}}}}}}
            ]}}"#
        ),
    );
    let pods = ready_pods(&kubectl, 3);
    let names: BTreeSet<String> = pods.iter().map(|(n, _)| n.clone()).collect();

    // By the fully qualified name: every pod answers (30 random picks miss one of 3 with
    // odds of about 1 in 60,000).
    let fqdn = format!("web.{NS}.svc.cluster.local:80");
    let answers = client(&host, &kubectl, &image, "by-fqdn", &fqdn, 30);
    let seen: BTreeSet<String> = answers.iter().cloned().collect();
    assert_eq!(seen, names, "{answers:?}");
    // By the short name, through the pod's search list.
    let answers = client(&host, &kubectl, &image, "by-short-name", "web:80", 10);
    assert!(answers.iter().all(|a| names.contains(a)), "{answers:?}");

    // A pod that turns not-ready (its readiness probe fails) gets no traffic.
    let (sick, sick_ip) = pods[0].clone();
    let flipped = http_get(&sick_ip, 8080, "/fail");
    assert!(flipped.is_some(), "could not reach {sick} at {sick_ip}");
    eventually(
        "the sick pod's endpoint not ready",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=web", "-o",
                "jsonpath={range .items[*].endpoints[*]}{.targetRef.name} {.conditions.ready}{\"\\n\"}{end}",
            ])
        },
        |out| out.lines().any(|l| *l == format!("{sick} false")),
    );
    let answers = client(&host, &kubectl, &image, "while-one-is-sick", &fqdn, 30);
    let seen: BTreeSet<String> = answers.iter().cloned().collect();
    let healthy: BTreeSet<String> = names.iter().filter(|n| **n != sick).cloned().collect();
    assert_eq!(seen, healthy, "{answers:?}");

    // Scaled to 0: the name still resolves to the cluster IP, and connections are refused
    // at once.
    kubectl.ok(&["scale", "deployment", "web", "-n", NS, "--replicas=0"]);
    eventually(
        "the endpoints to empty",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "endpointslices",
                "-n",
                NS,
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "jsonpath={.items[*].endpoints}",
            ])
        },
        |s| s.trim().is_empty(),
    );
    let answers = client(&host, &kubectl, &image, "after-scale-to-zero", &fqdn, 3);
    eprintln!("after scaling to 0: {answers:?}");
    for a in &answers {
        // `error: Connection refused (os error 111) (after N ms)`
        assert!(a.starts_with("error: Connection refused"), "{answers:?}");
        let ms: u64 = a
            .rsplit_once("(after ")
            .and_then(|(_, r)| r.strip_suffix(" ms)")?.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(ms < 2000, "refused after {ms} ms: {answers:?}");
    }
}
