//! `--encryption-provider-config`: Secrets written before encryption stay readable through
//! identity, new ones are stored encrypted (the raw SQLite files hold no plaintext) and read
//! back through kubectl, `kubectl replace` re-encrypts everything after a key rotation, a
//! value no configured key fits is a clear error, and a bad config file keeps the server
//! from starting.

use std::path::Path;
use std::process::Command;

use testkit::Server;

/// A value no other part of the cluster would write.
const PASSWORD: &str = "correct-horse-battery-staple-4711";
/// `PASSWORD` as a Secret's `data` holds it.
const PASSWORD_B64: &str = "Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5LXN0YXBsZS00NzEx";
const CM_VALUE: &str = "plain-configmap-value-0815";
const KEY1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const KEY3: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

fn config(keys: &[(&str, &str)]) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|(name, secret)| format!("{{name: {name}, secret: \"{secret}\"}}"))
        .collect();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys: [{}]
      - identity: {{}}
",
        keys.join(", ")
    )
}

/// The database file and its write-ahead log, as bytes.
fn raw_store(server: &Server) -> Vec<u8> {
    let db = server.data_dir().join("db");
    let mut bytes = std::fs::read(db.join("state.db")).expect("read state.db");
    bytes.extend(std::fs::read(db.join("state.db-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The latest stored value of every Secret, read straight from the (stopped) server's
/// database: the encryption prefix each one starts with.
fn stored_secret_prefixes(data_dir: &Path) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = store::SqliteStore::open(&data_dir.join("db").join("state.db"))
            .await
            .expect("open store");
        let list = store::Store::list(store.as_ref(), "/registry/secrets/", Default::default())
            .await
            .expect("list secrets");
        list.kvs
            .iter()
            .map(|kv| {
                let v = String::from_utf8_lossy(&kv.value);
                let prefix: String = v.split_inclusive(':').take(5).collect();
                format!("{} {prefix}", kv.key)
            })
            .collect()
    })
}

#[test]
fn secrets_are_encrypted_at_rest_and_keys_rotate() {
    let cfg_dir = tempfile::tempdir().expect("tempdir");
    let cfg = cfg_dir.path().join("encryption.yaml");
    // First nothing is encrypted: a Secret written now is stored plain.
    std::fs::write(
        &cfg,
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers: [{identity: {}}]
",
    )
    .expect("write config");
    let cfg_arg = cfg.to_str().expect("utf-8 path");
    let mut server = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--encryption-provider-config", cfg_arg],
    );
    server.kubectl().ok(&[
        "create",
        "secret",
        "generic",
        "s0",
        "--from-literal=old=written-plain",
    ]);
    assert!(contains(&raw_store(&server), "d3JpdHRlbi1wbGFpbg=="));

    // Encryption turned on (identity kept second): the plain Secret stays readable.
    std::fs::write(&cfg, config(&[("key1", KEY1)])).expect("write config");
    server.restart();
    let k = server.kubectl();
    assert_eq!(
        k.ok(&["get", "secret", "s0", "-o", "jsonpath={.data.old}"]),
        "d3JpdHRlbi1wbGFpbg=="
    );
    k.ok(&[
        "create",
        "secret",
        "generic",
        "s1",
        &format!("--from-literal=password={PASSWORD}"),
    ]);
    k.ok(&[
        "create",
        "configmap",
        "c1",
        &format!("--from-literal=k={CM_VALUE}"),
    ]);

    // Written encrypted with the first key; ConfigMaps are not configured and stay plain.
    let raw = raw_store(&server);
    assert!(!contains(&raw, PASSWORD), "plaintext secret in the store");
    assert!(!contains(&raw, PASSWORD_B64), "base64 secret in the store");
    assert!(contains(&raw, "k8s:enc:aescbc:v1:key1:"));
    assert!(contains(&raw, CM_VALUE), "configmap should be stored plain");

    let read =
        |k: &testkit::Kubectl| k.ok(&["get", "secret", "s1", "-o", "jsonpath={.data.password}"]);
    assert_eq!(read(&k), PASSWORD_B64);
    // Lists come from the watch cache, which decrypted the store's event.
    let listed = k.ok(&["get", "secrets", "-A", "-o", "json"]);
    assert!(listed.contains(PASSWORD_B64), "{listed}");

    // Rotation: the new key first, the old one still there for reading.
    std::fs::write(&cfg, config(&[("key2", KEY2), ("key1", KEY1)])).expect("write config");
    server.restart();
    let k = server.kubectl();
    assert_eq!(read(&k), PASSWORD_B64);
    let all = k.ok(&["get", "secrets", "-A", "-o", "json"]);
    k.ok_stdin(&["replace", "-f", "-"], &all);
    assert_eq!(read(&k), PASSWORD_B64);
    assert!(contains(&raw_store(&server), "k8s:enc:aescbc:v1:key2:"));
    server.terminate();
    let prefixes = stored_secret_prefixes(server.data_dir());
    assert!(
        prefixes
            .iter()
            .any(|p| p.starts_with("/registry/secrets/default/s1 ")),
        "{prefixes:?}"
    );
    for p in &prefixes {
        assert!(p.ends_with(" k8s:enc:aescbc:v1:key2:"), "{prefixes:?}");
    }

    // Only a key the data was not written with: a clear error naming the key, not garbage.
    std::fs::write(&cfg, config(&[("key3", KEY3)])).expect("write config");
    server.restart();
    let k = server.kubectl();
    let err = k.fails(&["get", "secret", "s1"]);
    assert!(err.contains("InternalError"), "{err}");
    assert!(
        err.contains("unable to transform key \"/registry/secrets/default/s1\"")
            && err.contains("aescbc v1 key \"key2\""),
        "{err}"
    );
    assert_eq!(
        k.ok(&["get", "configmap", "c1", "-o", "jsonpath={.data.k}"]),
        CM_VALUE
    );
    // FIXME: upstream fails the whole list with the same error; skiff's watch cache leaves
    // the unreadable Secret out (and logs it), so the list succeeds without it.
    let names = k.ok(&["get", "secrets", "-o", "name"]);
    assert!(!names.contains("secret/s1"), "{names}");
    assert!(
        server.log_text().contains("listed object left out"),
        "the left-out Secret is logged"
    );
}

