//! The audit log, static token users and `kubectl auth whoami` end to end: the real
//! binary with `--audit-policy-file`, `--audit-log-path` and `--token-auth-file`, driven
//! by real kubectl and curl; the log is read back and its events checked.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use testkit::{eventually, Kubectl, Server};

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/openapi/*", "/version", "/healthz*", "/readyz*", "/livez*"]
# Secrets are asked for at RequestResponse too: skiff still records them at Metadata.
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps", "secrets"]
- level: Metadata
"#;

const SECRET_VALUE: &str = "hunter2-audit-canary";
const ALICE_TOKEN: &str = "alice-static-token-0123456789";

struct Setup {
    server: Server,
    log: std::path::PathBuf,
    // Keeps the policy and token files alive as long as the server.
    _files: tempfile::TempDir,
}

fn setup() -> Setup {
    let files = tempfile::tempdir().expect("tempdir");
    let policy = files.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("policy");
    let tokens = files.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        format!("{ALICE_TOKEN},alice,alice-uid,\"devs,testers\"\n"),
    )
    .expect("tokens");
    let log = files.path().join("logs").join("audit.log");
    let server = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &[
            "--audit-policy-file",
            policy.to_str().expect("utf-8"),
            "--audit-log-path",
            log.to_str().expect("utf-8"),
            "--audit-log-maxsize",
            "100",
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
        ],
    );
    Setup {
        server,
        log,
        _files: files,
    }
}

/// A kubeconfig whose user is a static token.
fn token_kubectl(s: &Server, token: &str) -> Kubectl {
    let dir = s.data_dir().join("token-user");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n",
            s.url(),
            s.data_dir().join("tls").join("ca.crt").display()
        ),
    )
    .expect("kubeconfig");
    Kubectl {
        bin: testkit::kubectl_latest(),
        kubeconfig: path,
    }
}

fn events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn find(events: &[Value], pred: impl Fn(&Value) -> bool) -> Vec<&Value> {
    events.iter().filter(|e| pred(e)).collect()
}

fn is(e: &Value, verb: &str, resource: &str, name: &str, stage: &str) -> bool {
    e["verb"] == verb
        && e["objectRef"]["resource"] == resource
        && (name.is_empty() || e["objectRef"]["name"] == name)
        && e["stage"] == stage
}

#[test]
fn audit_log_records_requests_by_policy() {
    let s = setup();
    let admin = s.server.kubectl();
    let alice = token_kubectl(&s.server, ALICE_TOKEN);

    admin.ok(&[
        "create",
        "configmap",
        "cm1",
        "--from-literal=k=visible-value",
    ]);
    admin.ok(&[
        "create",
        "secret",
        "generic",
        "s1",
        &format!("--from-literal=password={SECRET_VALUE}"),
    ]);
    admin.ok(&["get", "configmap", "cm1", "-o", "json"]);
    admin.ok(&["get", "secret", "s1", "-o", "yaml"]);
    let refused = alice.fails(&["get", "configmaps"]);
    assert!(refused.contains("forbidden"), "{refused}");
    // `no` exits 1; only the request matters here.
    admin.run(&[
        "--as",
        "bob",
        "--as-group",
        "devs",
        "auth",
        "can-i",
        "list",
        "pods",
    ]);
    let mut watch = admin.spawn_lines(&["get", "configmaps", "-w"]);
    assert!(watch.wait_for(Duration::from_secs(20), |l| l.contains("cm1")));

    // The Audit-Id header names the request's events.
    let out = std::process::Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(s.server.data_dir().join("tls").join("ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {ALICE_TOKEN}")])
        .arg(format!(
            "{}/api/v1/namespaces/default/configmaps/cm1",
            s.server.url()
        ))
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&out.stdout).to_string();
    let audit_id = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("audit-id")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no Audit-Id in {headers}"));

    // A token that fails: 401, audited at ResponseStarted with no user.
    let out = std::process::Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(s.server.data_dir().join("tls").join("ca.crt"))
        .args(["-H", "Authorization: Bearer not-a-known-token"])
        .arg(format!(
            "{}/api/v1/namespaces/default/secrets",
            s.server.url()
        ))
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        headers.starts_with("HTTP/2 401") || headers.starts_with("HTTP/1.1 401"),
        "{headers}"
    );

    let all = eventually(
        "the curl request's event in the audit log",
        Duration::from_secs(10),
        || events(&s.log),
        |ev| ev.iter().any(|e| e["auditID"] == audit_id.as_str()),
    );
    let by_id = find(&all, |e| e["auditID"] == audit_id.as_str());
    assert!(by_id
        .iter()
        .any(|e| e["stage"] == "ResponseComplete" && e["responseStatus"]["code"] == 403));

    let unauthenticated = find(&all, |e| {
        e["responseStatus"]["code"] == 401
            && e["requestURI"] == "/api/v1/namespaces/default/secrets"
    });
    assert_eq!(unauthenticated.len(), 1, "{unauthenticated:?}");
    let u = unauthenticated[0];
    assert_eq!(u["stage"], "ResponseStarted");
    assert_eq!(u["user"], serde_json::json!({}));
    assert_eq!(
        u["responseStatus"]["message"],
        "Authentication failed, attempted: bearer"
    );
    assert_eq!(u["objectRef"]["resource"], "secrets");

    // Each event has upstream's shape.
    for e in &all {
        assert_eq!(e["kind"], "Event");
        assert_eq!(e["apiVersion"], "audit.k8s.io/v1");
        let ts = e["stageTimestamp"].as_str().expect("stageTimestamp");
        assert_eq!(ts.len(), "2026-12-05T19:14:09.123456Z".len(), "{ts}");
        assert!(e["requestReceivedTimestamp"].is_string());
    }
    // Discovery is level None: no events for it.
    assert!(find(&all, |e| e["requestURI"] == "/api").is_empty());

    // The configmap at RequestResponse: both bodies, 201 then 200.
    let created = find(&all, |e| {
        is(e, "create", "configmaps", "", "ResponseComplete")
            && e["responseObject"]["metadata"]["name"] == "cm1"
    });
    assert_eq!(created.len(), 1, "{created:?}");
    let c = created[0];
    assert_eq!(c["level"], "RequestResponse");
    assert_eq!(c["responseStatus"]["code"], 201);
    assert_eq!(c["requestObject"]["data"]["k"], "visible-value");
    assert_eq!(c["responseObject"]["metadata"]["name"], "cm1");
    assert_eq!(c["objectRef"]["namespace"], "default");
    assert_eq!(c["objectRef"]["apiVersion"], "v1");
    assert_eq!(c["user"]["username"], "system:admin");
    assert_eq!(c["annotations"]["authorization.k8s.io/decision"], "allow");
    assert!(!c["sourceIPs"].as_array().expect("sourceIPs").is_empty());
    assert!(c["userAgent"]
        .as_str()
        .is_some_and(|ua| ua.contains("kubectl")));
    let received = find(&all, |e| {
        e["stage"] == "RequestReceived" && e["auditID"] == c["auditID"]
    });
    assert_eq!(received.len(), 1);
    assert!(received[0].get("responseStatus").is_none());
    let got = find(&all, |e| {
        is(e, "get", "configmaps", "cm1", "ResponseComplete")
    });
    assert!(got
        .iter()
        .any(|e| e["responseStatus"]["code"] == 200 && e["responseObject"].is_object()));

    // The secret: Metadata only, and its value nowhere in the file.
    let secret = find(&all, |e| {
        is(e, "create", "secrets", "", "ResponseComplete")
            && e["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with("kubectl"))
    });
    assert_eq!(secret.len(), 1);
    assert_eq!(secret[0]["level"], "Metadata");
    assert_eq!(secret[0]["responseStatus"]["code"], 201);
    assert!(secret[0].get("requestObject").is_none());
    let text = std::fs::read_to_string(&s.log).expect("log");
    assert!(!text.contains(SECRET_VALUE));
    assert!(!text.contains(&base64_of(SECRET_VALUE)));

    // The forbidden list by alice: 403 with upstream's failure status and the decision.
    let forbidden = find(&all, |e| {
        is(e, "list", "configmaps", "", "ResponseComplete") && e["user"]["username"] == "alice"
    });
    assert!(!forbidden.is_empty());
    let f = forbidden[0];
    assert_eq!(f["responseStatus"]["code"], 403);
    assert_eq!(f["responseStatus"]["status"], "Failure");
    assert_eq!(f["responseStatus"]["reason"], "Forbidden");
    assert_eq!(f["annotations"]["authorization.k8s.io/decision"], "forbid");
    assert_eq!(
        f["user"]["groups"],
        serde_json::json!(["devs", "testers", "system:authenticated"])
    );

    // Impersonation: the caller is `user`, the one acted as `impersonatedUser`.
    let acted = find(&all, |e| e["impersonatedUser"]["username"] == "bob");
    assert!(!acted.is_empty());
    assert_eq!(acted[0]["user"]["username"], "system:admin");
    assert_eq!(acted[0]["impersonatedUser"]["groups"][0], "devs");

    // The watch: ResponseStarted now, ResponseComplete once kubectl hangs up.
    let started = find(&all, |e| {
        is(e, "watch", "configmaps", "", "ResponseStarted")
            && e["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with("kubectl"))
    });
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["responseStatus"]["code"], 200);
    let watch_id = started[0]["auditID"].as_str().expect("id").to_string();
    watch.kill();
    eventually(
        "the watch's ResponseComplete",
        Duration::from_secs(10),
        || events(&s.log),
        |ev| {
            ev.iter()
                .any(|e| e["auditID"] == watch_id.as_str() && e["stage"] == "ResponseComplete")
        },
    );
}

fn base64_of(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn whoami_for_token_user_and_admin() {
    let s = setup();
    let alice = token_kubectl(&s.server, ALICE_TOKEN);
    let me = alice.ok(&["auth", "whoami"]);
    assert!(me.contains("alice"), "{me}");
    assert!(me.contains("alice-uid"), "{me}");
    assert!(me.contains("devs") && me.contains("testers"), "{me}");
    assert!(me.contains("system:authenticated"), "{me}");
    let admin = s.server.kubectl().ok(&["auth", "whoami"]);
    assert!(admin.contains("system:admin"), "{admin}");
    assert!(admin.contains("system:masters"), "{admin}");
    // A token not in the file is a 401.
    let stranger = token_kubectl(&s.server, "not-a-known-token");
    let refused = stranger.fails(&["get", "configmaps"]);
    assert!(
        refused.contains("Unauthorized") || refused.contains("provide credentials"),
        "{refused}"
    );
}
