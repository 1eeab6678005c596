//! `skiff snapshot save|restore` and the server's scheduled snapshots
//! (`--snapshot-schedule`, `--snapshot-retention`, `--snapshot-dir`). The work itself is
//! `store::snapshot`'s; this is the CLI around it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use apiserver::Datastore;
use controllers::cronjob::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use store::snapshot;
use store::Store;

use crate::datastore_flags::DatastoreFlags;

#[derive(clap::Subcommand)]
pub enum SnapshotCommand {
    /// Save a consistent snapshot of the datastore while the server keeps running.
    Save(SaveArgs),
    /// Restore a snapshot into a fresh SQLite database (DIR/db/state.db) or a fresh etcd.
    Restore(RestoreArgs),
}

#[derive(clap::Args)]
pub struct SaveArgs {
    /// Where the snapshot goes (written as FILE.tmp, then renamed).
    file: PathBuf,
    /// The server's data dir, whose embedded database is read (without --datastore-endpoint).
    #[arg(long, default_value = "/var/lib/skiff")]
    data_dir: PathBuf,
    #[command(flatten)]
    datastore: DatastoreFlags,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A file written by `skiff snapshot save` (checked whole before anything is written).
    file: PathBuf,
    /// The new server's data dir: the snapshot goes into DIR/db/state.db, unless
    /// --datastore-endpoint names an etcd to restore into.
    #[arg(long)]
    data_dir: PathBuf,
    #[command(flatten)]
    datastore: DatastoreFlags,
}

/// `skiff server`'s scheduled snapshots.
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleFlags {
    /// Take snapshots on this cron schedule (5 fields or @hourly/@daily/..., in UTC).
    #[arg(long, value_parser = parse_schedule)]
    snapshot_schedule: Option<Schedule>,
    /// Scheduled snapshots to keep; older ones are deleted.
    #[arg(long, default_value_t = 5)]
    snapshot_retention: usize,
    /// Where scheduled snapshots go (default: <data dir>/snapshots).
    #[arg(long)]
    snapshot_dir: Option<PathBuf>,
}

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    Schedule::parse(s)
}

fn source_name(datastore: &Datastore) -> &'static str {
    match datastore {
        Datastore::Sqlite => "sqlite",
        Datastore::Etcd(_) => "etcd",
    }
}

fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("db").join("state.db")
}

pub async fn run(cmd: SnapshotCommand) -> anyhow::Result<()> {
    match cmd {
        SnapshotCommand::Save(args) => save(args).await,
        SnapshotCommand::Restore(args) => restore(args).await,
    }
}

