//! `skiff bench store`: durable creates per second straight into the SQLite store (no HTTP,
//! no TLS), next to the disk's raw commit rate, to show what group commit buys.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use store::Store;

#[derive(clap::Args)]
pub struct StoreArgs {
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Creates per writer.
    #[arg(long, default_value_t = 200)]
    creates: usize,
    /// Where the scratch database goes (the disk measured).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

pub async fn store(args: StoreArgs) -> anyhow::Result<()> {
    let raw =
        store::sqlite::raw_commit_rate(&args.dir, 500).context("measuring the raw commit rate")?;
    let dir = args
        .dir
        .join(format!("skiff-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = store::SqliteStore::open(&dir.join("state.db")).await?;
    // A pod-sized value.
    let value = bytes::Bytes::from(vec![b'x'; 1200]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let db = Arc::clone(&db);
        let value = value.clone();
        let n = args.creates;
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                db.create(&format!("/registry/pods/bench/w{w}-{i}"), value.clone())
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let creates = args.writers * args.creates;
    let commits = db.commits();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "## skiff bench store\n\n\
         - raw SQLite commits/s on this disk (one fsync each): {raw:.0}\n\
         - durable creates/s with {w} concurrent writers: {rate:.0} ({creates} creates in {commits} commits, {per:.1} creates per fsync)\n",
        w = args.writers,
        rate = creates as f64 / elapsed.as_secs_f64(),
        per = creates as f64 / commits.max(1) as f64,
    );
    Ok(())
}
