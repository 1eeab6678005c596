//! A node joins with the server's token (`skiff agent --server URL --token T`): TLS
//! bootstrapping through a CertificateSigningRequest that the server approves and signs,
//! then the node runs pods with its own identity. Also `kubectl certificate approve|deny`
//! for requests nobody approves automatically, and tokens that must not work.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::node::NodeHost;
use testkit::{eventually, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn agent_joins_with_the_server_token() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    let token = std::fs::read_to_string(server.data_dir().join("token")).expect("token file");
    let token = token.trim().to_string();
    assert!(token.starts_with("K10") && token.contains("::"), "{token}");
    let id = token
        .rsplit("::")
        .next()
        .and_then(|c| c.split('.').next())
        .unwrap_or("");

    let started = std::time::Instant::now();
    host.start_agent_with_token(bin(), &server, "joined", &token);
    eprintln!("joined and Ready in {:?}", started.elapsed());

    // The request, approved and issued, as `kubectl get csr` shows it.
    let table = rows(&kubectl.ok(&["get", "csr"]));
    assert_eq!(
        table[0],
        [
            "NAME",
            "AGE",
            "SIGNERNAME",
            "REQUESTOR",
            "REQUESTEDDURATION",
            "CONDITION"
        ]
    );
    assert_eq!(table.len(), 2, "{table:?}");
    let row = &table[1];
    assert!(row[0].starts_with("node-csr-"), "{row:?}");
    assert_eq!(row[2], "kubernetes.io/kube-apiserver-client-kubelet");
    assert_eq!(row[3], format!("system:bootstrap:{id}"));
    assert_eq!(row[5], "Approved,Issued");

    // The node works with its own credentials from now on.
    let node_kc = host.agent_data_dir("joined").join("kubelet.kubeconfig");
    let who = Command::new(&kubectl.bin)
        .arg("--kubeconfig")
        .arg(&node_kc)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ])
        .output()
        .expect("kubectl");
    let who = String::from_utf8_lossy(&who.stdout).to_string();
    assert!(
        who.starts_with("system:node:joined ") && who.contains("system:nodes"),
        "{who}"
    );

    kubectl.ok(&[
        "run",
        "web",
        &format!("--image={image}"),
        "--",
        "serve-http",
        "--port",
        "8080",
    ]);
    eventually(
        "the pod Running on the joined node",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "web",
                "-o",
                "jsonpath={.status.phase} {.spec.nodeName}",
            ])
        },
        |s| s == "Running joined",
    );

    // A restart reuses the kept credentials: no second request.
    host.stop_agent("joined");
    host.start_agent_with_token(bin(), &server, "joined", &token);
    eventually(
        "the restarted agent to use its kept credentials",
        Duration::from_secs(20),
        || {
            host.agent_log("joined")
                .matches("using the node's kept credentials")
                .count()
        },
        |n| *n == 1,
    );
    assert_eq!(rows(&kubectl.ok(&["get", "csr", "--no-headers"])).len(), 1);

    // Credentials the server no longer accepts (here: a certificate from another CA) make
    // the agent join again with its token.
    host.stop_agent("joined");
    let kc = std::fs::read_to_string(&node_kc).expect("kubeconfig");
    let stranger = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:node:joined");
    let foreign = params.self_signed(&stranger).expect("cert");
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kc: String = kc
        .lines()
        .map(|l| match l.trim_start() {
            t if t.starts_with("client-certificate-data:") => {
                format!("    client-certificate-data: {}", b64(&foreign.pem()))
            }
            t if t.starts_with("client-key-data:") => {
                format!("    client-key-data: {}", b64(&stranger.serialize_pem()))
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&node_kc, kc).expect("write kubeconfig");
    host.start_agent_with_token(bin(), &server, "joined", &token);
    eventually(
        "the agent to join again",
        Duration::from_secs(30),
        || {
            host.agent_log("joined")
                .matches("joined: node credentials issued")
                .count()
        },
        |n| *n == 2,
    );
    assert!(host
        .agent_log("joined")
        .contains("kept node credentials no longer work; joining again"));
    assert_eq!(rows(&kubectl.ok(&["get", "csr", "--no-headers"])).len(), 2);
    eventually(
        "the node to answer with new credentials",
        Duration::from_secs(30),
        || kubectl.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Running",
    );

    // Client certificate rotation: the agent renews under its own identity (a
    // `selfnodeclient` CSR, approved automatically), rewrites its kubeconfig, and new
    // connections present the new certificate.
    host.stop_agent("joined");
    let before = std::fs::read_to_string(&node_kc).expect("kubeconfig");
    host.start_agent_with_token_args(
        bin(),
        &server,
        "joined",
        &token,
        &["--rotate-client-certificate-after", "2s"],
    );
    eventually(
        "two rotations",
        Duration::from_secs(40),
        || {
            host.agent_log("joined")
                .matches("rotated the node's client certificate")
                .count()
        },
        |n| *n >= 2,
    );
    host.stop_agent("joined");
    let after = std::fs::read_to_string(&node_kc).expect("kubeconfig");
    assert_ne!(before, after, "the kept kubeconfig was not rewritten");
    let renewals: Vec<Vec<String>> = rows(&kubectl.ok(&["get", "csr", "--no-headers"]))
        .into_iter()
        .filter(|r| r[3] == "system:node:joined")
        .collect();
    assert!(renewals.len() >= 2, "{renewals:?}");
    assert!(
        renewals.iter().all(|r| r[5] == "Approved,Issued"),
        "{renewals:?}"
    );
    let who = Command::new(&kubectl.bin)
        .arg("--kubeconfig")
        .arg(&node_kc)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .expect("kubectl");
    assert_eq!(String::from_utf8_lossy(&who.stdout), "system:node:joined");
    // A restart on the rotated credentials, without joining again.
    host.start_agent_with_token(bin(), &server, "joined", &token);
    assert_eq!(
        host.agent_log("joined")
            .matches("joined: node credentials issued")
            .count(),
        2
    );
    eventually(
        "the pod still Running",
        Duration::from_secs(30),
        || kubectl.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Running",
    );
    kubectl.ok(&["delete", "pod", "web"]);
}

/// The agent on "another machine": its own network namespace, the server reached over a
/// veth pair at the host's address in it.
#[test]
fn agent_joins_from_its_own_network_namespace() {
    let mut host = NodeHost::new();
    let ns = host.netns();
    // The server listens only on the host's end of the veth.
    let server = host.server(
        bin(),
        &["--token", "netns-secret", "--bind-address", &ns.host_ip],
    );
    let kubectl = server.kubectl();
    let token = std::fs::read_to_string(server.data_dir().join("token")).expect("token file");
    // Its images come from a registry on the host's end of the veth (plain HTTP through a
    // registry-config mirror: not a loopback address).
    let registry = host.extra_registry(&ns.host_ip, None);
    let config = host.dir.path().join("remote-registries.yaml");
    std::fs::write(
        &config,
        format!("mirrors:\n  \"{registry}\":\n    endpoint: [\"http://{registry}\"]\n"),
    )
    .expect("registries.yaml");
    let pause = format!("{registry}/skiff/pause:1");
    let config_flag = config.display().to_string();
    host.start_agent_in_netns(
        bin(),
        &server,
        "remote",
        token.trim(),
        &ns,
        &["--pause-image", &pause, "--registry-config", &config_flag],
    );
    let ip = kubectl.ok(&[
        "get",
        "node",
        "remote",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);
    assert_eq!(ip, ns.ns_ip);
    let table = rows(&kubectl.ok(&["get", "csr", "--no-headers"]));
    assert_eq!(table.len(), 1, "{table:?}");
    assert_eq!(table[0][5], "Approved,Issued", "{table:?}");
    // And it runs pods: a container on the joined node, on its own pod network.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "far"}},
               "spec": {{"nodeName": "remote", "terminationGracePeriodSeconds": 1,
                 "containers": [{{"name": "main", "image": "{registry}/skiff/testimage:1",
                   "args": ["serve-http", "--port", "8080"]}}]}}}}"#
        ),
    );
    let running = testkit::eventually(
        "the pod on the joined node to run",
        std::time::Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "far",
                "-o",
                "jsonpath={.status.phase} {.status.podIP} {.status.hostIP}",
            ])
        },
        |s| s.starts_with("Running 10.42."),
    );
    assert!(running.ends_with(&ns.ns_ip), "{running}");
    kubectl.ok(&["delete", "pod", "far"]);
    drop(host);
    drop(ns);
}