#[test]
fn bad_config_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc: {keys: [{name: key1, secret: c2hvcnQ=}]}
      - kms: {name: vault, endpoint: unix:///tmp/kms.sock}
",
    )
    .expect("write config");
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
        .args(["--https-listen-port", &testkit::free_port().to_string()])
        .arg("--data-dir")
        .arg(&data)
        .arg("--encryption-provider-config")
        .arg(&cfg)
        .output()
        .expect("run skiff");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains(&format!("encryption provider config {}", cfg.display())),
        "{err}"
    );
    assert!(
        err.contains("resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 5, expected one of [16, 24, 32]"),
        "{err}"
    );
    assert!(err.contains("kms providers are not supported"), "{err}");
    assert!(!data.join("db").join("state.db").exists(), "store opened");
    assert!(
        !data.join("admin.kubeconfig").exists(),
        "kubeconfig written"
    );
}

/// Everything encrypted (`*.*` with aesgcm, ConfigMaps with secretbox): the server's own
/// bootstrap, its controllers and a restart all work through the encrypted store.
#[test]
fn whole_store_encrypted() {
    let cfg_dir = tempfile::tempdir().expect("tempdir");
    let cfg = cfg_dir.path().join("encryption.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                "resources": [
                  {{"resources": ["configmaps"], "providers": [{{"secretbox": {{"keys": [{{"name": "box", "secret": "{KEY2}"}}]}}}}]}},
                  {{"resources": ["*.*"], "providers": [{{"aesgcm": {{"keys": [{{"name": "gcm", "secret": "{KEY1}"}}]}}}}]}}
                ]}}"#
        ),
    )
    .expect("write config");
    let cfg_arg = cfg.to_str().expect("utf-8 path");
    let mut server = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &["--encryption-provider-config", cfg_arg],
    );
    let k = server.kubectl();
    k.ok(&[
        "create",
        "configmap",
        "c1",
        &format!("--from-literal=k={CM_VALUE}"),
    ]);
    let image = "registry.invalid/encrypted-at-rest-image:4711";
    k.ok(&["create", "deployment", "web", "--image", image]);
    // The deployment controller reads and writes through the API as usual.
    testkit::eventually(
        "the deployment's replicaset",
        std::time::Duration::from_secs(20),
        || k.ok(&["get", "replicasets", "-o", "name"]),
        |out| out.contains("replicaset.apps/web-"),
    );

    let raw = raw_store(&server);
    assert!(
        !contains(&raw, CM_VALUE),
        "plaintext configmap in the store"
    );
    assert!(!contains(&raw, image), "plaintext deployment in the store");
    assert!(contains(&raw, "k8s:enc:secretbox:v1:box:"));
    assert!(contains(&raw, "k8s:enc:aesgcm:v1:gcm:"));

    server.restart();
    let k = server.kubectl();
    assert_eq!(
        k.ok(&["get", "configmap", "c1", "-o", "jsonpath={.data.k}"]),
        CM_VALUE
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        image
    );
    let roles = k.ok(&["get", "clusterrole", "cluster-admin", "-o", "name"]);
    assert_eq!(
        roles.trim(),
        "clusterrole.rbac.authorization.k8s.io/cluster-admin"
    );
}

