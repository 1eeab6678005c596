//! The disk's raw durable-commit rate, measured with SQLite configured as the store is: the
//! baseline that group commit is compared against in `skiff bench api`.

use std::path::Path;
use std::time::Instant;

use crate::Result;

/// Commits per second of one-row transactions (WAL, `synchronous=FULL`: one fsync each) in
/// a scratch database under `dir`, which is removed afterwards.
pub fn raw_commit_rate(dir: &Path, commits: usize) -> Result<f64> {
    let scratch = dir.join(format!("skiff-commit-rate-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = measure(&scratch.join("rate.db"), commits);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn measure(path: &Path, commits: usize) -> Result<f64> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)", [])?;
    let started = Instant::now();
    for i in 0..commits {
        conn.execute(
            "INSERT INTO t (id, v) VALUES (?1, zeroblob(512))",
            [i as i64],
        )?;
    }
    Ok(commits as f64 / started.elapsed().as_secs_f64())
}
