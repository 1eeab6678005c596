//! Authorization end to end with real kubectl: RBAC bindings and upstream's 403 wording,
//! the default roles (aggregated admin/edit/view, discovery for authenticated users only),
//! escalation prevention, `kubectl auth can-i` (with `--list` and `--as`), service account
//! tokens, and the Node authorizer. Users are client certificates signed by the cluster CA
//! in the server's `tls/` directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::{eventually, Kubectl, Server};

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

/// A kubeconfig for `user` in `groups`, with a certificate the cluster CA signed.
fn user_kubectl(s: &Server, user: &str, groups: &[&str]) -> Kubectl {
    let tls = s.data_dir().join("tls");
    let ca_pem = std::fs::read_to_string(tls.join("ca.crt")).expect("ca.crt");
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(tls.join("ca.key")).expect("ca.key"))
            .expect("ca key");
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, user);
    for g in groups {
        dn.push(rcgen::DnType::OrganizationName, *g);
    }
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("sign");
    let file = user.replace(':', "_");
    let dir = s.data_dir().join(format!("user-{file}"));
    std::fs::create_dir_all(&dir).expect("user dir");
    let (crt, pem_key) = (dir.join("user.crt"), dir.join("user.key"));
    std::fs::write(&crt, cert.pem()).expect("write cert");
    std::fs::write(&pem_key, key.serialize_pem()).expect("write key");
    kubeconfig(
        s,
        &dir,
        &format!(
            "client-certificate: {}\n    client-key: {}",
            crt.display(),
            pem_key.display()
        ),
    )
}