fn agent_with(server: &Server, token: &str, dir: &Path) -> (bool, String) {
    let out = Command::new(bin())
        .args([
            "agent",
            "--server",
            &server.url(),
            "--token",
            token,
            "--node-name",
            "intruder",
        ])
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run skiff agent");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn wrong_tokens_are_refused() {
    let server = Server::start_with(bin(), &["--token", "the-right-secret"]);
    let kubectl = server.kubectl();
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = std::fs::read_to_string(server.data_dir().join("token")).expect("token file");
    let hash = kept
        .trim()
        .strip_prefix("K10")
        .and_then(|r| r.split("::").next())
        .unwrap_or("");
    assert_eq!(kept.trim(), format!("K10{hash}::the-right-secret"));

    let (ok, err) = agent_with(&server, &format!("K10{hash}::a-wrong-secret"), dir.path());
    assert!(
        !ok && err.contains("the server refused the join token (401 Unauthorized)"),
        "{err}"
    );
    let other_ca = "0".repeat(64);
    let (ok, err) = agent_with(
        &server,
        &format!("K10{other_ca}::the-right-secret"),
        dir.path(),
    );
    assert!(
        !ok && err.contains("the server's CA does not match the hash in --token"),
        "{err}"
    );
    assert!(!dir.path().join("kubelet.kubeconfig").exists());
    assert_eq!(kubectl.ok(&["get", "csr", "-o", "name"]), "");
    // The server's bootstrap token is an upstream-style Secret.
    let secrets = kubectl.ok(&[
        "get",
        "secrets",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.type}{end}",
    ]);
    assert!(
        secrets.starts_with("bootstrap-token-")
            && secrets.ends_with(" bootstrap.kubernetes.io/token"),
        "{secrets}"
    );
}

