//! The access-control commands end to end, with real kubectl: `skiff kubeconfig create`
//! (a user's client certificate from the cluster CA), `skiff token create|list|delete`
//! (bootstrap tokens that authenticate, expire and can be revoked), and `skiff server
//! --tls-min-version`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use testkit::{eventually, Kubectl, Server};

fn skiff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .output()
        .expect("run skiff")
}

fn skiff_ok(args: &[&str]) -> String {
    let out = skiff(args);
    assert!(
        out.status.success(),
        "skiff {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubectl_at(kubeconfig: &Path) -> Kubectl {
    Kubectl {
        bin: testkit::kubectl_latest(),
        kubeconfig: kubeconfig.to_path_buf(),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn minted_kubeconfig_is_the_user_and_rbac_applies() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let dir = s.data_dir().to_string_lossy().into_owned();
    let file = s.data_dir().join("alice.kubeconfig");
    skiff_ok(&[
        "kubeconfig",
        "create",
        "--user",
        "alice",
        "--group",
        "devs",
        "--data-dir",
        &dir,
        "-o",
        &file.to_string_lossy(),
    ]);
    // The server address came from the admin kubeconfig.
    let written = std::fs::read_to_string(&file).expect("kubeconfig");
    assert!(written.contains(&s.url()), "{written}");
    // Printed to stdout when no -o is given.
    let printed = skiff_ok(&["kubeconfig", "create", "--user", "bob", "--data-dir", &dir]);
    assert!(printed.contains("client-certificate-data"), "{printed}");

    let alice = kubectl_at(&file);
    let who = alice.ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
    ]);
    assert!(who.starts_with("alice "), "{who}");
    assert!(who.contains("devs"), "{who}");

    let refused = alice.fails(&["get", "pods", "-n", "default"]);
    assert!(
        refused.contains("Forbidden") || refused.contains("forbidden"),
        "{refused}"
    );

    let admin = s.kubectl();
    admin.ok(&[
        "create",
        "rolebinding",
        "devs-view",
        "-n",
        "default",
        "--clusterrole=view",
        "--group=devs",
    ]);
    eventually(
        "devs may list pods",
        Duration::from_secs(30),
        || text(&alice.run(&["get", "pods", "-n", "default"])),
        |out| out.contains("No resources found"),
    );
}

#[test]
fn bootstrap_tokens_authenticate_expire_and_are_revoked() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let kc = s.kubeconfig().to_string_lossy().into_owned();
    let anon_kc = s.data_dir().join("anonymous.kubeconfig");
    std::fs::write(
        &anon_kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n",
            s.url(),
            s.data_dir().join("tls").join("ca.crt").display()
        ),
    )
    .expect("write kubeconfig");
    let anon = kubectl_at(&anon_kc);
    let whoami = |token: &str| {
        anon.run(&[
            "--token",
            token,
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ])
    };

    // A short-lived token: valid at once, refused once expired.
    let short = skiff_ok(&[
        "token",
        "create",
        "--kubeconfig",
        &kc,
        "--ttl",
        "3s",
        "--description",
        "short one",
    ]);
    let short = short.trim().to_string();
    let id = &short[..6];
    let out = whoami(&short);
    assert!(out.status.success(), "{}", text(&out));
    let who = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(who.starts_with(&format!("system:bootstrap:{id} ")), "{who}");
    assert!(
        who.contains("system:bootstrappers:skiff:default-node-token"),
        "{who}"
    );

    let list = skiff_ok(&["token", "list", "--kubeconfig", &kc]);
    assert!(list.starts_with("TOKEN"), "{list}");
    let line = list
        .lines()
        .find(|l| l.starts_with(&short))
        .unwrap_or_else(|| panic!("{short} not in:\n{list}"));
    assert!(
        line.contains("authentication,signing") && line.contains("short one"),
        "{line}"
    );

    eventually(
        "expired token refused",
        Duration::from_secs(20),
        || text(&whoami(&short)),
        |out| out.contains("Unauthorized"),
    );

    // A lasting token, with chosen groups, until it is deleted.
    let long = skiff_ok(&[
        "token",
        "create",
        "--kubeconfig",
        &kc,
        "--groups",
        "system:bootstrappers:team-a",
    ]);
    let long = long.trim().to_string();
    let who = String::from_utf8_lossy(&whoami(&long).stdout).into_owned();
    assert!(who.contains("system:bootstrappers:team-a"), "{who}");
    skiff_ok(&["token", "delete", "--kubeconfig", &kc, &long[..6]]);
    eventually(
        "deleted token refused",
        Duration::from_secs(20),
        || text(&whoami(&long)),
        |out| out.contains("Unauthorized"),
    );
    let list = skiff_ok(&["token", "list", "--kubeconfig", &kc]);
    assert!(!list.contains(&long), "{list}");

    // Bad flags are refused before anything is sent.
    let bad = skiff(&[
        "token",
        "create",
        "--kubeconfig",
        &kc,
        "--groups",
        "system:masters",
    ]);
    assert!(
        !bad.status.success() && text(&bad).contains("system:bootstrappers:"),
        "{}",
        text(&bad)
    );
}