/// An HTTPS GET with no credentials at all: the status code and body.
fn anonymous_get(s: &Server, path: &str) -> (u16, String) {
    let ca = s.data_dir().join("tls").join("ca.crt");
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(&ca)
        .arg(format!("{}{path}", s.url()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A kubeconfig with no credentials of its own (for `--token`).
fn anonymous_kubectl(s: &Server) -> Kubectl {
    let dir = s.data_dir().join("user-anonymous");
    std::fs::create_dir_all(&dir).expect("dir");
    kubeconfig(s, &dir, "{}")
}

fn kubeconfig(s: &Server, dir: &Path, user: &str) -> Kubectl {
    let ca = s.data_dir().join("tls").join("ca.crt");
    let user = if user == "{}" {
        "  user: {}".to_string()
    } else {
        format!("  user:\n    {user}")
    };
    let path: PathBuf = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\nusers:\n- name: u\n{user}\n",
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

fn stdout_of(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout)
        .trim()
        .to_string()
}

fn contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "want {needle:?} in:\n{haystack}");
}

#[test]
fn rbac_bindings_decide_and_refusals_read_as_upstream() {
    let s = server();
    let admin = s.kubectl();
    for ns in ["a", "b"] {
        admin.ok(&["create", "namespace", ns]);
    }
    admin.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "a",
        "--from-literal=k=v",
    ]);
    admin.ok(&[
        "create",
        "rolebinding",
        "alice-view",
        "-n",
        "a",
        "--clusterrole=view",
        "--user=alice",
    ]);
    let alice = user_kubectl(&s, "alice", &["dev"]);

    // The aggregation controller fills view/edit/admin from the aggregate-to-* roles.
    eventually(
        "view aggregated",
        Duration::from_secs(30),
        || {
            stdout_of(
                &admin,
                &[
                    "get",
                    "clusterrole",
                    "view",
                    "-o",
                    "jsonpath={.rules[*].resources}",
                ],
            )
        },
        |rules| rules.contains("pods"),
    );
    alice.ok(&["get", "pods", "-n", "a"]);
    alice.ok(&["get", "configmap", "settings", "-n", "a"]);
    contains(
        &alice.fails(&["get", "pods", "-n", "b"]),
        r#"Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "b""#,
    );
    contains(
        &alice.fails(&["get", "secrets", "-n", "a"]),
        r#"secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "a""#,
    );
    contains(
        &alice.fails(&["get", "configmap", "settings", "-n", "b"]),
        r#"configmaps "settings" is forbidden: User "alice" cannot get resource "configmaps" in API group "" in the namespace "b""#,
    );
    contains(
        &alice.fails(&["get", "nodes"]),
        r#"nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope"#,
    );
    contains(
        &alice.fails(&["delete", "configmap", "settings", "-n", "a"]),
        r#"configmaps "settings" is forbidden: User "alice" cannot delete resource "configmaps" in API group "" in the namespace "a""#,
    );

    // A WebSocket exec is a GET but needs `create` too.
    admin.ok(&["run", "web", "-n", "a", "--image=busybox"]);
    admin.ok(&[
        "create",
        "role",
        "exec-get",
        "-n",
        "a",
        "--verb=get",
        "--resource=pods,pods/exec",
    ]);
    admin.ok(&[
        "create",
        "rolebinding",
        "dave-exec",
        "-n",
        "a",
        "--role=exec-get",
        "--user=dave",
    ]);
    let dave = user_kubectl(&s, "dave", &[]);
    contains(
        &dave.fails(&["exec", "web", "-n", "a", "--", "true"]),
        r#"pods "web" is forbidden: User "dave" cannot create resource "pods/exec" in API group "" in the namespace "a""#,
    );

    // A group binding and a removed binding take effect at once.
    admin.ok(&[
        "create",
        "rolebinding",
        "dev-view",
        "-n",
        "b",
        "--clusterrole=view",
        "--group=dev",
    ]);
    alice.ok(&["get", "pods", "-n", "b"]);
    admin.ok(&["delete", "rolebinding", "dev-view", "-n", "b"]);
    alice.fails(&["get", "pods", "-n", "b"]);

    // can-i, its --list, and SubjectAccessReview.
    assert_eq!(
        stdout_of(&alice, &["auth", "can-i", "list", "pods", "-n", "a"]),
        "yes"
    );
    assert_eq!(
        stdout_of(&alice, &["auth", "can-i", "create", "pods", "-n", "a"]),
        "no"
    );
    assert_eq!(
        stdout_of(&alice, &["auth", "can-i", "get", "secrets", "-n", "a"]),
        "no"
    );
    let list = alice.ok(&["auth", "can-i", "--list", "-n", "a"]);
    contains(&list, "selfsubjectaccessreviews.authorization.k8s.io");
    let pods_line = list
        .lines()
        .find(|l| l.starts_with("pods "))
        .unwrap_or_else(|| panic!("no pods line:\n{list}"));
    contains(pods_line, "[get list watch]");
    assert!(!list.lines().any(|l| l.starts_with("secrets ")), "{list}");
    let in_b = alice.ok(&["auth", "can-i", "--list", "-n", "b"]);
    assert!(!in_b.lines().any(|l| l.starts_with("pods ")), "{in_b}");
    let sar = admin.ok_stdin(
        &["create", "-o", "json", "-f", "-"],
        r#"{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "groups": ["dev"], "resourceAttributes": {"namespace": "a", "verb": "list", "resource": "pods"}}}"#,
    );
    let sar: serde_json::Value = serde_json::from_str(&sar).expect("json");
    assert_eq!(sar["status"]["allowed"], true, "{sar}");
    contains(
        sar["status"]["reason"].as_str().unwrap_or(""),
        r#"RBAC: allowed by RoleBinding "alice-view/a" of ClusterRole "view" to User "alice""#,
    );

    // Impersonation: the admin may; alice may not.
    assert_eq!(
        stdout_of(
            &admin,
            &["auth", "can-i", "list", "pods", "-n", "a", "--as", "alice"]
        ),
        "yes"
    );
    assert_eq!(
        stdout_of(
            &admin,
            &["auth", "can-i", "create", "pods", "-n", "a", "--as", "alice"]
        ),
        "no"
    );
    assert_eq!(
        stdout_of(
            &admin,
            &[
                "auth",
                "can-i",
                "list",
                "pods",
                "-n",
                "b",
                "--as",
                "carol",
                "--as-group",
                "dev"
            ]
        ),
        "no"
    );
    let whoami = admin.ok(&[
        "auth",
        "whoami",
        "--as",
        "alice",
        "--as-group",
        "dev",
        "-o",
        "jsonpath={.status.userInfo.groups}",
    ]);
    contains(&whoami, "system:authenticated");
    contains(
        &alice.fails(&["get", "pods", "-n", "a", "--as", "bob"]),
        r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#,
    );

    // Anonymous callers: health and version only; the join CA and OIDC stay public.
    for path in [
        "/healthz",
        "/readyz",
        "/version",
        "/cacerts",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(anonymous_get(&s, path).0, 200, "{path}");
    }
    let (code, body) = anonymous_get(&s, "/api");
    assert_eq!(code, 403, "{body}");
    contains(
        &body,
        r#""message":"forbidden: User \"system:anonymous\" cannot get path \"/api\"""#,
    );
    let (code, body) = anonymous_get(&s, "/api/v1/namespaces/a/pods");
    assert_eq!(code, 403, "{body}");
    contains(
        &body,
        r#""reason":"Forbidden","code":403,"details":{"kind":"pods"}"#,
    );
}

