//! Helm 4 (the real binary, which server-side applies by default) against `skiff server`
//! with simulated nodes: install a chart with a CRD, a custom resource, a Deployment and a
//! post-install/post-upgrade hook Job; upgrade it; roll it back; `helm status` and
//! `helm history` report each release.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server, Sim};

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-demo")
}

struct Helm<'a> {
    server: &'a Server,
    home: tempfile::TempDir,
}

impl Helm<'_> {
    fn run(&self, args: &[&str]) -> (bool, String) {
        let h = self.home.path();
        let out = Command::new(testkit::tools_dir().join("helm"))
            .args(args)
            .arg("--kubeconfig")
            .arg(self.server.kubeconfig())
            .env_remove("KUBECONFIG")
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .output()
            .expect("run helm");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(
            ok,
            "helm {args:?} failed:\n{text}\nserver log tail:\n{}",
            tail(&self.server.log_text())
        );
        text
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn replicas(k: &Kubectl) -> String {
    k.ok(&[
        "get",
        "deploy",
        "demo-web",
        "-o",
        "jsonpath={.spec.replicas}",
    ])
}

#[test]
fn install_upgrade_and_roll_back_a_chart_with_a_crd_and_a_hook() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    let _sim = Sim::start(&s, 2, &[]);
    eventually(
        "two Ready nodes",
        Duration::from_secs(30),
        || k.ok(&["get", "nodes", "--no-headers"]),
        |o| {
            o.lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
                .count()
                == 2
        },
    );
    let helm = Helm {
        server: &s,
        home: tempfile::tempdir().expect("helm home"),
    };
    let chart = chart();
    let chart = chart.to_str().expect("utf-8 path");

    let out = helm.ok(&["install", "demo", chart, "--wait", "--timeout", "90s"]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    // The CRD came from crds/, the custom resource from the templates, the hook ran.
    assert_eq!(
        k.ok(&["get", "gizmo", "demo-gizmo", "-o", "jsonpath={.spec.color}"]),
        "red"
    );
    assert_eq!(replicas(&k), "2");
    assert_eq!(
        k.ok(&[
            "get",
            "job",
            "demo-migrate-1",
            "-o",
            "jsonpath={.status.succeeded}"
        ]),
        "1"
    );
    let ready = k.ok(&[
        "get",
        "deploy",
        "demo-web",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    assert_eq!(ready, "2");
    // Helm 4 writes with server-side apply: its fields are recorded as its own.
    let managers = k.ok(&[
        "get",
        "deploy",
        "demo-web",
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}",
    ]);
    assert!(managers.contains("helm/Apply"), "{managers}");

    let out = helm.ok(&[
        "upgrade",
        "demo",
        chart,
        "--set",
        "replicas=3",
        "--set",
        "color=blue",
        "--wait",
        "--timeout",
        "90s",
    ]);
    assert!(
        out.contains("STATUS: deployed") && out.contains("REVISION: 2"),
        "{out}"
    );
    assert_eq!(replicas(&k), "3");
    assert_eq!(
        k.ok(&["get", "gizmo", "demo-gizmo", "-o", "jsonpath={.spec.color}"]),
        "blue"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "job",
            "demo-migrate-2",
            "-o",
            "jsonpath={.status.succeeded}"
        ]),
        "1"
    );

    let out = helm.ok(&["rollback", "demo", "1", "--wait", "--timeout", "90s"]);
    assert!(out.contains("Rollback was a success"), "{out}");
    assert_eq!(replicas(&k), "2");
    assert_eq!(
        k.ok(&["get", "gizmo", "demo-gizmo", "-o", "jsonpath={.spec.color}"]),
        "red"
    );

    let status = helm.ok(&["status", "demo"]);
    assert!(
        status.contains("STATUS: deployed") && status.contains("REVISION: 3"),
        "{status}"
    );
    let history = helm.ok(&["history", "demo"]);
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{history}");
    assert_eq!(rows[0][0], "1");
    assert!(rows[0].contains(&"superseded"), "{history}");
    assert!(rows[1].contains(&"superseded"), "{history}");
    assert!(rows[2].contains(&"deployed"), "{history}");
    assert!(history.contains("Rollback to 1"), "{history}");

    let out = helm.ok(&["uninstall", "demo", "--wait", "--timeout", "60s"]);
    assert!(out.contains("uninstalled"), "{out}");
    eventually(
        "the Deployment to go",
        Duration::from_secs(30),
        || k.run(&["get", "deploy", "demo-web"]).status.success(),
        |present| !present,
    );
    // Helm keeps CRDs (and so their objects) on uninstall, as upstream Helm does.
    assert!(k
        .run(&["get", "crd", "gizmos.demo.skiff.dev"])
        .status
        .success());
}
