//! `skiff snapshot save|restore` with the real binary: ~1,000 objects of 21 kinds made with
//! kubectl, a snapshot saved while the server runs (and a client keeps writing), restored
//! into a fresh SQLite data dir and into a fresh etcd, servers started on both, and every
//! object read back with kubectl equal to the original (uid, spec, status, data — all of
//! it but resourceVersion). The second test goes the other way, etcd → SQLite and etcd →
//! etcd, where the cluster's secrets travel in the snapshot's `/skiff/bootstrap` key.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::etcd::EtcdCluster;
use testkit::{Kubectl, Server};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

const LABEL: &str = "snapshot-test";
const CRD_PLURAL: &str = "widgets.snap.example.com";

/// What is compared: every kind the manifests make, by `kubectl get` name.
const KINDS: &[&str] = &[
    "namespaces",
    "configmaps",
    "secrets",
    "services",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "deployments",
    "statefulsets",
    "jobs",
    "cronjobs",
    "ingresses",
    "networkpolicies",
    "poddisruptionbudgets",
    "priorityclasses",
    "resourcequotas",
    "limitranges",
    "storageclasses",
    "persistentvolumes",
    "customresourcedefinitions",
    CRD_PLURAL,
];

fn meta(name: &str, ns: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": {LABEL: "1"}});
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

/// One List of everything but the custom resources (their CRD must be established first).
fn manifests(namespaces: usize) -> (Value, Value) {
    let mut items = Vec::new();
    let mut crs = Vec::new();
    for n in 0..namespaces {
        items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(&format!("snap-{n}"), None)}));
    }
    items.push(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": meta(CRD_PLURAL, None),
        "spec": {"group": "snap.example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}
    }));
    for i in 0..10 {
        items.push(
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": meta(&format!("snap-prio-{i}"), None), "value": 1000 + i,
            "description": format!("priority {i}")}),
        );
        items.push(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": meta(&format!("snap-sc-{i}"), None),
            "provisioner": "example.com/none", "reclaimPolicy": "Retain"}),
        );
    }
    for i in 0..20 {
        items.push(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": meta(&format!("snap-pv-{i}"), None),
            "spec": {"capacity": {"storage": format!("{}Gi", i + 1)},
                "accessModes": ["ReadWriteOnce"], "storageClassName": "snap-sc-0",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": format!("/tmp/skiff-snapshot-test-pv-{i}")}}}));
    }
    for n in 0..namespaces {
        let ns = format!("snap-{n}");
        let m = |name: String| meta(&name, Some(&ns));
        let app = |name: &str| json!({"matchLabels": {"app": name}});
        let template = |name: &str| {
            json!({"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}],
                "restartPolicy": "Never"}})
        };
        for i in 0..40 {
            items.push(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": m(format!("cm-{i}")),
                "data": {"index": i.to_string(), "text": "x".repeat(i * 10)}}),
            );
        }
        for i in 0..8 {
            items.push(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": m(format!("secret-{i}")),
                "type": "Opaque", "stringData": {"password": format!("hunter{i}")}}),
            );
            items.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": m(format!("sa-{i}"))}));
        }
        for i in 0..4 {
            items.push(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": m(format!("svc-{i}")),
                "spec": {"selector": {"app": format!("dep-{i}")},
                    "ports": [{"port": 80 + i, "targetPort": 8080}]}}),
            );
            items.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": m(format!("role-{i}")),
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}));
            items.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": m(format!("rb-{i}")),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("role-{i}")},
                "subjects": [{"kind": "ServiceAccount", "name": format!("sa-{i}"), "namespace": ns}]}));
            items.push(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": m(format!("np-{i}")),
                "spec": {"podSelector": app(&format!("dep-{i}")), "policyTypes": ["Ingress"],
                    "ingress": [{"ports": [{"port": 8080 + i}]}]}}),
            );
            items.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": m(format!("ing-{i}")),
                "spec": {"rules": [{"host": format!("h{i}.{ns}.example.com"), "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": format!("svc-{i}"), "port": {"number": 80 + i}}}}]}}]}}));
            items.push(
                json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": m(format!("pdb-{i}")),
                "spec": {"minAvailable": 1, "selector": app(&format!("dep-{i}"))}}),
            );
        }
        for i in 0..2 {
            let name = format!("dep-{i}");
            items.push(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": m(name.clone()),
                "spec": {"replicas": 1, "selector": app(&name), "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]}}}}),
            );
            let name = format!("sts-{i}");
            items.push(json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": m(name.clone()),
                "spec": {"replicas": 1, "serviceName": "svc-0", "selector": app(&name), "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]}}}}));
            let name = format!("job-{i}");
            items.push(
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": m(name.clone()),
                "spec": {"template": template(&name)}}),
            );
            items.push(json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": m(format!("cron-{i}")),
                "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": template("cron")}}}}));
        }
        items.push(
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": m("quota".into()),
            "spec": {"hard": {"configmaps": "500", "secrets": "500"}}}),
        );
        items.push(
            json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": m("limits".into()),
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}}),
        );
        for i in 0..8 {
            crs.push(
                json!({"apiVersion": "snap.example.com/v1", "kind": "Widget",
                "metadata": m(format!("widget-{i}")), "spec": {"size": i, "color": "blue"},
                "status": {"ready": true}}),
            );
        }
    }
    (
        json!({"apiVersion": "v1", "kind": "List", "items": items}),
        json!({"apiVersion": "v1", "kind": "List", "items": crs}),
    )
}

