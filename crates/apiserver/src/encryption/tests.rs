use base64::Engine;
use expect_test::{expect, Expect};

use super::config::parse;
use super::providers::{Key, Kind};
use super::transform::{Step, Transformers};

const K32: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32
const K32B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="; // bytes 32..64
const K16: &str = "AAECAwQFBgcICQoLDA0ODw=="; // bytes 0..16
const K24: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"; // bytes 0..24

fn routes(t: &Transformers) -> String {
    t.routes
        .iter()
        .map(|r| {
            let steps: Vec<String> = r
                .chain
                .steps
                .iter()
                .map(|s| match s {
                    Step::Identity => "identity".to_string(),
                    Step::Key(k) => format!("{}:{}", k.kind.name(), k.name),
                })
                .collect();
            format!(
                "{} -> {}\n",
                r.prefix.as_deref().unwrap_or("(every key)"),
                steps.join(", ")
            )
        })
        .collect()
}

fn check_config(yaml: &str, expect: Expect) {
    let yaml = yaml
        .replace("$K32B", K32B)
        .replace("$K32", K32)
        .replace("$K16", K16);
    let out = match parse(&yaml) {
        Ok(t) => routes(&t),
        Err(e) => e.0.iter().map(|l| format!("{l}\n")).collect(),
    };
    expect.assert_eq(&out);
}

const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";

