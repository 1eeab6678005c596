//! PersistentVolumes and claims, driven by kubectl: the volume controller binds static
//! volumes and reclaims them by policy; the default StorageClass `local-path` and its
//! built-in provisioner serve claims that name no class, once the scheduler placed their
//! first consumer (simulated nodes); with a real node agent, a StatefulSet's data outlives
//! its pod and the directory goes when the claim does.
//!
//! The last test runs real containers: it needs root and the Debian packages containerd,
//! runc, containernetworking-plugins, umoci, skopeo and docker-registry.

use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server, Sim};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

fn wait_for(k: &Kubectl, what: &str, args: &[&str], want: &str) -> String {
    eventually(
        what,
        Duration::from_secs(30),
        || get(k, args),
        |o| o.trim() == want,
    )
}

fn claim(name: &str, class: Option<&str>, size: &str, extra: &str) -> String {
    let class = class.map_or(String::new(), |c| format!("  storageClassName: \"{c}\"\n"));
    format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: {size}}}}}\n{extra}---\n")
}

fn volume(name: &str, size: &str, policy: &str, extra: &str) -> String {
    format!("apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  capacity: {{storage: {size}}}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: {policy}\n  storageClassName: manual\n  hostPath: {{path: /tmp/skiff-test-{name}}}\n{extra}---\n")
}

fn events(k: &Kubectl, name: &str) -> String {
    get(
        k,
        &[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={name}"),
            "-o",
            "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
        ],
    )
}

#[test]
fn static_volumes_bind_and_are_reclaimed_by_policy() {
    let s = Server::start(bin());
    let k = s.kubectl();
    let manifests = [
        volume("pv-small", "1Gi", "Retain", ""),
        volume("pv-fit", "2Gi", "Retain", ""),
        volume("pv-big", "10Gi", "Retain", ""),
        volume(
            "pv-delete",
            "1Gi",
            "Delete",
            "  claimRef: {namespace: default, name: chosen}\n",
        ),
        claim("data", Some("manual"), "1500Mi", ""),
        claim("chosen", Some("manual"), "1Gi", ""),
    ]
    .concat();
    k.ok_stdin(&["create", "-f", "-"], &manifests);

    // The smallest volume that fits; the administrator's reservation is honoured.
    let phases = "jsonpath={.status.phase} {.spec.volumeName}";
    wait_for(
        &k,
        "data bound",
        &["get", "pvc", "data", "-o", phases],
        "Bound pv-fit",
    );
    wait_for(
        &k,
        "chosen bound",
        &["get", "pvc", "chosen", "-o", phases],
        "Bound pv-delete",
    );
    wait_for(
        &k,
        "pv-fit bound",
        &[
            "get",
            "pv",
            "pv-fit",
            "-o",
            "jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}",
        ],
        "Bound default/data",
    );
    let annotations = r#"jsonpath={.metadata.annotations.pv\.kubernetes\.io/bind-completed} {.metadata.annotations.pv\.kubernetes\.io/bound-by-controller} {.status.capacity.storage} {.status.accessModes}"#;
    assert_eq!(
        get(&k, &["get", "pvc", "data", "-o", annotations]),
        r#"yes yes 2Gi ["ReadWriteOnce"]"#
    );
    // A volume reserved by its claimRef was not bound by the controller.
    assert_eq!(
        get(
            &k,
            &[
                "get",
                "pv",
                "pv-delete",
                "-o",
                r#"jsonpath={.metadata.annotations.pv\.kubernetes\.io/bound-by-controller}"#
            ]
        ),
        ""
    );

    // kubectl's columns, as upstream prints them.
    let pvc = k.ok(&["get", "pvc", "data"]);
    let lines: Vec<&str> = pvc.lines().collect();
    let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[0]),
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );
    assert_eq!(
        cols(lines[1])[..7],
        ["data", "Bound", "pv-fit", "2Gi", "RWO", "manual", "<unset>"]
    );
    let pv = k.ok(&["get", "pv", "pv-fit"]);
    let lines: Vec<&str> = pv.lines().collect();
    assert_eq!(
        cols(lines[0]),
        [
            "NAME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "RECLAIM",
            "POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    assert_eq!(
        cols(lines[1])[..8],
        [
            "pv-fit",
            "2Gi",
            "RWO",
            "Retain",
            "Bound",
            "default/data",
            "manual",
            "<unset>"
        ]
    );
    wait_for(
        &k,
        "unused volumes available",
        &[
            "get",
            "pv",
            "pv-small",
            "pv-big",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ],
        "Available Available",
    );

    // Claims gone: Retain keeps the volume Released with its claimRef; a Delete nothing
    // here can carry out leaves the volume Failed, with upstream's words.
    k.ok(&["delete", "pvc", "data", "chosen"]);
    wait_for(
        &k,
        "pv-fit released",
        &[
            "get",
            "pv",
            "pv-fit",
            "-o",
            "jsonpath={.status.phase} {.spec.claimRef.name}",
        ],
        "Released data",
    );
    let changed = get(
        &k,
        &[
            "get",
            "pv",
            "pv-fit",
            "-o",
            "jsonpath={.status.lastPhaseTransitionTime}",
        ],
    );
    assert!(
        changed.starts_with("20") && changed.ends_with('Z'),
        "{changed}"
    );
    wait_for(
        &k,
        "pv-delete failed",
        &["get", "pv", "pv-delete", "-o", "jsonpath={.status.phase}"],
        "Failed",
    );
    assert_eq!(
        get(
            &k,
            &["get", "pv", "pv-delete", "-o", "jsonpath={.status.message}"]
        ),
        r#"error getting deleter volume plugin for volume "pv-delete": no deletable volume plugin matched"#
    );
    let said = eventually(
        "VolumeFailedDelete event",
        Duration::from_secs(10),
        || events(&k, "pv-delete"),
        |e| e.contains("VolumeFailedDelete"),
    );
    assert!(
        said.contains("no deletable volume plugin matched"),
        "{said}"
    );

    // A Released volume is not handed to a new claim of the same name...
    k.ok_stdin(
        &["create", "-f", "-"],
        &claim("data", Some("manual"), "1500Mi", ""),
    );
    wait_for(
        &k,
        "new data bound",
        &["get", "pvc", "data", "-o", phases],
        "Bound pv-big",
    );
    // ...until the administrator clears its claimRef, which makes it Available again.
    k.ok(&[
        "patch",
        "pv",
        "pv-fit",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/claimRef"}]"#,
    ]);
    wait_for(
        &k,
        "pv-fit available",
        &["get", "pv", "pv-fit", "-o", "jsonpath={.status.phase}"],
        "Available",
    );

    k.ok(&["delete", "pvc", "--all"]);
    k.ok(&["delete", "pv", "--all"]);
}

