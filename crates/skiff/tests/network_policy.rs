//! NetworkPolicy enforced on the node (nftables): a default-deny policy blocks a client,
//! an allow rule for a labelled namespace lets that namespace's client through, egress
//! rules (ipBlock with except, a port range) let a client out or keep it in, and the table
//! goes with the agent.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::eventually;
use testkit::node::NodeHost;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

#[test]
fn default_deny_then_allow_a_namespace() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent(bin(), &server, "np");
    kubectl.ok(&["create", "namespace", "shop"]);
    kubectl.ok(&["create", "namespace", "friends"]);
    kubectl.ok(&["label", "namespace", "friends", "team=friends"]);
    kubectl.ok(&[
        "run",
        "web",
        "-n",
        "shop",
        &format!("--image={image}"),
        "--labels=app=web",
        "--port=8080",
        "--",
        "serve-http",
        "--port",
        "8080",
    ]);
    let ip = eventually(
        "the web pod Running with an IP",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "web",
                "-n",
                "shop",
                "-o",
                "jsonpath={.status.phase} {.status.podIP}",
            ])
        },
        |s| s.starts_with("Running 10."),
    );
    let target = format!("{}:8080", ip.split(' ').nth(1).unwrap_or_default());
    let n = std::cell::Cell::new(0);
    // A fresh client pod in `ns`: its three requests' outcomes.
    let probe = |ns: &str| {
        n.set(n.get() + 1);
        let name = format!("client-{}", n.get());
        kubectl.ok(&[
            "run",
            &name,
            "-n",
            ns,
            &format!("--image={image}"),
            "--restart=Never",
            "--",
            "http-get",
            &target,
            "/hostname",
            "3",
        ]);
        let out = eventually(
            "the client's three answers",
            Duration::from_secs(60),
            || host.container_output("np", ns, &name, &name),
            |out| out.lines().count() >= 3,
        );
        kubectl.ok(&["delete", "pod", &name, "-n", ns, "--wait=false"]);
        out
    };
    assert!(
        probe("shop").lines().all(|l| l == "web"),
        "before any policy"
    );

    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}"#,
    );
    std::thread::sleep(Duration::from_secs(1));
    let denied = probe("shop");
    assert!(denied.lines().all(|l| l.starts_with("error:")), "{denied}");

    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-friends", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "friends"}}}],
                                  "ports": [{"port": 8080}]}]}}"#,
    );
    std::thread::sleep(Duration::from_secs(1));
    let friend = probe("friends");
    assert!(friend.lines().all(|l| l == "web"), "{friend}");
    let stranger = probe("default");
    assert!(
        stranger.lines().all(|l| l.starts_with("error:")),
        "{stranger}"
    );

    // Egress, from the client's side: the friends' pods isolated both ways, then let out
    // to the web pod by an ipBlock and a port range. The answers come back although
    // nothing admits traffic into those pods (established return traffic), and an
    // `except` that names the web pod keeps it closed.
    let web_ip = target.split(':').next().unwrap_or_default().to_string();
    let pod_net = format!(
        "{}.0.0/16",
        web_ip.split('.').take(2).collect::<Vec<_>>().join(".")
    );
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "isolated", "namespace": "friends"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}"#,
    );
    std::thread::sleep(Duration::from_secs(1));
    let shut_in = probe("friends");
    assert!(
        shut_in.lines().all(|l| l.starts_with("error:")),
        "{shut_in}"
    );
    let egress = |block: &str| {
        format!(
            r#"{{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {{"name": "out-to-web", "namespace": "friends"}},
                "spec": {{"podSelector": {{}}, "policyTypes": ["Egress"],
                         "egress": [{{"to": [{{"ipBlock": {block}}}],
                                      "ports": [{{"protocol": "TCP", "port": 8000, "endPort": 8100}}]}}]}}}}"#
        )
    };
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &egress(&format!(
            r#"{{"cidr": "{pod_net}", "except": ["{web_ip}/32"]}}"#
        )),
    );
    std::thread::sleep(Duration::from_secs(1));
    let excepted = probe("friends");
    assert!(
        excepted.lines().all(|l| l.starts_with("error:")),
        "{excepted}"
    );
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &egress(&format!(r#"{{"cidr": "{web_ip}/32"}}"#)),
    );
    std::thread::sleep(Duration::from_secs(1));
    let let_out = probe("friends");
    assert!(let_out.lines().all(|l| l == "web"), "{let_out}");

    kubectl.ok(&["delete", "namespace", "shop", "friends", "--wait=false"]);
    host.stop_agent("np");
    let listed = Command::new("nft")
        .args(["list", "table", "ip", "skiff-netpol-np"])
        .output()
        .expect("nft");
    assert!(!listed.status.success(), "the policy table is still there");
}
