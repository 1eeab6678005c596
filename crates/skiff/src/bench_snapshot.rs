//! `skiff bench snapshot`: save and restore time of `skiff snapshot` for N small ConfigMaps
//! written straight into the store (no API), on SQLite and on a one-member etcd that the
//! bench starts itself (testkit's `EtcdCluster`: Debian's `etcd` on loopback, its data under
//! `--dir`) unless `--no-etcd`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use store::snapshot;
use store::Store;
use testkit::etcd::EtcdCluster;

#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// ConfigMaps in the store.
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// Scratch space for databases, snapshot files and etcd's data.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
    /// Measure SQLite only.
    #[arg(long)]
    no_etcd: bool,
}

struct Timing {
    backend: &'static str,
    fill: Duration,
    save: Duration,
    restore: Duration,
    bytes: u64,
}

pub async fn snapshot(args: SnapshotArgs) -> anyhow::Result<()> {
    let dir = args
        .dir
        .join(format!("skiff-bench-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    println!(
        "## skiff bench snapshot\n\n{} small ConfigMaps written straight into the store.\n\n\
         | backend | fill (creates/s) | save | restore | file |\n|---|---|---|---|---|",
        args.objects
    );
    for t in rows {
        println!(
            "| {} | {:.1}s ({:.0}/s) | {:.2}s ({:.0} keys/s) | {:.2}s ({:.0} keys/s) | {:.1} MB |",
            t.backend,
            t.fill.as_secs_f64(),
            args.objects as f64 / t.fill.as_secs_f64(),
            t.save.as_secs_f64(),
            args.objects as f64 / t.save.as_secs_f64(),
            t.restore.as_secs_f64(),
            args.objects as f64 / t.restore.as_secs_f64(),
            t.bytes as f64 / 1e6
        );
    }
    Ok(())
}

async fn run(args: &SnapshotArgs, dir: &Path) -> anyhow::Result<Vec<Timing>> {
    let mut rows = Vec::new();
    // SQLite: saved through a read-only open, as `skiff snapshot save` does.
    let src_db = dir.join("src").join("state.db");
    let source = store::SqliteStore::open(&src_db).await?;
    let fill = fill_store(source.clone(), args.objects).await?;
    let reader = store::SqliteStore::open_read_only(&src_db).await?;
    let file = dir.join("sqlite.snap");
    let started = Instant::now();
    let summary = snapshot::save(reader.as_ref(), "sqlite", &file, snapshot::DEFAULT_PAGE).await?;
    let save = started.elapsed();
    drop((source, reader));
    let dst_db = dir.join("dst").join("state.db");
    let started = Instant::now();
    store::sqlite::raise_revision(&dst_db, summary.header.revision)?;
    let target = store::SqliteStore::open(&dst_db).await?;
    snapshot::restore(&file, target.as_ref(), snapshot::DEFAULT_WINDOW).await?;
    rows.push(Timing {
        backend: "SQLite",
        fill,
        save,
        restore: started.elapsed(),
        bytes: summary.bytes,
    });
    drop(target);
    if args.no_etcd {
        return Ok(rows);
    }

    let etcd_a = start_etcd(dir).await?;
    let source = Arc::new(store::EtcdStore::connect(&options(&etcd_a)).await?);
    let fill = fill_store(source.clone(), args.objects).await?;
    let file = dir.join("etcd.snap");
    let started = Instant::now();
    let summary = snapshot::save(source.as_ref(), "etcd", &file, snapshot::DEFAULT_PAGE).await?;
    let save = started.elapsed();
    let etcd_b = start_etcd(dir).await?;
    let target = store::EtcdStore::connect(&options(&etcd_b)).await?;
    let started = Instant::now();
    snapshot::restore(&file, &target, snapshot::DEFAULT_WINDOW).await?;
    rows.push(Timing {
        backend: "etcd (1 member)",
        fill,
        save,
        restore: started.elapsed(),
        bytes: summary.bytes,
    });
    Ok(rows)
}

/// Creates `n` ConfigMap-sized values, many at a time.
async fn fill_store(store: Arc<dyn Store>, n: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                let ns = format!("ns-{}", i % 50);
                let name = format!("cm-{i:06}");
                let value = format!(
                    "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\",\"namespace\":\"{ns}\",\"uid\":\"00000000-0000-4000-8000-{i:012}\",\"creationTimestamp\":\"2026-12-05T00:00:00Z\"}},\"data\":{{\"key\":\"value-{i}\"}}}}"
                );
                store
                    .create(&format!("/registry/configmaps/{ns}/{name}"), value.into())
                    .await
            }
        })
        .buffer_unordered(256)
        .try_for_each(|_| futures::future::ready(Ok(())))
        .await?;
    Ok(started.elapsed())
}

async fn start_etcd(dir: &Path) -> anyhow::Result<EtcdCluster> {
    let dir = dir.to_path_buf();
    Ok(tokio::task::spawn_blocking(move || EtcdCluster::start_in(1, &dir)).await?)
}

fn options(etcd: &EtcdCluster) -> store::EtcdOptions {
    let mut opts = store::EtcdOptions::new(vec![etcd.endpoint(0)]);
    // A restore keeps a window of writes in flight; under load one may wait its turn.
    opts.request_timeout = Duration::from_secs(30);
    opts
}