/// On etcd: `etcdctl` sees only ciphertext under the upstream key, kubectl the value, and a
/// second server on the same etcd, started with the first one's token and no config of its
/// own, reads the Secret with the encryption config it got from the datastore.
#[test]
fn secrets_encrypted_in_etcd() {
    let etcd = testkit::etcd::EtcdCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("encryption.yaml");
    std::fs::write(&cfg, config(&[("key1", KEY1)])).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_skiff"));
    let endpoints = etcd.endpoints();
    let a = Server::start_with(
        bin,
        &[
            "--datastore-endpoint",
            &endpoints,
            "--encryption-provider-config",
            cfg.to_str().unwrap(),
        ],
    );
    let k = a.kubectl();
    k.ok(&[
        "create",
        "secret",
        "generic",
        "s1",
        &format!("--from-literal=password={PASSWORD}"),
    ]);
    let out = etcd.etcdctl(&["get", "/registry/secrets/default/s1", "--print-value-only"]);
    assert!(out.status.success());
    assert!(
        out.stdout.starts_with(b"k8s:enc:aescbc:v1:key1:"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!contains(&out.stdout, PASSWORD) && !contains(&out.stdout, PASSWORD_B64));
    assert_eq!(
        k.ok(&["get", "secret", "s1", "-o", "jsonpath={.data.password}"]),
        PASSWORD_B64
    );

    let token = std::fs::read_to_string(a.data_dir().join("token")).unwrap();
    let b = Server::start_with(
        bin,
        &["--datastore-endpoint", &endpoints, "--token", token.trim()],
    );
    assert_eq!(
        b.kubectl()
            .ok(&["get", "secret", "s1", "-o", "jsonpath={.data.password}"]),
        PASSWORD_B64
    );
    b.kubectl().ok(&[
        "create",
        "secret",
        "generic",
        "s2",
        &format!("--from-literal=password={PASSWORD}"),
    ]);
    let out = etcd.etcdctl(&["get", "/registry/secrets/default/s2", "--print-value-only"]);
    assert!(out.stdout.starts_with(b"k8s:enc:aescbc:v1:key1:"));
}