async fn save(args: SaveArgs) -> anyhow::Result<()> {
    let datastore = args.datastore.to_config()?;
    let store: Arc<dyn Store> = match &datastore {
        Datastore::Sqlite => {
            let db = db_path(&args.data_dir);
            if !db.exists() {
                bail!("no database at {} (is --data-dir right?)", db.display());
            }
            // Read-only beside the running server's writer.
            store::SqliteStore::open_read_only(&db)
                .await
                .with_context(|| format!("opening {}", db.display()))?
        }
        Datastore::Etcd(opts) => Arc::new(store::EtcdStore::connect(opts).await?),
    };
    let started = Instant::now();
    let summary = snapshot::save(
        store.as_ref(),
        source_name(&datastore),
        &args.file,
        snapshot::DEFAULT_PAGE,
    )
    .await
    .with_context(|| format!("saving {}", args.file.display()))?;
    println!(
        "saved {} keys at revision {} of the {} datastore to {} ({} bytes) in {:.2}s",
        summary.header.key_count,
        summary.header.revision,
        summary.header.source,
        args.file.display(),
        summary.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let datastore = args.datastore.to_config()?;
    let header = snapshot::verify(&args.file)
        .with_context(|| format!("checking {}", args.file.display()))?;
    let started = Instant::now();
    let target: Arc<dyn Store> = match &datastore {
        Datastore::Sqlite => {
            let db = db_path(&args.data_dir);
            if db.exists() {
                let existing = store::SqliteStore::open_read_only(&db).await?;
                let keys = existing.count("").await?;
                if keys > 0 {
                    bail!(
                        "{} already holds {keys} keys: restore into a fresh data dir \
                         (after a failed restore, remove {} first)",
                        db.display(),
                        args.data_dir.join("db").display()
                    );
                }
            }
            // New writes get revisions above every resourceVersion the old cluster handed out.
            store::sqlite::raise_revision(&db, header.revision)
                .with_context(|| format!("preparing {}", db.display()))?;
            store::SqliteStore::open(&db).await?
        }
        Datastore::Etcd(opts) => Arc::new(store::EtcdStore::connect(opts).await?),
    };
    let summary = snapshot::restore(&args.file, target.as_ref(), snapshot::DEFAULT_WINDOW)
        .await
        .with_context(|| format!("restoring {}", args.file.display()))?;
    println!(
        "restored {} keys (snapshot of the {} datastore at revision {}) into the {} datastore in {:.2}s",
        summary.header.key_count,
        summary.header.source,
        summary.header.revision,
        source_name(&datastore),
        started.elapsed().as_secs_f64()
    );
    if matches!(datastore, Datastore::Sqlite) {
        println!(
            "copy the old data dir's tls/ and token into {} before starting the server on it",
            args.data_dir.display()
        );
    }
    Ok(())
}

impl ScheduleFlags {
    /// Starts the scheduled snapshots of `store`, if a schedule was given.
    pub fn spawn(
        &self,
        store: Arc<dyn Store>,
        data_dir: &Path,
        datastore: &DatastoreFlags,
    ) -> anyhow::Result<()> {
        let Some(schedule) = self.snapshot_schedule.clone() else {
            return Ok(());
        };
        let dir = self
            .snapshot_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("snapshots"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let scheduled = Scheduled {
            schedule,
            dir,
            retention: self.snapshot_retention.max(1),
            source: source_name(&datastore.to_config()?),
        };
        tokio::spawn(async move { scheduled.run(store).await });
        Ok(())
    }
}

/// Snapshots taken at a cron schedule's times, the newest `retention` kept.
struct Scheduled {
    schedule: Schedule,
    dir: PathBuf,
    retention: usize,
    source: &'static str,
}

const PREFIX: &str = "skiff-snapshot-";
const SUFFIX: &str = ".snap";

impl Scheduled {
    async fn run(self, store: Arc<dyn Store>) {
        let mut last: Option<Timestamp> = None;
        loop {
            let now = Timestamp::now();
            // A timer that fires a hair early must not run the same time twice.
            let after = last.map_or(now, |l| l.max(now));
            let Some(next) = self.schedule.next(after, &TimeZone::UTC) else {
                tracing::warn!("the snapshot schedule has no next time; no more snapshots");
                return;
            };
            let wait = next.duration_since(now).unsigned_abs();
            tokio::time::sleep(wait).await;
            last = Some(next);
            match self.tick(store.as_ref(), next).await {
                Ok(path) => tracing::info!(path = %path.display(), "scheduled snapshot saved"),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "scheduled snapshot failed"),
            }
        }
    }

    /// Takes the snapshot due at `at` and deletes the oldest beyond the retention.
    async fn tick(&self, store: &dyn Store, at: Timestamp) -> anyhow::Result<PathBuf> {
        let name = format!("{PREFIX}{}{SUFFIX}", at.strftime("%Y%m%dT%H%M%SZ"));
        let path = self.dir.join(name);
        snapshot::save(store, self.source, &path, snapshot::DEFAULT_PAGE).await?;
        prune(&self.dir, self.retention)?;
        Ok(path)
    }
}

/// Deletes all but the newest `keep` scheduled snapshots (their names sort by time).
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        .collect();
    names.sort();
    let extra = names.len().saturating_sub(keep);
    for name in &names[..extra] {
        std::fs::remove_file(dir.join(name))
            .with_context(|| format!("removing old snapshot {name}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduler's clock is an argument: walk it through a day of `@hourly` ticks.
    #[tokio::test]
    async fn scheduled_ticks_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let db = store::SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        db.create(
            "/registry/configmaps/default/a",
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
        let scheduled = Scheduled {
            schedule: Schedule::parse("@hourly").unwrap(),
            dir: dir.path().join("snapshots"),
            retention: 3,
            source: "sqlite",
        };
        std::fs::create_dir_all(&scheduled.dir).unwrap();
        // Something else in the directory is never pruned.
        std::fs::write(scheduled.dir.join("manual.snap"), b"x").unwrap();
        let mut now: Timestamp = "2026-12-05T21:17:42Z".parse().unwrap();
        let mut taken = Vec::new();
        for _ in 0..5 {
            let next = scheduled.schedule.next(now, &TimeZone::UTC).unwrap();
            let path = scheduled.tick(&*db, next).await.unwrap();
            taken.push(path.file_name().unwrap().to_string_lossy().into_owned());
            now = next;
        }
        assert_eq!(
            taken,
            [
                "skiff-snapshot-20261205T220000Z.snap",
                "skiff-snapshot-20261205T230000Z.snap",
                "skiff-snapshot-20261206T000000Z.snap",
                "skiff-snapshot-20261206T010000Z.snap",
                "skiff-snapshot-20261206T020000Z.snap",
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(&scheduled.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "manual.snap",
                "skiff-snapshot-20261206T000000Z.snap",
                "skiff-snapshot-20261206T010000Z.snap",
                "skiff-snapshot-20261206T020000Z.snap",
            ]
        );
        let header = snapshot::verify(&scheduled.dir.join(&taken[4])).unwrap();
        assert_eq!((header.key_count, header.source.as_str()), (1, "sqlite"));
    }

    #[test]
    fn bad_schedules_are_refused_at_parse_time() {
        assert!(parse_schedule("*/5 * * * *").is_ok());
        assert_eq!(
            parse_schedule("every hour").unwrap_err(),
            "expected exactly 5 fields, found 2: every hour"
        );
    }
}
