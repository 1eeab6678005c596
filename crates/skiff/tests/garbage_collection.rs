//! Garbage collection by owner references: background, orphan and foreground cascades,
//! and dependents of owners that never existed (the garbage collector, through the API).

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

const WAIT: Duration = Duration::from_secs(20);

fn owner(k: &Kubectl, name: &str) -> String {
    k.ok(&["create", "configmap", name]);
    k.ok(&["get", "configmap", name, "-o", "jsonpath={.metadata.uid}"])
}

fn dependent(k: &Kubectl, name: &str, owner: &str, uid: &str, extra: &str) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: {owner}, uid: {uid}, blockOwnerDeletion: true}}\n"
        ),
    );
}

fn exists(k: &Kubectl, name: &str) -> bool {
    k.run(&["get", "configmap", name]).status.success()
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn deleting_an_owner_deletes_its_dependents_in_the_background() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    let uid = owner(&k, "owner");
    dependent(&k, "dep-a", "owner", &uid, "");
    dependent(&k, "dep-b", "owner", &uid, "");
    k.ok(&["create", "configmap", "bystander"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        exists(&k, "dep-a") && exists(&k, "dep-b"),
        "dependents of a live owner stay"
    );
    k.ok(&["delete", "configmap", "owner"]);
    eventually("dependents to go", || {
        !exists(&k, "dep-a") && !exists(&k, "dep-b")
    });
    assert!(exists(&k, "bystander"));
}

#[test]
fn orphan_cascade_releases_dependents_and_deletes_the_owner() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    let uid = owner(&k, "owner");
    dependent(&k, "dep", "owner", &uid, "");
    k.ok(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=orphan",
        "--timeout=20s",
    ]);
    eventually("the owner to go", || !exists(&k, "owner"));
    let refs = k.ok(&[
        "get",
        "configmap",
        "dep",
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    assert!(!refs.contains(&uid), "{refs}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(exists(&k, "dep"), "an orphaned dependent is kept");
}

#[test]
fn foreground_cascade_deletes_dependents_before_the_owner() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    let uid = owner(&k, "owner");
    dependent(&k, "dep-free", "owner", &uid, "");
    dependent(
        &k,
        "dep-held",
        "owner",
        &uid,
        "  finalizers: [example.com/hold]\n",
    );
    k.ok(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=foreground",
        "--wait=false",
    ]);
    eventually("the free dependent to go", || !exists(&k, "dep-free"));
    std::thread::sleep(Duration::from_secs(2));
    let meta = k.ok(&[
        "get",
        "configmap",
        "owner",
        "-o",
        "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}",
    ]);
    assert!(
        meta.contains("foregroundDeletion") && !meta.starts_with(' '),
        "{meta}"
    );
    let held = k.ok(&[
        "get",
        "configmap",
        "dep-held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!held.is_empty(), "the held dependent is being deleted");
    k.ok(&[
        "patch",
        "configmap",
        "dep-held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    eventually("the owner to go", || {
        !exists(&k, "owner") && !exists(&k, "dep-held")
    });
}

#[test]
fn a_dependent_of_a_missing_owner_is_collected() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    dependent(
        &k,
        "stray",
        "ghost",
        "00000000-0000-0000-0000-000000000001",
        "",
    );
    // Same name as the owner but another uid: still gone.
    k.ok(&["create", "configmap", "ghost"]);
    dependent(
        &k,
        "stray2",
        "ghost",
        "00000000-0000-0000-0000-000000000002",
        "",
    );
    eventually("the strays to go", || {
        !exists(&k, "stray") && !exists(&k, "stray2")
    });
    assert!(exists(&k, "ghost"));
}
