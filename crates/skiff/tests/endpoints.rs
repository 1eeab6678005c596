//! The Endpoints and EndpointSlice controllers over simulated nodes: a Service's ready
//! and not-ready pods, following scale-ups, deletions, and slices of at most 100.

mod simkit;

use std::time::Duration;

use simkit::{bin, get, wait_for, Sim};
use testkit::{Kubectl, Server};

const SETUP: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web, role: main}}
  template:
    metadata: {labels: {app: web, role: main}}
    spec:
      containers:
      - name: app
        image: nginx
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: lazy
  labels: {app: web, role: lazy}
  annotations: {sim.skiff.dev/behavior: never-ready}
spec:
  containers: [{name: app, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http}]
"#;

/// `pod=ready/serving/terminating@zone` for each endpoint of the service's slices,
/// sorted, and the number of slices.
fn slice_endpoints(k: &Kubectl) -> (Vec<String>, usize) {
    let out = get(
        k,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=web",
            "-o",
            "jsonpath={range .items[*]}slice {.metadata.name}\n{range .endpoints[*]}{.targetRef.name}={.conditions.ready}/{.conditions.serving}/{.conditions.terminating}@{.zone}\n{end}{end}",
        ],
    );
    let slices = out.lines().filter(|l| l.starts_with("slice ")).count();
    let mut eps: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with("slice ") && !l.is_empty())
        .map(str::to_string)
        .collect();
    eps.sort();
    (eps, slices)
}

fn addresses(k: &Kubectl, field: &str) -> Vec<String> {
    let out = get(
        k,
        &[
            "get",
            "endpoints",
            "web",
            "-o",
            &format!("jsonpath={{.subsets[*].{field}[*].targetRef.name}}"),
        ],
    );
    let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

fn main_pods(k: &Kubectl) -> Vec<String> {
    let out = get(
        k,
        &[
            "get",
            "pods",
            "-l",
            "role=main",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ],
    );
    let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn endpoints_and_slices_follow_the_pods() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let sim = Sim::start(&server, 3);
    k.ok_stdin(&["apply", "-f", "-"], SETUP);

    wait_for(
        "3 ready and 1 not-ready address",
        Duration::from_secs(30),
        &sim,
        || {
            let ready = addresses(&k, "addresses");
            let not_ready = addresses(&k, "notReadyAddresses");
            (ready.len() != 3 || not_ready != ["lazy"]).then(|| format!("{ready:?} {not_ready:?}"))
        },
    );
    let pods = main_pods(&k);
    assert_eq!(addresses(&k, "addresses"), pods);
    // kubectl shows the ready addresses on the resolved container port.
    let table = k.ok(&["get", "endpoints", "web", "--no-headers"]);
    assert_eq!(table.matches(":8080").count(), 3, "{table}");
    assert!(!table.contains(":80,"), "{table}");
    let ep = k.ok(&[
        "get",
        "endpoints",
        "web",
        "-o",
        "jsonpath={.subsets[0].ports[0].name}={.subsets[0].ports[0].port} {.subsets[0].addresses[0].nodeName} {.metadata.annotations}",
    ]);
    assert!(ep.starts_with("web=8080 sim-"), "{ep}");
    assert!(
        ep.contains("endpoints.kubernetes.io/last-change-trigger-time"),
        "{ep}"
    );

    // The slice lists all four, the never-ready one not ready; zones come from the nodes.
    wait_for(
        "4 endpoints in one slice",
        Duration::from_secs(20),
        &sim,
        || {
            let (eps, slices) = slice_endpoints(&k);
            let ready = eps
                .iter()
                .filter(|e| e.contains("=true/true/false@zone-"))
                .count();
            let lazy = eps
                .iter()
                .any(|e| e.starts_with("lazy=false/false/false@zone-"));
            (slices != 1 || eps.len() != 4 || ready != 3 || !lazy)
                .then(|| format!("{slices} {eps:?}"))
        },
    );
    let meta = k.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "jsonpath={.items[0].metadata.name} {.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by} {.items[0].addressType} {.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name} {.items[0].ports[0].port}",
    ]);
    let parts: Vec<&str> = meta.split(' ').collect();
    assert!(
        parts[0].starts_with("web-") && parts[0].len() == 9,
        "{meta}"
    );
    assert_eq!(
        parts[1..].join(" "),
        "endpointslice-controller.k8s.io IPv4 Service/web 8080"
    );

    // Scaling up adds addresses to both.
    k.ok(&["scale", "rs", "web", "--replicas=5"]);
    wait_for("5 ready addresses", Duration::from_secs(30), &sim, || {
        let ready = addresses(&k, "addresses");
        let (eps, _) = slice_endpoints(&k);
        (ready.len() != 5 || eps.len() != 6).then(|| format!("{ready:?} {eps:?}"))
    });

    // A deleted pod leaves both; its replacement joins.
    let victim = main_pods(&k)[0].clone();
    k.ok(&["delete", "pod", &victim, "--wait=false"]);
    wait_for(
        "the deleted pod gone from endpoints and slices",
        Duration::from_secs(30),
        &sim,
        || {
            let ready = addresses(&k, "addresses");
            let (eps, _) = slice_endpoints(&k);
            let in_slices = eps.iter().any(|e| e.starts_with(&format!("{victim}=")));
            (ready.contains(&victim) || in_slices || ready.len() != 5 || eps.len() != 6)
                .then(|| format!("{ready:?} {eps:?}"))
        },
    );

    // 150 pods (and the lazy one) need at least two slices of at most 100. Packing for
    // little churn (as upstream's) may leave a third when the pods arrive in batches.
    k.ok(&["scale", "rs", "web", "--replicas=150"]);
    wait_for(
        "151 endpoints in 2 or more slices",
        Duration::from_secs(60),
        &sim,
        || {
            let (eps, slices) = slice_endpoints(&k);
            let ready = eps.iter().filter(|e| e.contains("=true/")).count();
            (slices < 2 || eps.len() != 151 || ready != 150)
                .then(|| format!("{slices} slices, {} endpoints, {ready} ready", eps.len()))
        },
    );
    let sizes = k.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {end}",
    ]);
    for name in sizes.split_whitespace() {
        let n = get(
            &k,
            &[
                "get",
                "endpointslice",
                name,
                "-o",
                "jsonpath={.endpoints[*].addresses[0]}",
            ],
        );
        assert!(n.split_whitespace().count() <= 100, "{name}: {n}");
    }
    wait_for(
        "150 ready addresses in Endpoints",
        Duration::from_secs(20),
        &sim,
        || {
            let ready = addresses(&k, "addresses");
            (ready.len() != 150).then(|| ready.len().to_string())
        },
    );

    // Deleting the service takes its Endpoints and (through the garbage collector) slices.
    k.ok(&["delete", "service", "web"]);
    wait_for(
        "endpoints and slices gone",
        Duration::from_secs(30),
        &sim,
        || {
            let eps = get(
                &k,
                &[
                    "get",
                    "endpoints",
                    "-o",
                    "jsonpath={.items[*].metadata.name}",
                ],
            );
            let slices = get(
                &k,
                &[
                    "get",
                    "endpointslices",
                    "-l",
                    "kubernetes.io/service-name=web",
                    "-o",
                    "name",
                ],
            );
            (eps.split_whitespace().any(|n| n == "web") || !slices.trim().is_empty())
                .then(|| format!("{eps} | {slices}"))
        },
    );
    // The apiserver's own kubernetes Endpoints are left alone.
    assert!(k
        .ok(&["get", "endpoints", "kubernetes", "--no-headers"])
        .contains(":"));
}
