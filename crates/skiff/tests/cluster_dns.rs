//! Cluster DNS from inside pods: the node agent's DNS server behind the `kube-dns` service.
//! Service names resolve (short, through the search list, and fully qualified), a headless
//! service to its pods, a StatefulSet pod by its stable name, an ExternalName to a CNAME,
//! a cluster IP back to its name; unknown names are NXDOMAIN; and a pod's resolv.conf has
//! the cluster's search list and ndots:5 (dnsPolicy None: its own dnsConfig); a stopped
//! agent withdraws its DNS endpoint.

use std::path::Path;
use std::time::Duration;

use testkit::eventually;
use testkit::node::NodeHost;

const NS: &str = "dns-e2e";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// A pod that runs the test image once with `args` (restartPolicy Never).
fn pod(name: &str, image: &str, args: &[&str]) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}", "namespace": "{NS}"}},
           "spec": {{"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
             "containers": [{{"name": "c", "image": "{image}", "args": {args}}}]}}}}"#,
        args = serde_json::to_string(args).unwrap()
    )
}

/// A resolver on `ip`:53 that answers `outside.example` A with 192.0.2.7 and everything
/// else with NXDOMAIN; it stops once the returned socket is dropped.
fn fake_upstream(ip: &str) -> std::sync::Arc<std::net::UdpSocket> {
    let sock = std::sync::Arc::new(std::net::UdpSocket::bind((ip, 53)).expect("bind :53"));
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let weak = std::sync::Arc::downgrade(&sock);
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Some(sock) = weak.upgrade() {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            // Header, then the question as asked: name, type, class.
            let question = &buf[12..n];
            let name_end = question.iter().position(|b| *b == 0).unwrap_or(0) + 1;
            let qtype = u16::from_be_bytes([question[name_end], question[name_end + 1]]);
            let known = &question[..name_end] == b"\x07outside\x07example\x00";
            let mut resp = buf[..n].to_vec();
            resp[2] |= 0x80; // a response
            resp[3] = 0x80 | if known { 0 } else { 3 }; // RA; NOERROR or NXDOMAIN
            if known && qtype == 1 {
                resp[7] = 1;
                resp.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
            }
            let _ = sock.send_to(&resp, peer);
        }
    });
    sock
}

