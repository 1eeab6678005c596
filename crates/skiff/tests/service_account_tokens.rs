//! Service account tokens end to end: `kubectl create token` (the TokenRequest API), the
//! token used with `kubectl --token` as the account's identity, tokens that stop working
//! when their account or bound pod goes, the ServiceAccount admission plugin's token
//! volume, and the OIDC discovery documents.

use std::path::Path;

use testkit::{Kubectl, Server};

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

/// kubectl against `s` with no credentials of its own: only `--token` authenticates it.
fn tokenless(s: &Server) -> Kubectl {
    let path = s.data_dir().join("token-only.kubeconfig");
    let ca = s.data_dir().join("tls").join("ca.crt");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n",
            s.url(),
            ca.display()
        ),
    )
    .expect("write kubeconfig");
    Kubectl {
        bin: testkit::kubectl_latest(),
        kubeconfig: path,
    }
}

fn json(k: &Kubectl, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&k.ok(args)).expect("json")
}

#[test]
fn kubectl_create_token_authenticates_as_the_account() {
    let s = server();
    let k = s.kubectl();
    let t = tokenless(&s);
    k.ok(&["create", "serviceaccount", "builder"]);
    let token = k.ok(&["create", "token", "builder"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    let who = json(&t, &["--token", &token, "auth", "whoami", "-o", "json"]);
    let user = &who["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:default:builder");
    assert_eq!(
        user["groups"],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    let uid = k.ok(&["get", "sa", "builder", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(user["uid"], uid.as_str());
    // Authenticated is not authorized: the account needs a binding to read pods.
    let err = t.fails(&["--token", &token, "get", "pods"]);
    assert!(
        err.contains("pods is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"pods\""),
        "{err}"
    );
    k.ok(&[
        "create",
        "rolebinding",
        "builder-view",
        "--clusterrole=view",
        "--serviceaccount=default:builder",
    ]);
    testkit::eventually(
        "the view binding to take effect",
        std::time::Duration::from_secs(30),
        || t.run(&["--token", &token, "get", "pods"]).status.success(),
        |ok| *ok,
    );

    // What is not a valid token here is refused outright.
    for bad in ["garbage", "a.b.c", &format!("{token}x")] {
        let err = t.fails(&["--token", bad, "get", "pods"]);
        assert!(err.contains("Unauthorized"), "{bad}: {err}");
    }
    // A token for another audience is not for the API server.
    let vault = k.ok(&["create", "token", "builder", "--audience", "vault"]);
    let err = t.fails(&["--token", vault.trim(), "get", "pods"]);
    assert!(err.contains("Unauthorized"), "{err}");

    // The TokenRequest itself, as upstream answers it.
    let tr = json(
        &k,
        &[
            "create",
            "token",
            "builder",
            "--duration",
            "20m",
            "-o",
            "json",
        ],
    );
    assert_eq!(tr["kind"], "TokenRequest");
    assert_eq!(tr["spec"]["expirationSeconds"], 1200);
    assert_eq!(
        tr["spec"]["audiences"],
        serde_json::json!(["https://kubernetes.default.svc.cluster.local"])
    );
    assert!(tr["status"]["expirationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let err = k.fails(&["create", "token", "builder", "--duration", "5m"]);
    assert!(
        err.contains("spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = k.fails(&["create", "token", "nobody"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );

    // TokenReview answers the same question for other verifiers.
    let review = |t: &str| {
        let out = k.ok_stdin(
            &["create", "-o", "json", "-f", "-"],
            &format!("{{\"apiVersion\": \"authentication.k8s.io/v1\", \"kind\": \"TokenReview\", \"spec\": {{\"token\": \"{t}\"}}}}"),
        );
        serde_json::from_str::<serde_json::Value>(&out).expect("json")["status"].clone()
    };
    let ok = review(&token);
    assert_eq!(ok["authenticated"], true, "{ok}");
    assert_eq!(
        ok["user"]["username"],
        "system:serviceaccount:default:builder"
    );
    assert_eq!(review("garbage")["authenticated"], false);

    // A deleted (even recreated) account's tokens stop working.
    k.ok(&["delete", "sa", "builder"]);
    k.ok(&["create", "sa", "builder"]);
    let err = t.fails(&["--token", &token, "get", "pods"]);
    assert!(err.contains("Unauthorized"), "{err}");

    // OIDC discovery for verifiers outside the cluster.
    let oidc = json(&k, &["get", "--raw", "/.well-known/openid-configuration"]);
    assert_eq!(
        oidc["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    let jwks = json(&k, &["get", "--raw", "/openid/v1/jwks"]);
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
}

#[test]
fn tokens_bound_to_a_pod_die_with_it() {
    let s = server();
    let k = s.kubectl();
    let t = tokenless(&s);
    k.ok(&["run", "web", "--image=busybox"]);
    let uid = k.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"]);
    let token = k.ok(&[
        "create",
        "token",
        "default",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "web",
        "--bound-object-uid",
        &uid,
    ]);
    let who = json(
        &t,
        &["--token", token.trim(), "auth", "whoami", "-o", "json"],
    );
    let extra = &who["status"]["userInfo"]["extra"];
    assert_eq!(
        extra["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["web"])
    );
    assert_eq!(
        extra["authentication.kubernetes.io/pod-uid"],
        serde_json::json!([uid])
    );

    let err = k.fails(&[
        "create",
        "token",
        "default",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "web",
        "--bound-object-uid",
        "stale",
    ]);
    assert!(
        err.contains(
            "the UID in the bound object reference (stale) does not match the UID in record"
        ),
        "{err}"
    );
    k.ok(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    let err = t.fails(&["--token", token.trim(), "get", "pods"]);
    assert!(err.contains("Unauthorized"), "{err}");
}

#[test]
fn service_account_admission() {
    let s = server();
    let k = s.kubectl();
    k.ok(&["run", "plain", "--image=busybox"]);
    let pod = json(&k, &["get", "pod", "plain", "-o", "json"]);
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    let vol = &pod["spec"]["volumes"][0];
    let name = vol["name"].as_str().unwrap_or("");
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{vol}"
    );
    let sources = &vol["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(
        sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let mount = &pod["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(
        mount,
        &serde_json::json!({"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    );

    // A pod naming an account that does not exist is refused, as upstream words it.
    let err = k.fails(&[
        "run",
        "ghostly",
        "--image=busybox",
        "--overrides",
        r#"{"spec": {"serviceAccountName": "ghost"}}"#,
    ]);
    assert!(
        err.contains(r#"pods "ghostly" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found"#),
        "{err}"
    );

    // automountServiceAccountToken: false on the pod, or on its account.
    k.ok(&[
        "run",
        "quiet",
        "--image=busybox",
        "--overrides",
        r#"{"spec": {"automountServiceAccountToken": false}}"#,
    ]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot}\nautomountServiceAccountToken: false\n",
    );
    k.ok(&[
        "run",
        "robot",
        "--image=busybox",
        "--overrides",
        r#"{"spec": {"serviceAccountName": "robot"}}"#,
    ]);
    for p in ["quiet", "robot"] {
        let vols = k.ok(&["get", "pod", p, "-o", "jsonpath={.spec.volumes}"]);
        assert_eq!(vols, "", "{p}");
    }
}

/// A legacy token Secret (type `kubernetes.io/service-account-token`) gets a token, the CA
/// and the namespace; the token authenticates as the account until the Secret is deleted.
#[test]
fn legacy_token_secrets() {
    let s = server();
    let k = s.kubectl();
    let t = tokenless(&s);
    k.ok(&["create", "serviceaccount", "robot"]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "robot-token", "annotations": {"kubernetes.io/service-account.name": "robot"}}}"#,
    );
    let secret = json(&k, &["get", "secret", "robot-token", "-o", "json"]);
    let sa_uid = k.ok(&["get", "sa", "robot", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(
        secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"],
        sa_uid.as_str()
    );
    use base64::Engine;
    let field = |f: &str| {
        let v = secret["data"][f]
            .as_str()
            .unwrap_or_else(|| panic!("no {f}: {secret}"));
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap()).unwrap()
    };
    assert_eq!(field("namespace"), "default");
    assert!(field("ca.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    let token = field("token");
    let who = t.ok(&[
        "--token",
        &token,
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(who, "system:serviceaccount:default:robot");
    // `kubectl describe secret` shows the token as upstream's does.
    let described = k.ok(&["describe", "secret", "robot-token"]);
    assert!(described.contains("token:"), "{described}");

    // The token dies with its Secret.
    k.ok(&["delete", "secret", "robot-token"]);
    let err = t.fails(&["--token", &token, "auth", "whoami"]);
    assert!(err.contains("Unauthorized"), "{err}");
    // A token Secret for an account that does not exist stays empty.
    k.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "ghost-token", "annotations": {"kubernetes.io/service-account.name": "ghost"}}}"#,
    );
    let ghost = json(&k, &["get", "secret", "ghost-token", "-o", "json"]);
    assert!(ghost["data"]["token"].is_null(), "{ghost}");
}