fn curl_version(s: &Server, tls: &[&str]) -> Output {
    Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(s.data_dir().join("tls").join("ca.crt"))
        .args(tls)
        .arg(format!("{}/version", s.url()))
        .output()
        .expect("curl")
}

#[test]
fn tls_min_version_13_refuses_tls_12_clients() {
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--tls-min-version", "VersionTLS13"],
    );
    let old = curl_version(&s, &["--tlsv1.2", "--tls-max", "1.2"]);
    assert!(!old.status.success(), "TLS 1.2 accepted: {}", text(&old));
    let new = curl_version(&s, &["--tlsv1.3"]);
    assert!(new.status.success(), "TLS 1.3 refused: {}", text(&new));
    s.kubectl().ok(&["get", "namespaces"]);

    // Unknown cipher suites stop the server at start, with the name in the message.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = skiff(&[
        "server",
        "--disable-agent",
        "--data-dir",
        &dir.path().to_string_lossy(),
        "--https-listen-port",
        &testkit::free_port().to_string(),
        "--tls-cipher-suites",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NOT_A_SUITE",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown cipher suite TLS_NOT_A_SUITE"),
        "{}",
        text(&out)
    );
}

/// A CA of the user's own and a serving certificate from it for 127.0.0.1: (chain PEM,
/// key PEM, CA PEM).
fn own_serving_cert() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::default();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "users-own-ca");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_cert.pem(), ca_key).expect("issuer");
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    leaf.subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &issuer).expect("leaf");
    (
        format!("{}{}", cert.pem(), ca_cert.pem()),
        key.serialize_pem(),
        ca_cert.pem(),
    )
}

#[test]
fn tls_cert_file_replaces_the_serving_certificate() {
    let files = tempfile::tempdir().expect("tempdir");
    let (chain, key, ca) = own_serving_cert();
    let (chain_f, key_f, ca_f) = (
        files.path().join("serving.crt"),
        files.path().join("serving.key"),
        files.path().join("own-ca.crt"),
    );
    for (f, t) in [(&chain_f, &chain), (&key_f, &key), (&ca_f, &ca)] {
        std::fs::write(f, t).expect("write");
    }
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &[
            "--tls-cert-file",
            &chain_f.to_string_lossy(),
            "--tls-private-key-file",
            &key_f.to_string_lossy(),
        ],
    );
    let curl = |cacert: &Path| {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--cacert"])
            .arg(cacert)
            .arg(format!("{}/version", s.url()))
            .status()
            .expect("curl")
            .success()
    };
    assert!(curl(&ca_f), "the user's CA does not verify the server");
    assert!(
        !curl(&s.data_dir().join("tls").join("ca.crt")),
        "the cluster CA still verifies the server"
    );
    // The admin kubeconfig trusts the user's CA too, and so do the controllers, which
    // reach the server through it.
    let admin = s.kubectl();
    admin.ok(&[
        "create",
        "deployment",
        "web",
        "--image=registry.invalid/web",
    ]);
    eventually(
        "the deployment controller made a ReplicaSet",
        Duration::from_secs(30),
        || {
            admin
                .run(&["get", "replicasets", "-l", "app=web", "-o", "name"])
                .stdout
        },
        |out| !out.is_empty(),
    );
}