#[test]
fn pods_resolve_cluster_names() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    // The host's resolver, as far as the agent knows: one that knows `outside.example`.
    let upstream_ip = format!("127.0.0.{}", 100 + host.slot());
    let upstream = fake_upstream(&upstream_ip);
    let resolv = std::env::temp_dir().join(format!("skiff-dns-e2e-{}.conf", host.slot()));
    std::fs::write(&resolv, format!("nameserver {upstream_ip}\n")).unwrap();
    // This test is about names, not disk pressure: a busy shared disk must not evict its pods.
    host.start_agent_with(
        bin(),
        &server,
        "dns",
        &[
            "--eviction-hard",
            "memory.available<1Mi",
            "--resolv-conf",
            resolv.to_str().unwrap(),
        ],
    );

    // The server made the DNS service; the agent published its endpoint.
    let dns_ip = kubectl.ok(&[
        "get",
        "service",
        "kube-dns",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(dns_ip.ends_with(".10"), "{dns_ip}");
    eventually(
        "the node's kube-dns EndpointSlice",
        Duration::from_secs(30),
        || {
            kubectl.run(&[
                "get",
                "endpointslice",
                "kube-dns-dns",
                "-n",
                "kube-system",
                "-o",
                "jsonpath={.endpoints[0].addresses[0]}",
            ])
        },
        |r| r.status.success() && !r.stdout.is_empty(),
    );

    kubectl.ok(&["create", "namespace", NS]);
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": [
              {{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "web", "namespace": "{NS}"}},
                "spec": {{"clusterIP": "None", "selector": {{"app": "web"}},
                  "ports": [{{"name": "http", "port": 8080}}]}}}},
              {{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "front", "namespace": "{NS}"}},
                "spec": {{"selector": {{"app": "web"}}, "ports": [{{"port": 80, "targetPort": 8080}}]}}}},
              {{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "ext", "namespace": "{NS}"}},
                "spec": {{"type": "ExternalName", "externalName": "front.{NS}.svc.cluster.local"}}}},
              {{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {{"name": "web", "namespace": "{NS}"}},
                "spec": {{"serviceName": "web", "replicas": 2, "selector": {{"matchLabels": {{"app": "web"}}}},
                  "template": {{"metadata": {{"labels": {{"app": "web"}}}},
                    "spec": {{"terminationGracePeriodSeconds": 1, "containers": [{{"name": "web", "image": "{image}",
                      "args": ["serve-http", "--port", "8080"], "ports": [{{"containerPort": 8080}}],
                      "readinessProbe": {{"httpGet": {{"path": "/healthz", "port": 8080}}, "periodSeconds": 1}}}}]}}}}}}}}
            ]}}"#
        ),
    );
    let ips = eventually(
        "2 web pods Ready",
        Duration::from_secs(120),
        || {
            kubectl.ok(&[
                "get", "pods", "-n", NS, "-l", "app=web", "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.status.podIP} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ])
        },
        |out| out.lines().count() == 2 && out.lines().all(|l| l.ends_with(" True")),
    );
    let ip_of = |pod: &str| {
        ips.lines()
            .find(|l| l.starts_with(&format!("{pod} ")))
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or_default()
            .to_string()
    };
    let (web0, web1) = (ip_of("web-0"), ip_of("web-1"));
    let front_ip = kubectl.ok(&[
        "get",
        "service",
        "front",
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let reverse: String = front_ip.split('.').rev().collect::<Vec<_>>().join(".");

    let fqdn = format!("front.{NS}.svc.cluster.local.");
    let sts = format!("web-0.web.{NS}.svc.cluster.local");
    let ptr = format!("{reverse}.in-addr.arpa.");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("short", vec!["lookup", "front", "A", "30"]),
        ("fqdn", vec!["lookup", &fqdn, "A", "30"]),
        ("headless", vec!["lookup", "web", "A", "30"]),
        ("sts", vec!["lookup", &sts, "A", "30"]),
        ("srv", vec!["lookup", "_http._tcp.web", "SRV", "30"]),
        ("ext", vec!["lookup", "ext", "A", "30"]),
        ("ptr", vec!["lookup", &ptr, "PTR", "30"]),
        ("nx", vec!["lookup", "nope", "A"]),
        ("outside", vec!["lookup", "outside.example", "A", "30"]),
        ("conf", vec!["cat", "/etc/resolv.conf"]),
    ];
    let mut items: Vec<String> = cases
        .iter()
        .map(|(name, args)| pod(&format!("q-{name}"), &image, args))
        .collect();
    // dnsPolicy None: only the pod's own dnsConfig.
    let mut custom: serde_json::Value =
        serde_json::from_str(&pod("q-custom", &image, &["cat", "/etc/resolv.conf"])).unwrap();
    custom["spec"]["dnsPolicy"] = "None".into();
    custom["spec"]["dnsConfig"] = serde_json::json!({"nameservers": ["192.0.2.53"],
        "searches": ["corp.example"], "options": [{"name": "ndots", "value": "2"}]});
    items.push(custom.to_string());
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#,
            items.join(",")
        ),
    );
    eventually(
        "the lookup pods to finish",
        Duration::from_secs(120),
        || {
            kubectl.ok(&[
                "get",
                "pods",
                "-n",
                NS,
                "-l",
                "!app",
                "-o",
                "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
            ])
        },
        |out| out.lines().count() == cases.len() + 1 && out.lines().all(|p| p == "Succeeded"),
    );
    let out = |name: &str| host.container_output("dns", NS, &format!("q-{name}"), "c");
    let domain = format!("{NS}.svc.cluster.local.");

    assert_eq!(out("short").trim(), format!("front.{domain} A {front_ip}"));
    assert_eq!(out("fqdn").trim(), format!("front.{domain} A {front_ip}"));
    let mut headless: Vec<String> = out("headless").lines().map(str::to_string).collect();
    headless.sort();
    let mut want = vec![
        format!("web.{domain} A {web0}"),
        format!("web.{domain} A {web1}"),
    ];
    want.sort();
    assert_eq!(headless, want);
    assert_eq!(out("sts").trim(), format!("web-0.web.{domain} A {web0}"));
    let mut srv: Vec<String> = out("srv").lines().map(str::to_string).collect();
    srv.sort();
    assert_eq!(
        srv,
        vec![
            format!("_http._tcp.web.{domain} SRV 0 50 8080 web-0.web.{domain}"),
            format!("_http._tcp.web.{domain} SRV 0 50 8080 web-1.web.{domain}"),
        ]
    );
    assert_eq!(
        out("ext").trim(),
        format!("ext.{domain} CNAME front.{domain}\nfront.{domain} A {front_ip}")
    );
    assert_eq!(out("ptr").trim(), format!("{ptr} PTR front.{domain}"));
    assert_eq!(out("nx").trim(), "NXDOMAIN");
    // Through the search list (NXDOMAIN in the cluster zone), then forwarded.
    assert_eq!(out("outside").trim(), "outside.example. A 192.0.2.7");
    let conf = out("conf");
    assert!(
        conf.lines().any(|l| l == format!("nameserver {dns_ip}")),
        "{conf}"
    );
    assert!(
        conf.lines().any(|l| l.starts_with(&format!(
            "search {NS}.svc.cluster.local svc.cluster.local cluster.local"
        ))),
        "{conf}"
    );
    assert!(conf.lines().any(|l| l == "options ndots:5"), "{conf}");

    let custom = out("custom");
    let mut lines: Vec<&str> = custom
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "nameserver 192.0.2.53",
            "options ndots:2",
            "search corp.example"
        ],
        "{custom}"
    );

    kubectl.ok(&["delete", "namespace", NS, "--wait=false"]);
    let _ = std::fs::remove_file(&resolv);
    drop(upstream);
    // A stopping agent withdraws its DNS endpoint.
    host.stop_agent("dns");
    let gone = kubectl.run(&["get", "endpointslice", "kube-dns-dns", "-n", "kube-system"]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stdout)
    );
}