#[test]
fn config_valid() {
    check_config(
        &format!(
            "{HEAD}resources:
- resources: [secrets, services, nodes, deployments.apps, widgets.example.com]
  providers:
  - aescbc: {{keys: [{{name: key1, secret: $K32}}, {{name: old, secret: $K16}}]}}
  - identity: {{}}
- resources: ['*.apps', '*.example.com']
  providers:
  - secretbox: {{keys: [{{name: k, secret: $K32B}}]}}
- resources: ['*.*']
  providers:
  - aesgcm: {{keys: [{{name: key1, secret: $K16}}]}}
"
        ),
        expect![[r#"
            /registry/secrets/ -> aescbc:key1, aescbc:old, identity
            /registry/services/specs/ -> aescbc:key1, aescbc:old, identity
            /registry/minions/ -> aescbc:key1, aescbc:old, identity
            /registry/deployments/ -> aescbc:key1, aescbc:old, identity
            /registry/example.com/widgets/ -> aescbc:key1, aescbc:old, identity
            /registry/apps/ -> secretbox:k
            /registry/controllerrevisions/ -> secretbox:k
            /registry/daemonsets/ -> secretbox:k
            /registry/deployments/ -> secretbox:k
            /registry/replicasets/ -> secretbox:k
            /registry/statefulsets/ -> secretbox:k
            /registry/example.com/ -> secretbox:k
            (every key) -> aesgcm:key1
        "#]],
    );
    // JSON is YAML too; the core group's wildcard.
    check_config(
        r#"{"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration",
            "resources":[{"resources":["configmaps"],"providers":[{"identity":{}}]},
                         {"resources":["*."],"providers":[{"aesgcm":{"keys":[{"name":"a","secret":"$K32"}]}}]}]}"#,
        expect![[r#"
            /registry/configmaps/ -> identity
            /registry/configmaps/ -> aesgcm:a
            /registry/controllers/ -> aesgcm:a
            /registry/events/ -> aesgcm:a
            /registry/limitranges/ -> aesgcm:a
            /registry/minions/ -> aesgcm:a
            /registry/namespaces/ -> aesgcm:a
            /registry/persistentvolumeclaims/ -> aesgcm:a
            /registry/persistentvolumes/ -> aesgcm:a
            /registry/pods/ -> aesgcm:a
            /registry/podtemplates/ -> aesgcm:a
            /registry/resourcequotas/ -> aesgcm:a
            /registry/secrets/ -> aesgcm:a
            /registry/serviceaccounts/ -> aesgcm:a
            /registry/services/endpoints/ -> aesgcm:a
            /registry/services/specs/ -> aesgcm:a
        "#]],
    );
}

#[test]
fn config_errors() {
    check_config(
        "apiVersion: v1\nkind: EncryptionConfig\nresources: []\n",
        expect![[r#"
            apiVersion/kind "v1"/"EncryptionConfig": expected apiserver.config.k8s.io/v1 EncryptionConfiguration
            resources: Required value: at least one resources is required
        "#]],
    );
    check_config(
        &format!(
            "{HEAD}resources:
- resources: []
  providers: []
- resources: [Secrets, '*', 'foo*.apps', '*.extensions', '*.events.k8s.io', bindings]
  providers:
  - aescbc: {{keys: [{{name: key1, secret: 'not base64!'}}, {{name: key1, secret: c2hvcnQ=}}, {{name: '', secret: ''}}]}}
  - secretbox: {{keys: [{{name: k, secret: $K16}}]}}
  - aesgcm: {{keys: []}}
  - kms: {{name: vault, endpoint: unix:///tmp/kms.sock}}
  - {{identity: {{}}, aescbc: {{keys: [{{name: x, secret: $K32}}]}}}}
  - {{}}
"
        ),
        expect![[r#"
            resources[0].providers: Required value: at least one resources[0].providers is required
            resources[0].resources: Required value: at least one resources[0].resources is required
            resources[1].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secrets must be base64 encoded
            resources[1].providers[0].aescbc.keys[1].name: Duplicate value: "key1": key names must be unique within a provider
            resources[1].providers[0].aescbc.keys[1].secret: Invalid value: "REDACTED": secret is not of the expected length, got 5, expected one of [16, 24, 32]
            resources[1].providers[0].aescbc.keys[2].name: Required value: name is a mandatory field for a key
            resources[1].providers[0].aescbc.keys[2].secret: Required value: secret is a mandatory field for a key
            resources[1].providers[1].secretbox.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 16, expected one of [32]
            resources[1].providers[2].aesgcm.keys: Required value: at least one keys is required
            resources[1].providers[3].kms: Unsupported value: kms providers are not supported by skiff; use aescbc, aesgcm, secretbox or identity
            resources[1].providers[4]: Invalid value: more than one provider specified in a single element, should split into different list elements
            resources[1].providers[5]: Invalid value: provider does not contain any of the expected providers: aescbc, aesgcm, secretbox, identity
            resources[1].resources[0]: Invalid value: "Secrets": resource name should not contain capital letters
            resources[1].resources[1]: Invalid value: "*": use '*.' to encrypt all the resources from the core API group or '*.*' to encrypt all resources
            resources[1].resources[2]: Invalid value: "foo*.apps": '*' may only stand for the whole resource part ('*.group')
            resources[1].resources[3]: Invalid value: "*.extensions": 'extensions' group has been removed and cannot be used for encryption
            resources[1].resources[4]: Invalid value: "*.events.k8s.io": '*.events.k8s.io' objects are stored as core 'events'; list 'events' instead
            resources[1].resources[5]: Invalid value: "bindings": resources which are never stored cannot be encrypted
        "#]],
    );
    // Duplicates across entries and overlaps within one.
    check_config(
        &format!(
            "{HEAD}resources:
- resources: [secrets]
  providers: [{{identity: {{}}}}]
- resources: [secrets, '*.apps', deployments.apps]
  providers: [{{identity: {{}}}}]
"
        ),
        expect![[r#"
            resources[1].resources[0]: Duplicate value: "secrets": already listed at resources[0].resources[0]
            resources[1].resources[2]: Invalid value: "deployments.apps": overlaps resources[1].resources[1] in the same resource list; such overlapping names are masked and not allowed
        "#]],
    );
    // Unknown providers and fields are refused by name and position.
    check_config(
        &format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - aesxyz: {{}}\n"),
        expect![[r#"
            resources[0].providers[0]: unknown field `aesxyz`, expected one of `aescbc`, `aesgcm`, `secretbox`, `identity`, `kms` at line 6 column 5
        "#]],
    );
    check_config(
        "resources: [valid",
        expect![[r#"
            resources[0]: invalid type: string "valid", expected struct Entry at line 1 column 13
        "#]],
    );
}

fn key(kind: Kind, name: &str, b64: &str) -> Key {
    let secret = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Key::new(kind, name, secret)
}

/// Each provider and key size: the stored layout, and the round trip.
#[test]
fn providers_round_trip() {
    let plain = br#"{"kind":"Secret"}"#;
    let storage_key = "/registry/secrets/default/s1";
    let mut out = String::new();
    for (kind, secret) in [
        (Kind::AesCbc, K16),
        (Kind::AesCbc, K24),
        (Kind::AesCbc, K32),
        (Kind::AesGcm, K16),
        (Kind::AesGcm, K24),
        (Kind::AesGcm, K32),
        (Kind::Secretbox, K32),
    ] {
        let k = key(kind, "key1", secret);
        let sealed = k.encrypt(storage_key, plain).unwrap();
        let again = k.encrypt(storage_key, plain).unwrap();
        let body = sealed.strip_prefix(k.prefix.as_slice()).unwrap();
        let opened = k.decrypt(storage_key, body).unwrap();
        let elsewhere = k.decrypt("/registry/secrets/default/s2", body);
        out += &format!(
            "{} key {}: prefix {:?}, {} bytes after it, random each time: {}, round trip: {}, under another key: {:?}\n",
            kind.name(),
            secret.len() * 3 / 4 - secret.matches('=').count(),
            String::from_utf8_lossy(&k.prefix),
            body.len(),
            sealed != again,
            opened == plain,
            elsewhere.map(|p| p == plain),
        );
    }
    expect![[r#"
        aescbc key 16: prefix "k8s:enc:aescbc:v1:key1:", 48 bytes after it, random each time: true, round trip: true, under another key: Ok(true)
        aescbc key 24: prefix "k8s:enc:aescbc:v1:key1:", 48 bytes after it, random each time: true, round trip: true, under another key: Ok(true)
        aescbc key 32: prefix "k8s:enc:aescbc:v1:key1:", 48 bytes after it, random each time: true, round trip: true, under another key: Ok(true)
        aesgcm key 16: prefix "k8s:enc:aesgcm:v1:key1:", 45 bytes after it, random each time: true, round trip: true, under another key: Err(Unauthenticated)
        aesgcm key 24: prefix "k8s:enc:aesgcm:v1:key1:", 45 bytes after it, random each time: true, round trip: true, under another key: Err(Unauthenticated)
        aesgcm key 32: prefix "k8s:enc:aesgcm:v1:key1:", 45 bytes after it, random each time: true, round trip: true, under another key: Err(Unauthenticated)
        secretbox key 32: prefix "k8s:enc:secretbox:v1:key1:", 57 bytes after it, random each time: true, round trip: true, under another key: Ok(true)
    "#]]
    .assert_eq(&out);
}

const AESCBC_VECTOR: &str = "azhzOmVuYzphZXNjYmM6djE6a2V5MTqgoaKjpKWmp6ipqqusra6v2lToger65o80qi3bAOVrUkPNeQPkKPeOAAzY1SbZz/4FxDxjn/ewG3XFX4U7Qk3k";

/// Values made outside skiff (`testdata/make_vectors.py`: OpenSSL through Python's
/// `cryptography` for AES, libsodium for secretbox) in upstream's stored layout decrypt.
#[test]
fn decrypts_values_made_elsewhere() {
    let vectors = [
        ("aescbc", AESCBC_VECTOR),
        ("aesgcm", "azhzOmVuYzphZXNnY206djE6a2V5MTqwsbKztLW2t7i5urvidzHCgqmZZWWr8sG/OPzgqB4ts2FPrQ8l7OnTZqCWe0M4R20244TF2Jymnjq2EkRh1pi3rvGHRV4="),
        ("secretbox", "azhzOmVuYzpzZWNyZXRib3g6djE6a2V5MTrAwcLDxMXGx8jJysvMzc7P0NHS09TV1tf6V/aEv0C9GhPdPID6QqT15tXo4DTXUtUZe7k34hezV7I3hy7yjXJzDceCHycsLAQAuG9CDBOXDOk="),
    ];
    let mut out = String::new();
    for (provider, stored) in vectors {
        let t = parse(&format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - {provider}: {{keys: [{{name: key1, secret: {K32}}}]}}\n"
        ))
        .unwrap();
        let stored = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .unwrap();
        let plain = t
            .open("/registry/secrets/default/s1", stored.into())
            .unwrap();
        out += &format!("{provider}: {}\n", String::from_utf8_lossy(&plain));
    }
    expect![[r#"
        aescbc: {"kind":"Secret","data":{"k":"dmFsdWU="}}
        aesgcm: {"kind":"Secret","data":{"k":"dmFsdWU="}}
        secretbox: {"kind":"Secret","data":{"k":"dmFsdWU="}}
    "#]]
    .assert_eq(&out);
}

/// Reads and writes through a whole config: which value is stored, which is read back, which
/// is refused and with what message, and which stored values count as stale.
#[test]
fn transformers_read_and_write() {
    let writer = parse(&format!(
        "{HEAD}resources:
- resources: [secrets]
  providers:
  - aescbc: {{keys: [{{name: key1, secret: {K32}}}]}}
"
    ))
    .unwrap();
    let rotated = parse(&format!(
        "{HEAD}resources:
- resources: [secrets]
  providers:
  - aescbc: {{keys: [{{name: key2, secret: {K32B}}}, {{name: key1, secret: {K32}}}]}}
  - identity: {{}}
"
    ))
    .unwrap();
    let wrong = parse(&format!(
        "{HEAD}resources:
- resources: [secrets]
  providers:
  - aescbc: {{keys: [{{name: key1, secret: {K32B}}}]}}
  - secretbox: {{keys: [{{name: other, secret: {K32}}}]}}
"
    ))
    .unwrap();
    let s1 = "/registry/secrets/default/s1";
    let cm = "/registry/configmaps/default/c1";
    let plain = bytes::Bytes::from_static(br#"{"kind":"Secret"}"#);
    let sealed = writer.seal(s1, plain.clone()).unwrap();
    let rotated_sealed = rotated.seal(s1, plain.clone()).unwrap();
    let mut out = String::new();
    let mut show = |what: &str, t: &Transformers, key: &str, stored: &bytes::Bytes| {
        let read = match t.open(key, stored.clone()) {
            Ok(v) => String::from_utf8_lossy(&v).into_owned(),
            Err(e) => e.to_string(),
        };
        out += &format!("{what}: {read} (stale: {})\n", t.is_stale(key, stored));
    };
    show("own value", &writer, s1, &sealed);
    show("plain value, no identity", &writer, s1, &plain);
    show("unconfigured resource", &writer, cm, &plain);
    show("encrypted, unconfigured resource", &writer, cm, &sealed);
    show("rotated: old key", &rotated, s1, &sealed);
    show("rotated: new key", &rotated, s1, &rotated_sealed);
    show("rotated: plain", &rotated, s1, &plain);
    // A fixed IV (the aescbc vector above): with a random one, a wrong key would pass the
    // padding check about once in 256 runs.
    let fixed = base64::engine::general_purpose::STANDARD
        .decode(AESCBC_VECTOR)
        .unwrap()
        .into();
    show("same name, wrong secret", &wrong, s1, &fixed);
    show("key not listed", &wrong, s1, &rotated_sealed);
    expect![[r#"
        own value: {"kind":"Secret"} (stale: false)
        plain value, no identity: unable to transform key "/registry/secrets/default/s1": no matching prefix found: the value is stored unencrypted and the identity provider is not configured for it (stale: true)
        unconfigured resource: {"kind":"Secret"} (stale: false)
        encrypted, unconfigured resource: unable to transform key "/registry/configmaps/default/c1": identity transformer tried to read encrypted data: the value was encrypted with aescbc v1 key "key1", and the encryption provider config does not cover this resource (stale: true)
        rotated: old key: {"kind":"Secret"} (stale: true)
        rotated: new key: {"kind":"Secret"} (stale: false)
        rotated: plain: {"kind":"Secret"} (stale: true)
        same name, wrong secret: unable to transform key "/registry/secrets/default/s1": aescbc key "key1": invalid padding on input (wrong key?) (stale: false)
        key not listed: unable to transform key "/registry/secrets/default/s1": no matching prefix found: the value was encrypted with aescbc v1 key "key2", which the encryption provider config does not list for this resource (stale: true)
    "#]]
    .assert_eq(&out);
    assert!(String::from_utf8_lossy(&sealed).starts_with("k8s:enc:aescbc:v1:key1:"));
    assert!(!sealed.windows(6).any(|w| w == b"Secret"));
}