/// Every labelled object of every kind, keyed "kind/namespace/name", without the
/// resourceVersion (a restore gives objects new ones).
fn objects(k: &Kubectl) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for kind in KINDS {
        let text = k.ok(&["get", kind, "-A", "-l", &format!("{LABEL}=1"), "-o", "json"]);
        let list: Value = serde_json::from_str(&text).expect("kubectl JSON");
        for mut item in list["items"].as_array().cloned().unwrap_or_default() {
            let md = &mut item["metadata"];
            let key = format!(
                "{kind}/{}/{}",
                md["namespace"].as_str().unwrap_or(""),
                md["name"].as_str().unwrap_or("")
            );
            md.as_object_mut()
                .expect("metadata")
                .remove("resourceVersion");
            out.insert(key, item);
        }
    }
    out
}

fn create_all(k: &Kubectl, namespaces: usize) -> usize {
    let (main, crs) = manifests(namespaces);
    let n =
        main["items"].as_array().map_or(0, Vec::len) + crs["items"].as_array().map_or(0, Vec::len);
    k.ok_stdin(&["create", "-f", "-"], &main.to_string());
    k.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=30s",
        &format!("crd/{CRD_PLURAL}"),
    ]);
    k.ok_stdin(&["create", "-f", "-"], &crs.to_string());
    // The controllers' first round (ReplicaSets, pods, quota usage, job status) settles.
    std::thread::sleep(Duration::from_secs(5));
    n
}