#[test]
fn local_path_provisions_for_the_first_consumer_and_deletes_with_the_claim() {
    let s = Server::start_with(bin(), &["--local-storage-path", "/srv/skiff-volumes"]);
    let k = s.kubectl();
    let mut sim = Sim::start(&s, 1, &[]);
    eventually(
        "a Ready node",
        Duration::from_secs(30),
        || get(&k, &["get", "nodes", "--no-headers"]),
        |o| o.contains(" Ready "),
    );

    // The default class, as k3s ships it.
    let classes = k.ok(&["get", "storageclass"]);
    let row: Vec<&str> = classes
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..6],
        [
            "local-path",
            "(default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            "false"
        ],
        "{classes}"
    );

    // A claim without a class gets the default one, and waits for its first consumer.
    k.ok_stdin(&["create", "-f", "-"], &claim("data", None, "3Gi", ""));
    assert_eq!(
        get(
            &k,
            &[
                "get",
                "pvc",
                "data",
                "-o",
                "jsonpath={.spec.storageClassName}"
            ]
        ),
        "local-path"
    );
    // An explicit "" means no class at all.
    k.ok_stdin(
        &["create", "-f", "-"],
        &claim("classless", Some(""), "1Gi", ""),
    );
    assert_eq!(
        get(
            &k,
            &[
                "get",
                "pvc",
                "classless",
                "-o",
                "jsonpath={.spec.storageClassName}"
            ]
        ),
        ""
    );
    let said = eventually(
        "WaitForFirstConsumer event",
        Duration::from_secs(15),
        || events(&k, "data"),
        |e| !e.is_empty(),
    );
    assert_eq!(
        said.trim(),
        "WaitForFirstConsumer: waiting for first consumer to be created before binding"
    );
    let describe = k.ok(&["describe", "pvc", "data"]);
    assert!(
        describe.contains("waiting for first consumer to be created before binding"),
        "{describe}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        get(
            &k,
            &["get", "pvc", "data", "-o", "jsonpath={.status.phase}"]
        ),
        "Pending"
    );
    assert_eq!(get(&k, &["get", "pv", "-o", "name"]), "");

    // Its consumer lands on sim-0: a volume is made there for it, and they bind.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: user}\nspec:\n  containers:\n  - {name: c, image: busybox}\n  volumes:\n  - name: data\n    persistentVolumeClaim: {claimName: data}\n",
    );
    let uid = get(
        &k,
        &["get", "pvc", "data", "-o", "jsonpath={.metadata.uid}"],
    );
    let pv_name = format!("pvc-{uid}");
    wait_for(
        &k,
        "data bound",
        &[
            "get",
            "pvc",
            "data",
            "-o",
            "jsonpath={.status.phase} {.spec.volumeName}",
        ],
        &format!("Bound {pv_name}"),
    );
    assert_eq!(
        get(
            &k,
            &["get", "pod", "user", "-o", "jsonpath={.spec.nodeName}"]
        ),
        "sim-0"
    );
    let pv = get(
        &k,
        &[
            "get",
            "pv",
            &pv_name,
            "-o",
            r#"jsonpath={.spec.hostPath.path} {.spec.hostPath.type} {.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].key}={.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]} {.spec.capacity.storage} {.spec.persistentVolumeReclaimPolicy} {.spec.storageClassName} {.metadata.annotations.pv\.kubernetes\.io/provisioned-by} {.metadata.finalizers}"#,
        ],
    );
    assert_eq!(
        pv,
        format!("/srv/skiff-volumes/pvc-{uid}_default_data DirectoryOrCreate kubernetes.io/hostname=sim-0 3Gi Delete local-path rancher.io/local-path [\"external-provisioner.volume.kubernetes.io/finalizer\",\"kubernetes.io/pv-protection\"]")
    );
    let said = eventually(
        "provisioning events",
        Duration::from_secs(10),
        || events(&k, "data"),
        |e| e.contains("ProvisioningSucceeded"),
    );
    for want in [
        "ExternalProvisioning: Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path' or manually by the system administrator.",
        "Provisioning: External provisioner is provisioning volume for claim \"default/data\"",
        &format!("ProvisioningSucceeded: Successfully provisioned volume {pv_name}"),
    ] {
        assert!(said.contains(want), "missing {want:?} in\n{said}");
    }
    let classless = get(
        &k,
        &["get", "pvc", "classless", "-o", "jsonpath={.status.phase}"],
    );
    assert_eq!(classless, "Pending");
    let said = eventually(
        "classless event",
        Duration::from_secs(10),
        || events(&k, "classless"),
        |e| !e.is_empty(),
    );
    assert_eq!(
        said.trim(),
        "FailedBinding: no persistent volumes available for this claim and no storage class is set"
    );

    // The claim is deleted while its pod uses it: protection keeps it (and its volume
    // Bound) until the pod is gone.
    assert!(
        describe
            .lines()
            .any(|l| l.starts_with("Finalizers:") && l.ends_with("[kubernetes.io/pvc-protection]")),
        "{describe}"
    );
    k.ok(&["delete", "pvc", "data", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(2));
    let row = k.ok(&["get", "pvc", "data", "--no-headers"]);
    assert!(row.contains(" Terminating "), "{row}");
    assert_eq!(
        get(
            &k,
            &["get", "pv", &pv_name, "-o", "jsonpath={.status.phase}"]
        ),
        "Bound"
    );

    // The pod goes, then the claim: the volume is Released and deleted, but its finalizer
    // holds it until its node has removed the directory. A simulated node has no agent to
    // do that...
    k.ok(&["delete", "pod", "user", "--wait=false"]);
    eventually(
        "volume released and being deleted",
        Duration::from_secs(30),
        || {
            get(
                &k,
                &[
                    "get",
                    "pv",
                    &pv_name,
                    "-o",
                    "jsonpath={.status.phase} {.metadata.deletionTimestamp}",
                ],
            )
        },
        |o| o.starts_with("Released 20"),
    );
    let row = k.ok(&["get", "pv", &pv_name, "--no-headers"]);
    assert!(row.contains(" Terminating "), "{row}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(k.ok(&["get", "pv", "-o", "name"]).contains(&pv_name));
    // ...and once the node itself is gone, nobody is left to clean up: the volume goes.
    sim.kill();
    k.ok(&["delete", "node", "sim-0"]);
    eventually(
        "volume gone with its node",
        Duration::from_secs(30),
        || get(&k, &["get", "pv", "-o", "name"]),
        |o| o.is_empty(),
    );
    k.ok(&["delete", "pvc", "--all"]);
}

/// Real containers through the server's own node agent: a StatefulSet's claim from its
/// volumeClaimTemplate gets a local-path volume; what its container wrote is there for the
/// pod that replaces it and for another pod using the claim later; deleting the claim
/// removes the directory from the node.
#[test]
fn statefulset_data_outlives_its_pod() {
    use testkit::node::NodeHost;
    let mut host = NodeHost::new();
    let storage = tempfile::tempdir().expect("storage dir");
    let root = storage.path().display().to_string();
    let node = format!("pv-e2e-{}", std::process::id());
    // Only the memory threshold: a busy test machine's disk must not taint the node.
    let server = host.server_with_agent(
        bin(),
        &node,
        &[
            "--local-storage-path",
            &root,
            "--eviction-hard",
            "memory.available<1Ki",
        ],
    );
    let k = server.kubectl();
    let image = host.image();
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: '{image}'
        command: [/skiff-testimage, write, /data/hello, written-by-db, --then-sleep, '3600']
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 64Mi}}}}
"
        ),
    );
    let running = |not: &str| {
        eventually(
            "db-0 running",
            Duration::from_secs(120),
            || {
                get(
                    &k,
                    &[
                        "get",
                        "pod",
                        "db-0",
                        "-o",
                        "jsonpath={.status.phase} {.metadata.uid}",
                    ],
                )
            },
            |o| o.starts_with("Running ") && o != not,
        )
    };
    let first = running("");
    let claim = "jsonpath={.metadata.uid} {.spec.volumeName} {.spec.storageClassName}";
    let bound = get(&k, &["get", "pvc", "data-db-0", "-o", claim]);
    let uid = bound.split(' ').next().unwrap_or("").to_string();
    assert_eq!(bound, format!("{uid} pvc-{uid} local-path"));
    // The node agent made the directory; the container wrote into it.
    let dir = storage.path().join(format!("pvc-{uid}_default_data-db-0"));
    let file = dir.join("hello");
    eventually(
        "the file on the node",
        Duration::from_secs(30),
        || std::fs::read_to_string(&file).unwrap_or_default(),
        |t| t == "written-by-db",
    );

    // The pod is replaced: same claim, same volume.
    k.ok(&["delete", "pod", "db-0"]);
    running(&first);
    assert_eq!(get(&k, &["get", "pvc", "data-db-0", "-o", claim]), bound);

    // The set scales to zero (its claim stays); another pod reads what was written.
    k.ok(&["scale", "statefulset", "db", "--replicas=0"]);
    eventually(
        "db-0 gone",
        Duration::from_secs(60),
        || get(&k, &["get", "pods", "-o", "name"]),
        |o| o.is_empty(),
    );
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: reader}}
spec:
  restartPolicy: Never
  containers:
  - {{name: c, image: '{image}', command: [/skiff-testimage, cat, /data/hello], volumeMounts: [{{name: data, mountPath: /data}}]}}
  volumes:
  - {{name: data, persistentVolumeClaim: {{claimName: data-db-0}}}}