fn csr_yaml(name: &str, cn: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let pem = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {{name: {name}}}\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 86400\n  usages: [digital signature, client auth]\n"
    )
}

/// A node's serving CSR for the `kubelet-serving` signer (DNS and IP names).
fn serving_csr_yaml(name: &str, node: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec![format!("{node}.example")]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([10, 0, 0, 7].into()));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("system:node:{node}"));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:nodes");
    let pem = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {{name: {name}}}\nspec:\n  request: {request}\n  signerName: kubernetes.io/kubelet-serving\n  usages: [digital signature, server auth]\n"
    )
}

/// kubelet-serving CSRs wait for a person (never auto-approved, as upstream) and are then
/// signed by the cluster CA as serving certificates with the requested names.
#[test]
fn kubelet_serving_certificates() {
    let server = Server::start(bin());
    let kubectl = server.kubectl();
    kubectl.ok_stdin(
        &["create", "-f", "-"],
        &serving_csr_yaml("n1-serving", "n1"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let table = rows(&kubectl.ok(&["get", "csr", "n1-serving", "--no-headers"]));
    assert_eq!(table[0][5], "Pending", "{table:?}");
    kubectl.ok(&["certificate", "approve", "n1-serving"]);
    let cert = eventually(
        "the serving certificate issued",
        Duration::from_secs(20),
        || {
            kubectl.ok(&[
                "get",
                "csr",
                "n1-serving",
                "-o",
                "jsonpath={.status.certificate}",
            ])
        },
        |c| !c.trim().is_empty(),
    );
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(cert.trim())
        .expect("base64");
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            String::from_utf8_lossy(&pem)
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("der");
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
    assert_eq!(
        cert.subject().to_string(),
        "CN=system:node:n1, O=system:nodes"
    );
    let eku = cert
        .extended_key_usage()
        .expect("eku")
        .expect("eku present");
    assert!(eku.value.server_auth && !eku.value.client_auth);
    let sans = cert
        .subject_alternative_name()
        .expect("san")
        .expect("san present");
    let names = format!("{:?}", sans.value.general_names);
    assert!(
        names.contains("n1.example") && names.contains("[10, 0, 0, 7]"),
        "{names}"
    );
}

#[test]
fn kubectl_certificate_approve_and_deny() {
    let server = Server::start(bin());
    let kubectl = server.kubectl();
    kubectl.ok_stdin(&["create", "-f", "-"], &csr_yaml("alice", "alice"));
    kubectl.ok_stdin(&["create", "-f", "-"], &csr_yaml("mallory", "mallory"));
    let table = rows(&kubectl.ok(&["get", "csr", "alice"]));
    assert_eq!(
        table[1][2..],
        [
            "kubernetes.io/kube-apiserver-client",
            "system:admin",
            "24h",
            "Pending"
        ]
    );

    assert_eq!(
        kubectl.ok(&["certificate", "approve", "alice"]).trim(),
        "certificatesigningrequest.certificates.k8s.io/alice approved"
    );
    kubectl.ok(&["certificate", "deny", "mallory"]);
    eventually(
        "alice's certificate issued",
        Duration::from_secs(20),
        || kubectl.ok(&["get", "csr", "--no-headers"]),
        |t| {
            let r = rows(t);
            r.iter()
                .any(|r| r[0] == "alice" && r[5] == "Approved,Issued")
                && r.iter().any(|r| r[0] == "mallory" && r[5] == "Denied")
        },
    );
    let cert = kubectl.ok(&[
        "get",
        "csr",
        "alice",
        "-o",
        "jsonpath={.status.certificate}",
    ]);
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(cert.trim())
        .expect("base64");
    assert!(String::from_utf8_lossy(&pem).starts_with("-----BEGIN CERTIFICATE-----"));
    let reason = kubectl.ok(&[
        "get",
        "csr",
        "alice",
        "-o",
        "jsonpath={.status.conditions[0].reason}",
    ]);
    assert_eq!(reason, "KubectlApprove");
    // A decision stays.
    let err = kubectl.fails(&["certificate", "approve", "mallory"]);
    assert!(err.contains("\"mallory\" is already Denied"), "{err}");
    kubectl.ok(&["delete", "csr", "alice", "mallory"]);
}
