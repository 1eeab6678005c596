//! Private images: a registry that demands basic auth is pulled from only with the right
//! credentials, given as an image pull secret or in the agent's `--registry-config`.

use std::path::Path;
use std::time::Duration;

use testkit::eventually;
use testkit::node::NodeHost;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn pod(name: &str, image: &str, secret: Option<&str>) -> String {
    let secrets = secret
        .map(|s| format!(r#", "imagePullSecrets": [{{"name": "{s}"}}]"#))
        .unwrap_or_default();
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "{name}"}},
           "spec": {{"containers": [{{"name": "main", "image": "{image}",
             "args": ["sleep", "3600"]}}]{secrets}}}}}"#
    )
}

fn state(kubectl: &testkit::Kubectl, name: &str) -> String {
    kubectl.ok(&[
        "get",
        "pod",
        name,
        "-o",
        "jsonpath={.status.phase} {.status.containerStatuses[0].state.waiting.reason}",
    ])
}

#[test]
fn pull_secrets_open_a_private_registry() {
    let mut host = NodeHost::new();
    let registry = host.private_registry("alice", "wonderland");
    let image = format!("{registry}/skiff/testimage:1");
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent(bin(), &server, "private");

    // No credentials, then wrong ones: the registry refuses the pull.
    kubectl.ok(&[
        "create",
        "secret",
        "docker-registry",
        "wrong",
        &format!("--docker-server={registry}"),
        "--docker-username=alice",
        "--docker-password=guess",
    ]);
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod("anon", &image, None));
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod("guess", &image, Some("wrong")));
    for name in ["anon", "guess"] {
        eventually(
            "the pull to be refused",
            Duration::from_secs(60),
            || state(&kubectl, name),
            |s| s == "Pending ErrImagePull" || s == "Pending ImagePullBackOff",
        );
    }
    let message = kubectl.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=anon,reason=Failed",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        message.contains("Failed to pull image") && message.contains(&registry),
        "{message}"
    );

    // The right secret: the image pulls and the container runs.
    kubectl.ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={registry}"),
        "--docker-username=alice",
        "--docker-password=wonderland",
    ]);
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod("right", &image, Some("regcred")),
    );
    eventually(
        "the pod with the right secret to run",
        Duration::from_secs(60),
        || state(&kubectl, "right"),
        |s| s.starts_with("Running"),
    );
    // A secret that does not exist is reported, and the pull goes on without it.
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod(
            "ghost",
            &format!("{}/skiff/testimage:1", host.registry()),
            Some("ghost"),
        ),
    );
    eventually(
        "the FailedToRetrieveImagePullSecret event",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=ghost,reason=FailedToRetrieveImagePullSecret",
                "-o",
                "jsonpath={.items[*].message}",
            ])
        },
        |m| m.contains("Unable to retrieve some image pull secrets (ghost)"),
    );
    kubectl.ok(&[
        "delete",
        "pod",
        "anon",
        "guess",
        "right",
        "ghost",
        "--wait=false",
    ]);
    eventually(
        "the pods to be gone",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pods", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
}

#[test]
fn registry_config_gives_credentials_and_mirrors() {
    let mut host = NodeHost::new();
    let registry = host.private_registry("bob", "builder");
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    // Credentials for the private registry, and a mirror: `mirror.invalid` is served by it.
    let config = host.dir.path().join("registries.yaml");
    std::fs::write(
        &config,
        format!(
            "mirrors:\n  mirror.invalid:\n    endpoint: [\"http://{registry}\"]\nconfigs:\n  {registry}:\n    auth: {{username: bob, password: builder}}\n  mirror.invalid:\n    auth: {{username: bob, password: builder}}\n"
        ),
    )
    .expect("write registries.yaml");
    let flag = config.display().to_string();
    host.start_agent_with(bin(), &server, "configured", &["--registry-config", &flag]);
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod("direct", &format!("{registry}/skiff/testimage:1"), None),
    );
    kubectl.ok_stdin(
        &["apply", "-f", "-"],
        &pod("mirrored", "mirror.invalid/skiff/testimage:1", None),
    );
    for name in ["direct", "mirrored"] {
        eventually(
            "the pod to pull with the configured credentials and run",
            Duration::from_secs(60),
            || state(&kubectl, name),
            |s| s.starts_with("Running"),
        );
    }
    kubectl.ok(&["delete", "pod", "direct", "mirrored", "--wait=false"]);
    eventually(
        "the pods to be gone",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pods", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
}

/// A registry config that does not parse stops the agent with the file and the reason.
#[test]
fn bad_registry_config_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("registries.yaml");
    std::fs::write(
        &config,
        "mirrors:\n  docker.io:\n    endpoint: [\"127.0.0.1:5000\"]\n",
    )
    .expect("write");
    let out = std::process::Command::new(bin())
        .args(["agent", "--kubeconfig", "/nonexistent", "--registry-config"])
        .arg(&config)
        .output()
        .expect("run skiff agent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("registries.yaml") && stderr.contains("must start with http"),
        "{stderr}"
    );
}

/// Image garbage collection: over the high threshold (0% here, so always), unused images
/// go — not the one a container uses, never the sandbox image.
#[test]
fn unused_images_are_collected() {
    let mut host = NodeHost::new();
    let image = host.image();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    host.start_agent_with(
        bin(),
        &server,
        "gc",
        &[
            "--image-gc-high-threshold",
            "0",
            "--image-gc-low-threshold",
            "0",
            "--image-minimum-gc-age",
            "0s",
            "--image-gc-period",
            "1s",
        ],
    );
    let images = || {
        let out = std::process::Command::new("ctr")
            .arg("--address")
            .arg(host.socket("gc"))
            .args(["--namespace", "k8s.io", "images", "ls", "--quiet"])
            .output()
            .expect("ctr");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod("user", &image, None));
    eventually(
        "the pod to run",
        Duration::from_secs(60),
        || state(&kubectl, "user"),
        |s| s.starts_with("Running"),
    );
    // In use: kept through several collections.
    std::thread::sleep(Duration::from_secs(3));
    assert!(images().contains("skiff/testimage:1"), "{}", images());
    kubectl.ok(&["delete", "pod", "user"]);
    eventually(
        "the unused image to be removed",
        Duration::from_secs(30),
        images,
        |s| !s.contains("skiff/testimage:1"),
    );
    assert!(images().contains("skiff/pause:1"), "{}", images());
}
