//! Two nodes, two network namespaces: a node agent on the host and one in a network
//! namespace of the test's own, joined by a veth pair. Each routes the other's podCIDR to
//! the other's InternalIP (host-gw), so pods reach pods and services on the other node, an
//! Ingress on one node reaches its backend on the other, a NetworkPolicy still holds across
//! the nodes, and the routes go with the agents.

use std::path::Path;
use std::time::Duration;

use testkit::eventually;
use testkit::node::NodeHost;
use testkit::Kubectl;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// A pod pinned to `node` running the test image with `args`.
fn pod(
    name: &str,
    namespace: &str,
    node: &str,
    image: &str,
    labels: &str,
    args: &[&str],
) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod",
            "metadata": {{"name": "{name}", "namespace": "{namespace}", "labels": {labels}}},
            "spec": {{"nodeName": "{node}", "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
              "containers": [{{"name": "main", "image": "{image}", "args": {args}}}]}}}}"#,
        args = serde_json::to_string(args).unwrap_or_default(),
    )
}

/// Waits until the pod runs; its IP.
fn running_ip(kubectl: &Kubectl, namespace: &str, name: &str) -> String {
    let out = eventually(
        "the pod Running with an IP",
        Duration::from_secs(90),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                name,
                "-n",
                namespace,
                "-o",
                "jsonpath={.status.phase} {.status.podIP}",
            ])
        },
        |s| s.starts_with("Running 10.42."),
    );
    out.split(' ').nth(1).unwrap_or_default().to_string()
}

fn node_cidr(kubectl: &Kubectl, node: &str) -> String {
    kubectl.ok(&["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"])
}

struct Cluster<'a> {
    host: &'a NodeHost,
    kubectl: Kubectl,
    image: String,
    n: std::cell::Cell<u32>,
}

impl Cluster<'_> {
    /// A fresh client pod on `node` in `namespace` that GETs `target`'s `/hostname` five
    /// times; its five answers (`error: ...` for a failed one).
    fn probe(&self, node: &str, namespace: &str, target: &str) -> Vec<String> {
        self.n.set(self.n.get() + 1);
        let name = format!("client-{}", self.n.get());
        self.kubectl.ok_stdin(
            &["apply", "-f", "-"],
            &pod(
                &name,
                namespace,
                node,
                &self.image,
                "{}",
                &["http-get", target, "/hostname", "5"],
            ),
        );
        let out = eventually(
            "the client's five answers",
            Duration::from_secs(90),
            || self.host.container_output(node, namespace, &name, "main"),
            |out| out.lines().count() >= 5,
        );
        self.kubectl
            .ok(&["delete", "pod", &name, "-n", namespace, "--wait=false"]);
        out.lines().map(str::to_string).collect()
    }
}

/// The last answer is `want` (the first may come before a new client's address reached
/// the other node's policy).
fn reached(answers: &[String], want: &str) -> bool {
    answers.last().is_some_and(|l| l == want)
}

fn refused(answers: &[String]) -> bool {
    answers.iter().all(|l| l.starts_with("error:"))
}

fn has_route(routes: &[String], cidr: &str, via: &str) -> bool {
    routes
        .iter()
        .any(|r| r.starts_with(&format!("{cidr} via {via} ")))
}

