//! What the node agent gives a container besides its image: the environment (values,
//! ConfigMaps, Secrets, the downward API, envFrom, `$(VAR)` in the command), the security
//! context (user, groups, read-only root), and volumes (configMap updated in place,
//! emptyDir shared between containers, projected configMap + downward API). A missing
//! Secret is CreateContainerConfigError until it is created; a missing ConfigMap volume
//! is a FailedMount until it is.
//!
//! Needs root and the Debian packages of agent_containers.rs. Container output is read from
//! the CRI log files under the agent's data dir (`kubectl logs` does not depend on them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::node::NodeHost;
use testkit::{eventually, Kubectl};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// The agent, without disk-pressure eviction: the shared test machine's disk may be fuller
/// than the default `nodefs.available<10%`, and these pods must not be evicted.
fn start_agent(host: &mut NodeHost, server: &testkit::Server, node: &str) {
    host.start_agent_with(
        bin(),
        server,
        node,
        &["--eviction-hard", "memory.available<1Ki"],
    );
}

fn agent_dir(host: &NodeHost, node: &str) -> PathBuf {
    host.dir.path().join(format!("agent-{node}"))
}

/// The lines a container printed (CRI log format: `<time> <stream> <tag> <line>`).
fn container_log(host: &NodeHost, node: &str, kubectl: &Kubectl, pod: &str, c: &str) -> String {
    let uid = kubectl.ok(&["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
    let path = agent_dir(host, node).join(format!("pods/default_{pod}_{uid}/{c}/0.log"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn waiting(kubectl: &Kubectl, pod: &str) -> String {
    kubectl.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.phase} {.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}",
    ])
}

fn events(kubectl: &Kubectl, pod: &str) -> String {
    kubectl.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

#[test]
fn environment_from_config_secrets_and_downward_api() {
    let mut host = NodeHost::new();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    let node = format!("cfg-env-{}", std::process::id());
    start_agent(&mut host, &server, &node);
    let image = host.image();

    kubectl.ok(&[
        "create",
        "configmap",
        "app-cfg",
        "--from-literal=color=blue",
        "--from-literal=size=L",
    ]);
    // The pod refers to a Secret that does not exist yet.
    let pod = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: envpod, labels: {{app: envpod}}}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: {image}
    command: ["/skiff-testimage", "$(MODE)"]
    resources:
      requests: {{cpu: 250m, memory: 32Mi}}
      limits: {{memory: 64Mi}}
    envFrom:
    - configMapRef: {{name: app-cfg}}
      prefix: CFG_
    - secretRef: {{name: creds}}
    env:
    - {{name: MODE, value: env}}
    - name: COLOR
      valueFrom: {{configMapKeyRef: {{name: app-cfg, key: color}}}}
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}
    - name: MAYBE
      valueFrom: {{secretKeyRef: {{name: nothing, key: k, optional: true}}}}
    - {{name: GREETING, value: "hello $(COLOR) and $(NOPE)"}}
    - {{name: ESCAPED, value: "$$(COLOR)"}}
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    - name: POD_NAMESPACE
      valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}
    - name: POD_UID
      valueFrom: {{fieldRef: {{fieldPath: metadata.uid}}}}
    - name: APP_LABEL
      valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['app']"}}}}
    - name: NODE
      valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}
    - name: POD_IP
      valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
    - name: HOST_IP
      valueFrom: {{fieldRef: {{fieldPath: status.hostIP}}}}
    - name: CPU_REQUEST_M
      valueFrom: {{resourceFieldRef: {{resource: requests.cpu, divisor: 1m}}}}
    - name: MEM_LIMIT_MI
      valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}