"
        ),
    );
    wait_for(
        &k,
        "reader done",
        &["get", "pod", "reader", "-o", "jsonpath={.status.phase}"],
        "Succeeded",
    );
    // What the reader printed: the file the first pod wrote.
    assert_eq!(k.ok(&["logs", "reader"]), "written-by-db");
    assert_eq!(
        get(
            &k,
            &["get", "pod", "reader", "-o", "jsonpath={.spec.nodeName}"]
        ),
        node
    );

    // The claim is deleted while a pod still uses it: it stays (pvc-protection), its volume
    // stays Bound and its directory on the node; once the pod is gone, all three go.
    k.ok(&["delete", "pod", "reader"]);
    k.ok(&["delete", "statefulset", "db"]);
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: holder}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: '{image}', command: [/skiff-testimage, sleep, '3600'], volumeMounts: [{{name: data, mountPath: /data}}]}}
  volumes:
  - {{name: data, persistentVolumeClaim: {{claimName: data-db-0}}}}
"
        ),
    );
    wait_for(
        &k,
        "holder running",
        &["get", "pod", "holder", "-o", "jsonpath={.status.phase}"],
        "Running",
    );
    k.ok(&["delete", "pvc", "data-db-0", "--wait=false"]);
    let pv = format!("pvc-{uid}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        get(
            &k,
            &[
                "get",
                "pvc",
                "data-db-0",
                "-o",
                "jsonpath={.metadata.finalizers}"
            ]
        ),
        r#"["kubernetes.io/pvc-protection"]"#
    );
    assert_eq!(
        get(&k, &["get", "pv", &pv, "-o", "jsonpath={.status.phase}"]),
        "Bound"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "written-by-db"
    );
    k.ok(&["delete", "pod", "holder"]);
    eventually(
        "volume gone",
        Duration::from_secs(60),
        || get(&k, &["get", "pv", "-o", "name"]),
        |o| o.is_empty(),
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}