#[test]
fn pods_services_and_policies_across_two_nodes() {
    let mut host = NodeHost::new();
    let ns = host.netns();
    // The server listens on the host's end of the veth; the host's agent reports that
    // address as its InternalIP (`--node-ip`), the netns one its own end.
    let server = host.server(
        bin(),
        &["--token", "multinode-secret", "--bind-address", &ns.host_ip],
    );
    let kubectl = server.kubectl();
    let token = std::fs::read_to_string(server.data_dir().join("token")).expect("token file");
    let registry = host.extra_registry(&ns.host_ip, None);
    let config = host.dir.path().join("veth-registries.yaml");
    std::fs::write(
        &config,
        format!("mirrors:\n  \"{registry}\":\n    endpoint: [\"http://{registry}\"]\n"),
    )
    .expect("registries.yaml");
    let pause = format!("{registry}/skiff/pause:1");
    let config_flag = config.display().to_string();
    let flags = ["--pause-image", &pause, "--registry-config", &config_flag];
    // near also runs the ingress, on a free port of the host.
    let ingress_port = testkit::free_port().to_string();
    let near_flags = [&flags[..], &["--ingress-http-port", &ingress_port]].concat();
    host.start_agent_on_veth(bin(), &server, "near", token.trim(), &ns, &near_flags);
    host.start_agent_in_netns(bin(), &server, "far", token.trim(), &ns, &flags);
    let ip = kubectl.ok(&[
        "get",
        "node",
        "near",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);
    assert_eq!(ip, ns.host_ip, "--node-ip");

    // Each node routes the other's pods to the other's InternalIP.
    let (near_cidr, far_cidr) = (node_cidr(&kubectl, "near"), node_cidr(&kubectl, "far"));
    assert_ne!(near_cidr, far_cidr);
    eventually(
        "the host's route to far's pods",
        Duration::from_secs(30),
        || host.pod_routes(None),
        |r| has_route(r, &far_cidr, &ns.ns_ip),
    );
    eventually(
        "the netns' route to near's pods",
        Duration::from_secs(30),
        || host.pod_routes(Some(&ns)),
        |r| has_route(r, &near_cidr, &ns.host_ip),
    );

    kubectl.ok(&["create", "namespace", "shop"]);
    kubectl.ok(&["create", "namespace", "friends"]);
    kubectl.ok(&["label", "namespace", "friends", "team=friends"]);
    let image = format!("{registry}/skiff/testimage:1");
    for (name, node) in [("web-near", "near"), ("web-far", "far")] {
        kubectl.ok_stdin(
            &["apply", "-f", "-"],
            &pod(
                name,
                "shop",
                node,
                &image,
                &format!(r#"{{"app": "web", "side": "{node}"}}"#),
                &["serve-http", "--port", "8080"],
            ),
        );
    }
    let near_ip = running_ip(&kubectl, "shop", "web-near");
    let far_ip = running_ip(&kubectl, "shop", "web-far");
    let cluster = Cluster {
        host: &host,
        kubectl: server.kubectl(),
        image: image.clone(),
        n: Default::default(),
    };

    // (a) Pod to pod, both ways.
    let answers = cluster.probe("near", "default", &format!("{far_ip}:8080"));
    assert!(reached(&answers, "web-far"), "near -> far pod: {answers:?}");
    let answers = cluster.probe("far", "default", &format!("{near_ip}:8080"));
    assert!(
        reached(&answers, "web-near"),
        "far -> near pod: {answers:?}"
    );

    // (b) Pod to a service whose only endpoint is on the other node, by ClusterIP; and a
    // NodePort on the host's node reaching the pod on the other.
    for side in ["near", "far"] {
        kubectl.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                r#"{{"apiVersion": "v1", "kind": "Service",
                    "metadata": {{"name": "web-{side}", "namespace": "shop"}},
                    "spec": {{"type": "NodePort", "selector": {{"side": "{side}"}},
                              "ports": [{{"port": 80, "targetPort": 8080}}]}}}}"#
            ),
        );
    }
    let cluster_ip = |svc: &str| {
        kubectl.ok(&[
            "get",
            "svc",
            svc,
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
    };
    let (svc_near, svc_far) = (cluster_ip("web-near"), cluster_ip("web-far"));
    eventually(
        "both services' endpoints",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "endpointslices",
                "-n",
                "shop",
                "-o",
                "jsonpath={.items[*].endpoints[*].addresses[0]}",
            ])
        },
        |s| s.contains(&near_ip) && s.contains(&far_ip),
    );
    let answers = cluster.probe("near", "default", &format!("{svc_far}:80"));
    assert!(
        reached(&answers, "web-far"),
        "near -> far service: {answers:?}"
    );
    let answers = cluster.probe("far", "default", &format!("{svc_near}:80"));
    assert!(
        reached(&answers, "web-near"),
        "far -> near service: {answers:?}"
    );
    // The netns node's own cluster DNS names the service on the other node.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod(
            "lookup",
            "default",
            "far",
            &image,
            "{}",
            &["lookup", "web-near.shop", "A", "30"],
        ),
    );
    let answer = eventually(
        "far's cluster DNS to answer for web-near.shop",
        Duration::from_secs(90),
        || host.container_output("far", "default", "lookup", "main"),
        |out| !out.is_empty(),
    );
    assert_eq!(
        answer.trim(),
        format!("web-near.shop.svc.cluster.local. A {svc_near}"),
        "{answer}"
    );
    let node_port = kubectl.ok(&[
        "get",
        "svc",
        "web-far",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    let node_port: u16 = node_port.parse().expect("nodePort");
    eventually(
        "the host's NodePort to answer from the far pod",
        Duration::from_secs(30),
        || testkit::node::http_get(&ns.host_ip, node_port, "/hostname").unwrap_or_default(),
        |reply| reply.ends_with("web-far\n") || reply.ends_with("web-far"),
    );

    // An Ingress served by near's agent, its backend's only pod on far.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.example", "http": {"paths": [
              {"path": "/", "pathType": "Prefix",
               "backend": {"service": {"name": "web-far", "port": {"number": 80}}}}]}}]}}"#,
    );
    let url = format!("http://{}:{ingress_port}/hostname", ns.host_ip);
    eventually(
        "near's ingress to answer from the far pod",
        Duration::from_secs(30),
        || {
            let out = std::process::Command::new("curl")
                .args(["-s", "-m", "5", "-H", "Host: shop.example", &url])
                .output()
                .expect("curl");
            String::from_utf8_lossy(&out.stdout).trim_end().to_string()
        },
        |reply| reply.ends_with("web-far"),
    );

    // (c) NetworkPolicy across the nodes: default deny, then a labelled namespace allowed.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}"#,
    );
    std::thread::sleep(Duration::from_secs(1));
    let answers = cluster.probe("far", "default", &format!("{near_ip}:8080"));
    assert!(refused(&answers), "far -> near, denied: {answers:?}");
    let answers = cluster.probe("near", "default", &format!("{far_ip}:8080"));
    assert!(refused(&answers), "near -> far, denied: {answers:?}");
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-friends", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "friends"}}}],
                                  "ports": [{"port": 8080}]}]}}"#,
    );
    std::thread::sleep(Duration::from_secs(1));
    let answers = cluster.probe("far", "friends", &format!("{near_ip}:8080"));
    assert!(
        reached(&answers, "web-near"),
        "far friend -> near: {answers:?}"
    );
    let answers = cluster.probe("near", "friends", &format!("{far_ip}:8080"));
    assert!(
        reached(&answers, "web-far"),
        "near friend -> far: {answers:?}"
    );
    let answers = cluster.probe("far", "default", &format!("{near_ip}:8080"));
    assert!(refused(&answers), "far stranger -> near: {answers:?}");

    // (d) The agents take their routes with them.
    kubectl.ok(&["delete", "namespace", "shop", "friends", "--wait=false"]);
    kubectl.ok(&["delete", "pods", "--all", "--wait=false"]);
    drop(cluster);
    host.stop_agent("far");
    host.stop_agent("near");
    assert_eq!(host.pod_routes(None), Vec::<String>::new(), "host routes");
    assert_eq!(
        host.pod_routes(Some(&ns)),
        Vec::<String>::new(),
        "netns routes"
    );

    // (e) A killed agent's routes: removed when it comes back and the node they led to is
    // gone, and by the test host's cleanup when it does not come back.
    host.start_agent_in_netns(bin(), &server, "far", token.trim(), &ns, &flags);
    host.start_agent_on_veth(bin(), &server, "near", token.trim(), &ns, &flags);
    let far_cidr = node_cidr(&kubectl, "far");
    eventually(
        "the host's route to far's pods again",
        Duration::from_secs(30),
        || host.pod_routes(None),
        |r| has_route(r, &far_cidr, &ns.ns_ip),
    );
    host.kill_agent("near");
    assert!(has_route(&host.pod_routes(None), &far_cidr, &ns.ns_ip));
    host.stop_agent("far");
    kubectl.ok(&["delete", "node", "far"]);
    host.start_agent_on_veth(bin(), &server, "near", token.trim(), &ns, &flags);
    eventually(
        "the restarted agent to drop its route to the deleted node",
        Duration::from_secs(30),
        || host.pod_routes(None),
        |r| r.is_empty(),
    );
    host.start_agent_in_netns(bin(), &server, "far", token.trim(), &ns, &flags);
    let far_cidr = node_cidr(&kubectl, "far");
    eventually(
        "the host's route to the re-registered far",
        Duration::from_secs(30),
        || host.pod_routes(None),
        |r| has_route(r, &far_cidr, &ns.ns_ip),
    );
    host.kill_agent("near");
    let (cidr, service_cidr, bridge, ns_name) = (
        host.cluster_cidr(),
        host.service_cidr(),
        host.bridge(),
        ns.name.clone(),
    );
    drop(host);
    drop(ns);
    for range in [cidr, service_cidr] {
        let out = std::process::Command::new("ip")
            .args(["-4", "route", "show", "root", &range])
            .output()
            .expect("ip");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "routes into {range}"
        );
    }
    assert!(
        !Path::new("/var/run/netns").join(&ns_name).exists(),
        "{ns_name}"
    );
    assert!(
        !Path::new("/sys/class/net").join(&bridge).exists(),
        "{bridge}"
    );
    for table in ["skiff-proxy-near", "skiff-netpol-near"] {
        let listed = std::process::Command::new("nft")
            .args(["list", "table", "ip", table])
            .output()
            .expect("nft");
        assert!(!listed.status.success(), "table {table} is still there");
    }
}