"#
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod);
    eventually(
        "CreateContainerConfigError for the missing Secret",
        Duration::from_secs(60),
        || waiting(&kubectl, "envpod"),
        |w| w == "Pending CreateContainerConfigError: secret \"creds\" not found",
    );
    eventually(
        "the kubelet's Failed event",
        Duration::from_secs(20),
        || events(&kubectl, "envpod"),
        |e| e.contains("Failed: Error: secret \"creds\" not found"),
    );

    kubectl.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=hunter2",
    ]);
    eventually(
        "the pod to run once the Secret exists",
        Duration::from_secs(60),
        || kubectl.ok(&["get", "pod", "envpod", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Succeeded",
    );
    let uid = kubectl.ok(&["get", "pod", "envpod", "-o", "jsonpath={.metadata.uid}"]);
    let pod_ip = kubectl.ok(&["get", "pod", "envpod", "-o", "jsonpath={.status.podIP}"]);
    let log = container_log(&host, &node, &kubectl, "envpod", "c");
    let env: Vec<&str> = log.lines().collect();
    for want in [
        "MODE=env".to_string(),
        "CFG_color=blue".into(),
        "CFG_size=L".into(),
        "password=hunter2".into(),
        "COLOR=blue".into(),
        "PASSWORD=hunter2".into(),
        "GREETING=hello blue and $(NOPE)".into(),
        "ESCAPED=$(COLOR)".into(),
        "POD_NAME=envpod".into(),
        "POD_NAMESPACE=default".into(),
        format!("POD_UID={uid}"),
        "APP_LABEL=envpod".into(),
        format!("NODE={node}"),
        format!("POD_IP={pod_ip}"),
        "CPU_REQUEST_M=250".into(),
        "MEM_LIMIT_MI=64".into(),
    ] {
        assert!(env.contains(&want.as_str()), "{want} missing in:\n{log}");
    }
    assert!(
        env.iter().any(|l| l.starts_with("HOST_IP=") && l.len() > 8),
        "{log}"
    );
    assert!(!env.iter().any(|l| l.starts_with("MAYBE=")), "{log}");

    // A restart needs the Secret again: gone, the restart waits with the kubelet's Failed
    // event, and happens once the Secret is back.
    let restarter = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: restarter}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: \"{image}\"\n    command: [/skiff-testimage, sleep, \"3\"]\n    env:\n    - name: PASSWORD\n      valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}\n"
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &restarter);
    let restarts = || {
        kubectl.ok(&[
            "get",
            "pod",
            "restarter",
            "-o",
            "jsonpath={.status.phase} {.status.containerStatuses[0].restartCount}",
        ])
    };
    eventually("restarter to run", Duration::from_secs(60), restarts, |r| {
        r == "Running 0"
    });
    kubectl.ok(&["delete", "secret", "creds"]);
    eventually(
        "the restart to fail for the missing Secret",
        Duration::from_secs(30),
        || events(&kubectl, "restarter"),
        |e| e.contains("Failed: Error: secret \"creds\" not found"),
    );
    kubectl.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=hunter2",
    ]);
    eventually(
        "the restart once the Secret is back",
        Duration::from_secs(60),
        restarts,
        |r| r.starts_with("Running ") && r != "Running 0",
    );

    kubectl.ok(&["delete", "pod", "envpod", "restarter"]);
    kubectl.ok(&["delete", "configmap", "app-cfg"]);
    kubectl.ok(&["delete", "secret", "creds"]);
    eventually(
        "the pod's containers to be gone",
        Duration::from_secs(60),
        || host.containers(&node),
        |c| c.is_empty(),
    );
}

