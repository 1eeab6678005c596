//! Every component of `skiff server` acts under its own identity, never as
//! `system:masters` (issue 7): read back from the audit log, the controller manager's
//! writes are `system:kube-controller-manager`'s, the scheduler's bindings
//! `system:kube-scheduler`'s, the in-process agent's requests `system:node:<name>`'s, and
//! none of them was refused (a 403 in a controller is silent breakage). Taking the
//! controller manager's binding away stops it with 403s; putting it back heals it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use testkit::node::NodeHost;
use testkit::{eventually, Server, Sim};

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/openapi/*", "/version", "/healthz*", "/readyz*", "/livez*"]
- level: Metadata
"#;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// The audit flags, with the policy written into `dir`; returns them and the log path.
fn audit_args(dir: &Path) -> (Vec<String>, PathBuf) {
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("policy");
    let log = dir.join("audit.log");
    let args = vec![
        "--audit-policy-file".to_string(),
        policy.display().to_string(),
        "--audit-log-path".to_string(),
        log.display().to_string(),
    ];
    (args, log)
}

fn events(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn user(e: &Value) -> &str {
    e["user"]["username"].as_str().unwrap_or("")
}

fn is_master(e: &Value) -> bool {
    e["user"]["groups"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g == "system:masters"))
}

fn agent(e: &Value) -> &str {
    e["userAgent"].as_str().unwrap_or("")
}

fn code(e: &Value) -> i64 {
    e["responseStatus"]["code"].as_i64().unwrap_or(0)
}

fn summary(e: &Value) -> String {
    format!(
        "{} {} {}/{} {:?} by {} ({}): {}",
        e["verb"],
        e["objectRef"]["namespace"],
        e["objectRef"]["resource"],
        e["objectRef"]["subresource"],
        e["objectRef"]["name"],
        user(e),
        agent(e),
        code(e)
    )
}

/// Whether a component (by its user agent) acted as the admin, or was refused.
fn misbehaving(events: &[Value], agents: &[&str], users: &[&str]) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            let ours = agents.iter().any(|a| agent(e).starts_with(a));
            (ours && (is_master(e) || user(e) == "system:admin"))
                || (users.iter().any(|u| user(e).starts_with(u)) && code(e) == 403)
        })
        .map(summary)
        .collect()
}

#[test]
fn controllers_and_scheduler_act_as_themselves() {
    let files = tempfile::tempdir().expect("tempdir");
    let (args, log) = audit_args(files.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_with(bin(), &args);
    let k = s.kubectl();
    let _sim = Sim::start(&s, 1, &[]);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=example.invalid/web",
        "--replicas=2",
    ]);
    eventually(
        "two Running pods",
        Duration::from_secs(60),
        || {
            k.ok(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={.items[*].status.phase}",
            ])
        },
        |p| p.trim() == "Running Running",
    );
    // The namespace controller empties and removes a namespace (every kind, discovered).
    k.ok(&["create", "namespace", "doomed"]);
    k.ok(&["create", "configmap", "c", "-n", "doomed"]);
    k.ok(&["delete", "namespace", "doomed", "--timeout=60s"]);

    let all = events(&log);
    let by = |verb: &str, resource: &str, sub: &str, who: &str| {
        all.iter().any(|e| {
            e["verb"] == verb
                && e["objectRef"]["resource"] == resource
                && e["objectRef"]["subresource"].as_str().unwrap_or("") == sub
                && user(e) == who
                && !is_master(e)
                && code(e) < 300
        })
    };
    assert!(
        by(
            "create",
            "replicasets",
            "",
            "system:kube-controller-manager"
        ),
        "no ReplicaSet created by the controller manager"
    );
    assert!(
        by("create", "pods", "", "system:kube-controller-manager"),
        "no pod created by the controller manager"
    );
    assert!(
        by("create", "pods", "binding", "system:kube-scheduler"),
        "no binding by the scheduler"
    );
    assert!(
        by(
            "update",
            "namespaces",
            "finalize",
            "system:kube-controller-manager"
        ),
        "the namespace controller did not finalize"
    );
    let bad = misbehaving(
        &all,
        &["kube-controller-manager/", "kube-scheduler/"],
        &["system:kube-controller-manager", "system:kube-scheduler"],
    );
    assert!(
        bad.is_empty(),
        "components as admin or refused:\n{}",
        bad.join("\n")
    );

    // Without its role the controller manager is refused, and heals once it is back.
    k.ok(&[
        "delete",
        "clusterrolebinding",
        "system:skiff:controller-manager",
    ]);
    k.ok(&[
        "create",
        "deployment",
        "after",
        "--image=example.invalid/web",
    ]);
    eventually(
        "the controller manager refused",
        Duration::from_secs(30),
        || {
            events(&log)
                .iter()
                .filter(|e| user(e) == "system:kube-controller-manager" && code(e) == 403)
                .map(summary)
                .collect::<Vec<_>>()
        },
        |refused| !refused.is_empty(),
    );
    assert!(k
        .ok(&["get", "replicasets", "-l", "app=after", "-o", "name"])
        .trim()
        .is_empty());
    k.ok(&[
        "create",
        "clusterrolebinding",
        "system:skiff:controller-manager",
        "--clusterrole=system:skiff:controller-manager",
        "--user=system:kube-controller-manager",
    ]);
    eventually(
        "the ReplicaSet once the role is back",
        Duration::from_secs(60),
        || k.ok(&["get", "replicasets", "-l", "app=after", "-o", "name"]),
        |out| !out.trim().is_empty(),
    );
}

#[test]
fn the_servers_own_agent_acts_as_its_node() {
    let files = tempfile::tempdir().expect("tempdir");
    let (args, log) = audit_args(files.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut host = NodeHost::new();
    let image = host.image();
    let s = host.server_with_agent(bin(), "solo", &args);
    let k = s.kubectl();
    k.ok(&[
        "run",
        "web",
        &format!("--image={image}"),
        "--",
        "serve-http",
        "--port",
        "8080",
    ]);
    eventually(
        "the pod Running",
        Duration::from_secs(60),
        || k.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Running",
    );
    let all = events(&log);
    let status_by_node = all.iter().any(|e| {
        e["objectRef"]["resource"] == "pods"
            && e["objectRef"]["subresource"] == "status"
            && user(e) == "system:node:solo"
            && e["user"]["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g == "system:nodes"))
            && code(e) < 300
    });
    assert!(status_by_node, "no pod status written by system:node:solo");
    let bad = misbehaving(&all, &["kubelet/"], &["system:node:"]);
    assert!(
        bad.is_empty(),
        "the agent as admin or refused:\n{}",
        bad.join("\n")
    );
    k.ok(&["delete", "pod", "web"]);
}