#[test]
fn escalation_is_refused_without_bind_or_escalate() {
    let mut s = server();
    let admin = s.kubectl();
    admin.ok(&["create", "namespace", "a"]);
    admin.ok(&[
        "create",
        "rolebinding",
        "bob-edit",
        "-n",
        "a",
        "--clusterrole=edit",
        "--user=bob",
    ]);
    admin.ok(&[
        "create",
        "rolebinding",
        "carol-admin",
        "-n",
        "a",
        "--clusterrole=admin",
        "--user=carol",
    ]);
    let bob = user_kubectl(&s, "bob", &[]);
    let carol = user_kubectl(&s, "carol", &[]);
    eventually(
        "admin aggregated",
        Duration::from_secs(30),
        || {
            stdout_of(
                &carol,
                &["auth", "can-i", "create", "rolebindings", "-n", "a"],
            )
        },
        |answer| answer == "yes",
    );

    // edit holds no RBAC writes at all.
    contains(
        &bob.fails(&[
            "create",
            "rolebinding",
            "bob-admin",
            "-n",
            "a",
            "--clusterrole=admin",
            "--user=bob",
        ]),
        r#"rolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "a""#,
    );
    // admin may bind what it holds, not more.
    carol.ok(&[
        "create",
        "rolebinding",
        "bob-view",
        "-n",
        "a",
        "--clusterrole=view",
        "--user=bob",
    ]);
    let err = carol.fails(&[
        "create",
        "rolebinding",
        "bob-root",
        "-n",
        "a",
        "--clusterrole=cluster-admin",
        "--user=bob",
    ]);
    contains(
        &err,
        r#"rolebindings.rbac.authorization.k8s.io "bob-root" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#,
    );
    contains(&err, r#"{APIGroups:["*"], Resources:["*"], Verbs:["*"]}"#);
    let err = carol.fails(&[
        "create",
        "role",
        "node-reader",
        "-n",
        "a",
        "--verb=list",
        "--resource=nodes",
    ]);
    contains(
        &err,
        r#"roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}"#,
    );
    carol.ok(&[
        "create",
        "role",
        "pod-reader",
        "-n",
        "a",
        "--verb=get,list",
        "--resource=pods",
    ]);
    // `escalate` and `bind` lift the checks.
    admin.ok(&[
        "create",
        "clusterrole",
        "rbac-escalator",
        "--verb=escalate,bind",
        "--resource=roles,clusterroles",
    ]);
    admin.ok(&[
        "create",
        "rolebinding",
        "carol-escalate",
        "-n",
        "a",
        "--clusterrole=rbac-escalator",
        "--user=carol",
    ]);
    carol.ok(&[
        "create",
        "role",
        "node-reader",
        "-n",
        "a",
        "--verb=list",
        "--resource=nodes",
    ]);
    carol.ok(&[
        "create",
        "rolebinding",
        "bob-root",
        "-n",
        "a",
        "--clusterrole=cluster-admin",
        "--user=bob",
    ]);

    // A restart keeps the defaults (reconciled, not replaced) and an administrator's own
    // additions to an autoupdate role.
    admin.ok(&["patch", "clusterrole", "system:basic-user", "--type=json", "-p",
        r#"[{"op": "add", "path": "/rules/-", "value": {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}}]"#]);
    s.restart();
    let rules = admin.ok(&[
        "get",
        "clusterrole",
        "system:basic-user",
        "-o",
        "jsonpath={.rules[*].resources}",
    ]);
    contains(&rules, "namespaces");
    contains(&rules, "selfsubjectaccessreviews");
    assert_eq!(
        stdout_of(
            &carol,
            &["auth", "can-i", "create", "rolebindings", "-n", "a"]
        ),
        "yes"
    );
    assert_eq!(
        stdout_of(&bob, &["auth", "can-i", "list", "namespaces"]),
        "yes"
    );
}

#[test]
fn service_account_tokens_and_nodes_are_authorized() {
    let s = server();
    let admin = s.kubectl();
    admin.ok(&["create", "namespace", "a"]);
    admin.ok(&["create", "serviceaccount", "builder", "-n", "a"]);
    let token = admin
        .ok(&["create", "token", "builder", "-n", "a"])
        .trim()
        .to_string();
    let t = anonymous_kubectl(&s);
    contains(
        &t.fails(&["--token", &token, "get", "pods", "-n", "a"]),
        r#"pods is forbidden: User "system:serviceaccount:a:builder" cannot list resource "pods" in API group "" in the namespace "a""#,
    );
    admin.ok(&[
        "create",
        "rolebinding",
        "builder-view",
        "-n",
        "a",
        "--clusterrole=view",
        "--serviceaccount=a:builder",
    ]);
    eventually(
        "view aggregated",
        Duration::from_secs(30),
        || {
            t.run(&["--token", &token, "get", "pods", "-n", "a"])
                .status
                .success()
        },
        |ok| *ok,
    );
    // Bound to every service account of the namespace through its group.
    admin.ok(&[
        "create",
        "rolebinding",
        "all-sa",
        "-n",
        "a",
        "--clusterrole=edit",
        "--group=system:serviceaccounts:a",
    ]);
    t.ok(&[
        "--token",
        &token,
        "create",
        "configmap",
        "made-by-sa",
        "-n",
        "a",
    ]);

    // A node reads what its pods use, and nothing else.
    for name in ["used", "unused"] {
        admin.ok(&[
            "create",
            "secret",
            "generic",
            name,
            "-n",
            "a",
            "--from-literal=k=v",
        ]);
    }
    admin.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "a"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
              "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "used", "key": "k"}}}]}]}}"#,
    );
    let n1 = user_kubectl(&s, "system:node:n1", &["system:nodes"]);
    let n2 = user_kubectl(&s, "system:node:n2", &["system:nodes"]);
    n1.ok(&["get", "secret", "used", "-n", "a"]);
    contains(
        &n1.fails(&["get", "secret", "unused", "-n", "a"]),
        r#"secrets "unused" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "a": no relationship found between node 'n1' and this object"#,
    );
    contains(
        &n2.fails(&["get", "secret", "used", "-n", "a"]),
        "no relationship found between node 'n2' and this object",
    );
    n1.ok(&["get", "pods", "-A"]);
    n1.ok(&["get", "services", "-A"]);
    contains(
        &n1.fails(&["get", "secrets", "-n", "a"]),
        r#"secrets is forbidden: User "system:node:n1""#,
    );
    contains(
        &n2.fails(&["delete", "pod", "web", "-n", "a", "--wait=false"]),
        r#"pods "web" is forbidden: User "system:node:n2" cannot delete resource "pods""#,
    );
    n1.ok(&["auth", "can-i", "--list"]);
    // NodeRestriction: a node registers only itself and labels only itself.
    let node = |name: &str| {
        format!(r#"{{"apiVersion": "v1", "kind": "Node", "metadata": {{"name": "{name}"}}}}"#)
    };
    n1.ok_stdin(&["create", "-f", "-"], &node("n1"));
    contains(
        &n1.run_stdin(&["create", "-f", "-"], &node("n2"))
            .stderr
            .iter()
            .map(|b| *b as char)
            .collect::<String>(),
        r#"nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2""#,
    );
    admin.ok_stdin(&["create", "-f", "-"], &node("n2"));
    n1.ok(&["label", "node", "n1", "zone=a"]);
    contains(
        &n1.fails(&["label", "node", "n2", "zone=a"]),
        r#"nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes" in API group "" at the cluster scope"#,
    );
}