#[test]
fn volumes_and_security_context() {
    let mut host = NodeHost::new();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    let node = format!("cfg-vol-{}", std::process::id());
    start_agent(&mut host, &server, &node);
    let image = host.image();

    let config = |color: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-config}}\ndata: {{color: {color}, size: L}}\n"
        )
    };
    kubectl.ok_stdin(&["apply", "-f", "-"], &config("blue"));
    kubectl.ok(&[
        "create",
        "secret",
        "generic",
        "vol-secret",
        "--from-literal=password=s3cret",
    ]);
    let hp = host.dir.path().join("hp");
    let hp = hp.display();
    let pod = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: vols, labels: {{app: vols}}}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext: {{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}}
  volumes:
  - name: cfg
    configMap:
      name: web-config
      items: [{{key: color, path: conf/color}}]
  - name: shared
    emptyDir: {{}}
  - name: mem
    emptyDir: {{medium: Memory, sizeLimit: 8Mi}}
  - name: creds
    secret: {{secretName: vol-secret, defaultMode: 256}}
  - name: hp
    hostPath: {{path: "{hp}", type: DirectoryOrCreate}}
  - name: info
    projected:
      sources:
      - configMap: {{name: web-config, items: [{{key: size, path: size}}]}}
      - downwardAPI: {{items: [{{path: name, fieldRef: {{fieldPath: metadata.name}}}}]}}
  containers:
  - name: writer
    image: {image}
    command: ["/skiff-testimage", "write", "/shared/msg", "hello-from-writer", "--then-sleep", "3600"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: reader
    image: {image}
    command: ["/skiff-testimage", "cat", "--every", "1", "/shared/msg", "/config/conf/color", "/info/size", "/info/name", "/secret/password"]
    volumeMounts:
    - {{name: shared, mountPath: /shared}}
    - {{name: mem, mountPath: /mem}}
    - {{name: creds, mountPath: /secret}}
    - {{name: hp, mountPath: /hp}}
    - {{name: cfg, mountPath: /config}}
    - {{name: info, mountPath: /info}}
  - name: ident
    image: {image}
    command: ["/skiff-testimage", "id"]
  - name: readonly
    image: {image}
    command: ["/skiff-testimage", "write", "/probe", "x"]
    securityContext: {{readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}
"#
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &pod);
    eventually(
        "the reader to see the writer's file, the configMap and the projected files",
        Duration::from_secs(90),
        || container_log(&host, &node, &kubectl, "vols", "reader"),
        |l| {
            l.contains("hello-from-writer")
                && l.lines().any(|x| x == "blue")
                && l.lines().any(|x| x == "L")
                && l.lines().any(|x| x == "vols")
                && l.lines().any(|x| x == "s3cret")
        },
    );
    let id = eventually(
        "the ident container's output",
        Duration::from_secs(30),
        || container_log(&host, &node, &kubectl, "vols", "ident"),
        |l| !l.is_empty(),
    );
    assert!(id.starts_with("uid=1000 gid=3000 groups="), "{id}");
    let groups: Vec<&str> = id
        .split("groups=")
        .nth(1)
        .unwrap_or("")
        .trim()
        .split(',')
        .collect();
    for g in ["2000", "4000"] {
        assert!(groups.contains(&g), "group {g} missing: {id}");
    }
    let ro = eventually(
        "the read-only container to fail its write",
        Duration::from_secs(30),
        || container_log(&host, &node, &kubectl, "vols", "readonly"),
        |l| !l.is_empty(),
    );
    assert!(ro.contains("Read-only file system"), "{ro}");

    // The volume's files on the node: fsGroup owns them, ..data links the current version.
    let uid = kubectl.ok(&["get", "pod", "vols", "-o", "jsonpath={.metadata.uid}"]);
    let pod_dir = agent_dir(&host, &node).join(format!("kubelet/pods/{uid}"));
    let cfg_dir = pod_dir.join("volumes/kubernetes.io~configmap/cfg");
    assert!(std::fs::read_link(cfg_dir.join("..data")).is_ok());
    assert!(
        host.dir.path().join("hp").is_dir(),
        "hostPath DirectoryOrCreate"
    );
    // Memory emptyDirs (with their size limit) and secrets live on tmpfs.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mem = pod_dir.join("volumes/kubernetes.io~empty-dir/mem");
    let mem = mem.display().to_string();
    assert!(
        mounts.lines().any(|l| l.contains(&format!(" {mem} "))
            && l.contains("tmpfs")
            && l.contains("size=8192k")),
        "no 8Mi tmpfs at {mem}"
    );
    let secret_dir = pod_dir.join("volumes/kubernetes.io~secret/creds");
    let secret_dir = secret_dir.display().to_string();
    assert!(
        mounts
            .lines()
            .any(|l| l.contains(&format!(" {secret_dir} ")) && l.contains("tmpfs")),
        "secret volume not on tmpfs"
    );

    // An update to the ConfigMap reaches the running container in place.
    kubectl.ok_stdin(&["apply", "-f", "-"], &config("red"));
    eventually(
        "the configMap volume to show the new value",
        Duration::from_secs(60),
        || container_log(&host, &node, &kubectl, "vols", "reader"),
        |l| l.lines().any(|x| x == "red"),
    );

    // runAsNonRoot with an image that runs as root: refused.
    let nonroot = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: nonroot}}\nspec:\n  securityContext: {{runAsNonRoot: true}}\n  containers:\n  - {{name: c, image: \"{image}\", command: [/skiff-testimage, sleep, \"3600\"]}}\n"
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &nonroot);
    let nonroot_uid = eventually(
        "the nonroot pod's uid",
        Duration::from_secs(10),
        || kubectl.ok(&["get", "pod", "nonroot", "-o", "jsonpath={.metadata.uid}"]),
        |u| !u.is_empty(),
    );
    eventually(
        "CreateContainerConfigError for runAsNonRoot",
        Duration::from_secs(60),
        || waiting(&kubectl, "nonroot"),
        |w| {
            w == &format!(
                "Pending CreateContainerConfigError: container has runAsNonRoot and image will run as root (pod: \"nonroot_default({nonroot_uid})\", container: c)"
            )
        },
    );

    // A configMap volume whose ConfigMap is missing: FailedMount, ContainerCreating, and
    // the pod starts once the ConfigMap exists.
    let missing = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: waits}}\nspec:\n  terminationGracePeriodSeconds: 1\n  volumes:\n  - {{name: late, configMap: {{name: late-config}}}}\n  containers:\n  - name: c\n    image: \"{image}\"\n    command: [/skiff-testimage, cat, --every, \"1\", /late/k]\n    volumeMounts: [{{name: late, mountPath: /late}}]\n"
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &missing);
    eventually(
        "FailedMount for the missing ConfigMap",
        Duration::from_secs(60),
        || events(&kubectl, "waits"),
        |e| {
            e.contains(
                "FailedMount: MountVolume.SetUp failed for volume \"late\" : configmap \"late-config\" not found",
            )
        },
    );
    assert_eq!(waiting(&kubectl, "waits"), "Pending ContainerCreating: ");
    kubectl.ok(&[
        "create",
        "configmap",
        "late-config",
        "--from-literal=k=arrived",
    ]);
    eventually(
        "the waiting pod to start and read the ConfigMap",
        Duration::from_secs(60),
        || container_log(&host, &node, &kubectl, "waits", "c"),
        |l| l.lines().any(|x| x == "arrived"),
    );

    // A PersistentVolumeClaim: the pod waits (FailedMount) while the claim is unbound,
    // then writes into the bound PV's hostPath, which the node creates.
    let pv_dir = host.dir.path().join("pv-data");
    // The claim names a volume that does not exist yet: it stays Pending.
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  resources: {requests: {storage: 1Gi}}\n  volumeName: pv-data\n";
    kubectl.ok_stdin(&["apply", "-f", "-"], claim);
    // Bound to the node directly: the scheduler would wait for the claim itself.
    let claimer = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: claimer}}\nspec:\n  nodeName: {node}\n  restartPolicy: Never\n  volumes:\n  - {{name: data, persistentVolumeClaim: {{claimName: data}}}}\n  containers:\n  - name: c\n    image: \"{image}\"\n    command: [/skiff-testimage, write, /data/out, stored]\n    volumeMounts: [{{name: data, mountPath: /data}}]\n"
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &claimer);
    eventually(
        "FailedMount for the unbound claim",
        Duration::from_secs(60),
        || events(&kubectl, "claimer"),
        |e| e.contains("error processing PVC default/data: PVC default/data has non-bound phase"),
    );
    // The volume appears: the volume controller binds the claim to it.
    let volume = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: pv-data}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{path: \"{}\"}}\n  claimRef: {{namespace: default, name: data}}\n",
        pv_dir.display()
    );
    kubectl.ok_stdin(&["apply", "-f", "-"], &volume);
    eventually(
        "the claimer to write into the PV",
        Duration::from_secs(60),
        || std::fs::read_to_string(pv_dir.join("out")).unwrap_or_default(),
        |out| out == "stored",
    );

    for p in ["vols", "nonroot", "waits", "claimer"] {
        kubectl.ok(&["delete", "pod", p, "--wait=false"]);
    }
    eventually(
        "the pods to be gone",
        Duration::from_secs(90),
        || kubectl.ok(&["get", "pods", "-o", "name"]),
        |out| out.trim().is_empty(),
    );
    // Their volumes are unmounted and removed from the node.
    assert!(!pod_dir.exists(), "{} left behind", pod_dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&pod_dir.display().to_string()),
        "mounts left under {}",
        pod_dir.display()
    );
    kubectl.ok(&["delete", "configmap", "web-config", "late-config"]);
    kubectl.ok(&["delete", "secret", "vol-secret"]);
    kubectl.ok(&["delete", "pvc", "data"]);
    kubectl.ok(&["delete", "pv", "pv-data"]);
}
