//! Client certificates are judged as upstream's x509 authenticator does: one signed by the
//! cluster CA authenticates as its CN and O's; an expired one, or one from another CA, is
//! answered 401 Unauthorized (kubectl: "You must be logged in to the server") instead of a
//! failed TLS handshake, on every path.

use std::path::{Path, PathBuf};

use testkit::{Kubectl, Server};

enum Signer {
    ClusterCa,
    ClusterCaExpired,
    OtherCa,
}

/// A kubeconfig and the certificate/key files for `user`, signed as `signer` says.
fn user_kubectl(s: &Server, user: &str, signer: Signer) -> (Kubectl, PathBuf, PathBuf) {
    let tls = s.data_dir().join("tls");
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, user);
    dn.push(rcgen::DnType::OrganizationName, "devs");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = match signer {
        Signer::ClusterCa | Signer::ClusterCaExpired => {
            if matches!(signer, Signer::ClusterCaExpired) {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let ca_pem = std::fs::read_to_string(tls.join("ca.crt")).expect("ca.crt");
            let ca_key = rcgen::KeyPair::from_pem(
                &std::fs::read_to_string(tls.join("ca.key")).expect("ca.key"),
            )
            .expect("ca key");
            let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
            params.signed_by(&key, &issuer).expect("sign")
        }
        Signer::OtherCa => {
            let mut ca = rcgen::CertificateParams::default();
            ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca.distinguished_name
                .push(rcgen::DnType::CommonName, "not-the-cluster-ca");
            let issuer = rcgen::Issuer::new(ca, rcgen::KeyPair::generate().expect("ca key"));
            params.signed_by(&key, &issuer).expect("sign")
        }
    };
    let dir = s.data_dir().join(format!("user-{user}"));
    std::fs::create_dir_all(&dir).expect("user dir");
    let (crt, pem_key) = (dir.join("user.crt"), dir.join("user.key"));
    std::fs::write(&crt, cert.pem()).expect("write cert");
    std::fs::write(&pem_key, key.serialize_pem()).expect("write key");
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    client-certificate: {}\n    client-key: {}\n",
            s.url(),
            tls.join("ca.crt").display(),
            crt.display(),
            pem_key.display()
        ),
    )
    .expect("write kubeconfig");
    let k = Kubectl {
        bin: testkit::kubectl_latest(),
        kubeconfig: path,
    };
    (k, crt, pem_key)
}

/// curl with a client certificate: the status code.
fn curl_status(s: &Server, crt: &Path, key: &Path, path: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(s.data_dir().join("tls").join("ca.crt"))
        .arg("--cert")
        .arg(crt)
        .arg("--key")
        .arg(key)
        .arg(format!("{}{path}", s.url()))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn bad_client_certificates_get_401_and_good_ones_authenticate() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));

    let (alice, crt, key) = user_kubectl(&s, "alice", Signer::ClusterCa);
    let out = alice.run(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
    ]);
    let who = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "whoami: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(who.starts_with("alice "), "{who}");
    assert!(
        who.contains("devs") && who.contains("system:authenticated"),
        "{who}"
    );
    assert_eq!(curl_status(&s, &crt, &key, "/healthz"), 200);

    for (user, signer) in [
        ("old", Signer::ClusterCaExpired),
        ("stranger", Signer::OtherCa),
    ] {
        let (k, crt, key) = user_kubectl(&s, user, signer);
        let out = k.run(&["get", "pods"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{user}: a bad certificate was let in"
        );
        assert!(
            err.contains("You must be logged in to the server"),
            "{user}: want upstream's 401, got:\n{err}"
        );
        // Every path, health included: invalid credentials are not anonymous ones.
        assert_eq!(curl_status(&s, &crt, &key, "/healthz"), 401, "{user}");
        assert_eq!(
            curl_status(&s, &crt, &key, "/api/v1/namespaces"),
            401,
            "{user}"
        );
    }
}
