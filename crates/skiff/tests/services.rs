//! Services through the node's service proxy (nftables): a ClusterIP from a pod and a
//! NodePort from the host reach all ready endpoints; with none, connections are refused at
//! once; the proxy's table goes when the agent stops.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::eventually;
use testkit::node::{http_get, NodeHost};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn body(reply: &str) -> String {
    reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn cluster_ip_and_node_port_reach_every_ready_endpoint() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent(bin(), &server, "svc");
    let node_ip = kubectl.ok(&[
        "get",
        "node",
        "svc",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);
    kubectl.ok(&[
        "create",
        "deployment",
        "web",
        &format!("--image={image}"),
        "--replicas=3",
        "--port=8080",
        "--",
        "/skiff-testimage",
        "serve-http",
        "--port",
        "8080",
    ]);
    let node_port = 30100 + host.slot();
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "web"}},
               "spec": {{"type": "NodePort", "selector": {{"app": "web"}},
                 "ports": [{{"port": 80, "targetPort": 8080, "nodePort": {node_port}}}]}}}}"#
        ),
    );
    let pods = eventually(
        "3 web pods Ready",
        Duration::from_secs(90),
        || {
            kubectl.ok(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ])
        },
        |out| out.lines().count() == 3 && out.lines().all(|l| l.ends_with(" True")),
    );
    let names: BTreeSet<String> = pods
        .lines()
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();

    // NodePort, from the host: every pod answers.
    let seen = eventually(
        "the NodePort to spread over the 3 pods",
        Duration::from_secs(30),
        || {
            (0..30)
                .filter_map(|_| http_get(&node_ip, node_port as u16, "/hostname"))
                .map(|r| body(&r))
                .collect::<BTreeSet<String>>()
        },
        |seen| *seen == names,
    );
    assert_eq!(seen, names);

    // ClusterIP, from a pod: every pod answers too.
    let cluster_ip = kubectl.ok(&["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    kubectl.ok(&[
        "run",
        "client",
        &format!("--image={image}"),
        "--restart=Never",
        "--",
        "http-get",
        &format!("{cluster_ip}:80"),
        "/hostname",
        "30",
    ]);
    let answers = eventually(
        "30 answers through the cluster IP",
        Duration::from_secs(60),
        || host.container_output("svc", "default", "client", "client"),
        |out| out.lines().count() >= 30,
    );
    let from_pod: BTreeSet<String> = answers.lines().map(str::to_string).collect();
    assert_eq!(from_pod, names, "{answers}");

    // No endpoints: refused at once, not a hang.
    kubectl.ok(&["scale", "deployment", "web", "--replicas=0"]);
    eventually(
        "the endpoints to empty",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "jsonpath={.items[*].endpoints}",
            ])
        },
        |s| s.trim().is_empty(),
    );
    let addr: SocketAddr = format!("{node_ip}:{node_port}").parse().expect("addr");
    let refused = eventually(
        "a refused connection",
        Duration::from_secs(10),
        || {
            let started = Instant::now();
            let r = TcpStream::connect_timeout(&addr, Duration::from_secs(3));
            (r.map(|_| ()).map_err(|e| e.kind()), started.elapsed())
        },
        |(r, _)| *r == Err(std::io::ErrorKind::ConnectionRefused),
    );
    // A connection started while the rules changed may have waited for a SYN resend; a
    // fresh one is refused at once.
    let _ = refused;
    let started = Instant::now();
    let again = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map(|_| ());
    let took = started.elapsed();
    assert_eq!(
        again.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");

    kubectl.ok(&["delete", "pod", "client", "--wait=false"]);
    kubectl.ok(&["delete", "service", "web"]);
    kubectl.ok(&["delete", "deployment", "web"]);
    eventually(
        "the pods to be gone",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pods", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
    // The proxy removes its table when the agent stops.
    host.stop_agent("svc");
    let listed = Command::new("nft")
        .args(["list", "table", "ip", "skiff-proxy-svc"])
        .output()
        .expect("nft");
    assert!(!listed.status.success(), "the proxy's table is still there");
}

/// A LoadBalancer service is published on the node's address (the built-in load
/// balancer), reachable there from the host; a second one on the same port stays pending.
#[test]
fn load_balancer_is_published_on_the_node_address() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent(bin(), &server, "lb");
    let node_ip = kubectl.ok(&[
        "get",
        "node",
        "lb",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);
    kubectl.ok(&[
        "run",
        "echo",
        &format!("--image={image}"),
        "--labels=app=echo",
        "--",
        "serve-http",
        "--port",
        "8080",
    ]);
    let port = 18000 + host.slot();
    for name in ["front", "late"] {
        kubectl.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "{name}"}},
                   "spec": {{"type": "LoadBalancer", "selector": {{"app": "echo"}},
                     "ports": [{{"port": {port}, "targetPort": 8080}}]}}}}"#
            ),
        );
        // Creation times are whole seconds: the second service is clearly the newer.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let ingress = |name: &str| {
        kubectl.ok(&[
            "get",
            "service",
            name,
            "-o",
            "jsonpath={.status.loadBalancer.ingress[*].ip}",
        ])
    };
    eventually(
        "the node address as the load balancer's ingress",
        Duration::from_secs(30),
        || ingress("front"),
        |ip| *ip == node_ip,
    );
    let reply = eventually(
        "the service through the load balancer address",
        Duration::from_secs(60),
        || http_get(&node_ip, port as u16, "/hostname").map(|r| body(&r)),
        |r| r.as_deref() == Some("echo"),
    );
    assert_eq!(reply.as_deref(), Some("echo"));
    // The kubectl column shows it.
    let row = kubectl.ok(&["get", "service", "front", "--no-headers"]);
    assert!(row.contains(&node_ip), "{row}");
    let events = eventually(
        "the port conflict event",
        Duration::from_secs(30),
        || {
            kubectl.ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=late,reason=PortConflict",
                "-o",
                "jsonpath={.items[*].message}",
            ])
        },
        |m| !m.is_empty(),
    );
    assert!(
        events.contains("already used by LoadBalancer service default/front"),
        "{events}"
    );
    assert_eq!(ingress("late"), "");
    kubectl.ok(&["delete", "service", "front", "late"]);
    kubectl.ok(&["delete", "pod", "echo"]);
}