fn skiff(args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("running skiff");
    assert!(
        out.status.success(),
        "skiff {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skiff_fails(args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("running skiff");
    assert!(!out.status.success(), "skiff {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A client writing ConfigMaps (unlabelled, so not compared) until dropped.
struct Churn {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Churn {
    fn start(kubeconfig: std::path::PathBuf) -> Churn {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0;
            while !s.load(Ordering::Relaxed) {
                i += 1;
                let _ = Command::new(testkit::kubectl_latest())
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args([
                        "create",
                        "configmap",
                        &format!("churn-{i}"),
                        "--from-literal=a=b",
                    ])
                    .output();
            }
            i
        });
        Churn {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

/// Objects as they were around the save, and the few a controller changed during it
/// (those are only checked by uid); the snapshot's revision.
struct Saved {
    stable: BTreeMap<String, Value>,
    moving: BTreeMap<String, Value>,
    revision: i64,
}

/// Saves while a client writes.
fn save_while_running(k: &Kubectl, kubeconfig: std::path::PathBuf, save_args: &[&str]) -> Saved {
    let before = objects(k);
    let churn = Churn::start(kubeconfig);
    std::thread::sleep(Duration::from_millis(300));
    let out = skiff(save_args);
    assert!(out.starts_with("saved "), "{out}");
    let revision: i64 = out
        .split(" at revision ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no revision in {out:?}"));
    let writes = churn.stop();
    assert!(writes > 0);
    let after = objects(k);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let (stable, moving): (BTreeMap<_, _>, BTreeMap<_, _>) = before
        .into_iter()
        .partition(|(key, v)| after.get(key) == Some(v));
    Saved {
        stable,
        moving,
        revision,
    }
}

fn assert_restored(what: &str, k: &Kubectl, saved: &Saved) {
    let (stable, moving) = (&saved.stable, &saved.moving);
    let restored = objects(k);
    assert_eq!(
        restored.len(),
        stable.len() + moving.len(),
        "{what}: object count"
    );
    let mut differ = Vec::new();
    for (key, want) in stable {
        if restored.get(key) != Some(want) {
            differ.push(format!(
                "{key}:\n  want {want}\n  got  {}",
                restored.get(key).map_or("nothing".into(), Value::to_string)
            ));
        }
    }
    for (key, want) in moving {
        let uid = |v: &Value| v["metadata"]["uid"].clone();
        if restored.get(key).map(uid) != Some(uid(want)) {
            differ.push(format!("{key}: uid differs or missing"));
        }
    }
    eprintln!(
        "{what}: {} objects compared whole, {} by uid",
        stable.len(),
        moving.len()
    );
    assert!(
        differ.is_empty(),
        "{what}: {} of {} objects differ:\n{}",
        differ.len(),
        restored.len(),
        differ[..differ.len().min(5)].join("\n")
    );
}

fn copy_identity(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("tls")).unwrap();
    for entry in std::fs::read_dir(from.join("tls")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("tls").join(entry.file_name())).unwrap();
    }
    std::fs::copy(from.join("token"), to.join("token")).unwrap();
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("skiff-test-")
        .tempdir()
        .unwrap()
}

/// Secrets encrypted at rest (aescbc), so the test also shows they stay encrypted in the
/// snapshot and decrypt on the restored servers.
const ENCRYPTION: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys: [{name: k1, secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}]
      - identity: {}
";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn sqlite_cluster_restored_into_sqlite_and_etcd() {
    let backups = temp_dir();
    let cfg = backups.path().join("encryption.yaml");
    std::fs::write(&cfg, ENCRYPTION).unwrap();
    let encryption = ["--encryption-provider-config", cfg.to_str().unwrap()];
    let source = Server::start_with(bin(), &encryption);
    let k = source.kubectl();
    let made = create_all(&k, 10);
    assert!(made >= 1000, "{made} objects");
    let file = backups.path().join("cluster.snap");
    let file_s = file.to_str().unwrap();
    let data_dir = source.data_dir().to_str().unwrap();
    let saved = save_while_running(
        &k,
        source.kubeconfig(),
        &["snapshot", "save", file_s, "--data-dir", data_dir],
    );
    assert!(
        saved.stable.len() >= made * 9 / 10,
        "{} of {made} objects changed during the save: {:?}",
        saved.moving.len(),
        saved.moving.keys().take(10).collect::<Vec<_>>()
    );
    // "hunter" in base64, as a Secret's data holds it; the snapshot has only ciphertext.
    let bytes = std::fs::read(&file).unwrap();
    assert!(!contains(&bytes, "aHVudGVy") && contains(&bytes, "k8s:enc:aescbc:v1:k1:"));

    // Into a new SQLite data dir, with the cluster's CA and token copied over.
    let dir = temp_dir();
    copy_identity(source.data_dir(), dir.path());
    let out = skiff(&[
        "snapshot",
        "restore",
        file_s,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.starts_with("restored "), "{out}");
    // A second restore into the same data dir is refused.
    let err = skiff_fails(&[
        "snapshot",
        "restore",
        file_s,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(err.contains("already holds"), "{err}");
    let restored = Server::start_in(bin(), dir, &encryption, false);
    assert_restored("SQLite → SQLite", &restored.kubectl(), &saved);
    // New writes get revisions above every one the old cluster handed out.
    let new_rv: i64 = restored
        .kubectl()
        .ok(&[
            "create",
            "configmap",
            "after-restore",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(new_rv > saved.revision, "{new_rv} <= {}", saved.revision);
    drop(restored);

    // Into a fresh etcd; a server on it with the original data dir's identity.
    let etcd = EtcdCluster::start(1);
    let endpoints = etcd.endpoints();
    let dir = temp_dir();
    let out = skiff(&[
        "snapshot",
        "restore",
        file_s,
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--datastore-endpoint",
        &endpoints,
    ]);
    assert!(out.starts_with("restored "), "{out}");
    copy_identity(source.data_dir(), dir.path());
    drop(source);
    let on_etcd = Server::start_in(
        bin(),
        dir,
        &[
            "--datastore-endpoint",
            &endpoints,
            encryption[0],
            encryption[1],
        ],
        false,
    );
    assert_restored("SQLite → etcd", &on_etcd.kubectl(), &saved);
}

#[test]
fn etcd_cluster_restored_into_sqlite_and_etcd() {
    let etcd = EtcdCluster::start(1);
    let endpoints = etcd.endpoints();
    let source = Server::start_with(bin(), &["--datastore-endpoint", &endpoints]);
    let k = source.kubectl();
    create_all(&k, 2);
    let backups = temp_dir();
    let file = backups.path().join("cluster.snap");
    let file_s = file.to_str().unwrap();
    let saved = save_while_running(
        &k,
        source.kubeconfig(),
        &[
            "snapshot",
            "save",
            file_s,
            "--datastore-endpoint",
            &endpoints,
        ],
    );

    // etcd → SQLite: the CA and token come from the old data dir.
    let dir = temp_dir();
    copy_identity(source.data_dir(), dir.path());
    skiff(&[
        "snapshot",
        "restore",
        file_s,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let restored = Server::start_in(bin(), dir, &[], false);
    assert_restored("etcd → SQLite", &restored.kubectl(), &saved);
    drop(restored);

    // etcd → a fresh etcd: only the token is given; the CA comes from /skiff/bootstrap.
    let target = EtcdCluster::start(1);
    let target_endpoints = target.endpoints();
    let dir = temp_dir();
    skiff(&[
        "snapshot",
        "restore",
        file_s,
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--datastore-endpoint",
        &target_endpoints,
    ]);
    let err = skiff_fails(&[
        "snapshot",
        "restore",
        file_s,
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--datastore-endpoint",
        &target_endpoints,
    ]);
    assert!(err.contains("not empty"), "{err}");
    std::fs::copy(source.data_dir().join("token"), dir.path().join("token")).unwrap();
    let ca = std::fs::read(source.data_dir().join("tls").join("ca.crt")).unwrap();
    drop(source);
    let on_etcd = Server::start_in(
        bin(),
        dir,
        &["--datastore-endpoint", &target_endpoints],
        false,
    );
    assert_eq!(
        std::fs::read(on_etcd.data_dir().join("tls").join("ca.crt")).unwrap(),
        ca,
        "the cluster CA did not come from the snapshot"
    );
    assert_restored("etcd → etcd", &on_etcd.kubectl(), &saved);
}
