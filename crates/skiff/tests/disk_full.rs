//! The SQLite data dir's disk fills up: writes fail fast with a clear 500 naming the full
//! disk, reads keep working, and once space returns writes work again and every
//! acknowledged object is intact (integrity check, then a restart that reads them all).
//!
//! The database sits on a 32 MiB tmpfs the test mounts (it runs as root); a filler file
//! takes all but a few MiB, and deleting it gives the space back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::Server;

/// A tmpfs mounted for the test, unmounted on drop even when the test panics (lazily if a
/// process still holds files on it: the server is killed right after).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .expect("mount");
        assert!(status.success(), "mounting a tmpfs at {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Fills the filesystem of `dir` with one file, then gives back `leave` bytes of it.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xa5u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    // What the last write_all got in before ENOSPC counts too.
    let _ = f.flush();
    let len = f.metadata().expect("filler size").len();
    f.set_len(len.saturating_sub(leave)).expect("shrink filler");
    f.sync_all().expect("sync filler");
    path
}

/// The value stored in configmap `i`: 256 KiB that name it.
fn payload(i: usize) -> String {
    format!("{i:08}-").repeat(256 * 1024 / 9)
}

#[test]
fn writes_fail_cleanly_on_a_full_disk_and_recover() {
    let mut s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    // Move the database onto a small tmpfs: stop, mount over `db`, copy back, start.
    s.terminate();
    let db = s.data_dir().join("db");
    let saved = s.data_dir().join("db.saved");
    std::fs::rename(&db, &saved).expect("move db");
    std::fs::create_dir(&db).expect("db dir");
    let tmpfs = Tmpfs::mount(&db, "32m");
    for entry in std::fs::read_dir(&saved).expect("saved db") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), db.join(entry.file_name())).expect("copy db file");
    }
    s.restart();
    let k = s.kubectl();

    let filler = fill(&db, 6 << 20);
    let files = tempfile::tempdir().expect("tempdir");
    let mut acked = Vec::new();
    let mut refusal = None;
    for i in 0..200 {
        let file = files.path().join("data");
        std::fs::write(&file, payload(i)).expect("payload");
        let started = Instant::now();
        let out = k.run(&[
            "create",
            "configmap",
            &format!("big-{i}"),
            &format!("--from-file=data={}", file.display()),
            "--request-timeout=30s",
        ]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a write on a full disk took {:?}",
            started.elapsed()
        );
        if out.status.success() {
            acked.push(i);
        } else {
            refusal = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            break;
        }
    }
    let refusal = refusal.expect("the disk never filled up");
    eprintln!(
        "{} writes acknowledged before the disk was full",
        acked.len()
    );
    assert!(!acked.is_empty(), "no write fit before the disk was full");
    assert!(
        refusal.contains("out of space") && refusal.contains("database or disk is full"),
        "{refusal}"
    );

    // Reads keep working, from the cache and from the store.
    let names = k.ok(&["get", "configmaps", "-o", "name"]);
    for i in &acked {
        assert!(names.contains(&format!("configmap/big-{i}")), "{names}");
    }
    let first = k.ok(&["get", "configmap", "big-0", "-o", "jsonpath={.data.data}"]);
    assert_eq!(first, payload(0));
    // Still full: another write fails the same way, a 500 InternalError, and does not hang.
    let small = files.path().join("small.json");
    std::fs::write(
        &small,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"small"}}"#,
    )
    .expect("small.json");
    let again = k.fails(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps",
        "-f",
        &small.display().to_string(),
        "--request-timeout=30s",
    ]);
    assert!(
        again.contains("InternalError") && again.contains("out of space"),
        "{again}"
    );

    // /metrics counts the failed transactions.
    let metrics = k.ok(&["get", "--raw", "/metrics"]);
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("skiff_store_commit_failures_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(failures >= 2.0, "{metrics}");

    // Space returns: writes work again.
    std::fs::remove_file(&filler).expect("remove filler");
    k.ok(&["create", "configmap", "after-space", "--from-literal=a=b"]);

    // Every acknowledged object is intact: the database checks out and a restarted server
    // reads them all back.
    s.terminate();
    let conn = rusqlite::Connection::open(db.join("state.db")).expect("open db");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    drop(conn);
    s.restart();
    let k = s.kubectl();
    for i in &acked {
        let got = k.ok(&[
            "get",
            "configmap",
            &format!("big-{i}"),
            "-o",
            "jsonpath={.data.data}",
        ]);
        assert!(got == payload(*i), "configmap big-{i} changed");
    }
    k.ok(&["get", "configmap", "after-space"]);

    s.kill9();
    drop(tmpfs);
}
