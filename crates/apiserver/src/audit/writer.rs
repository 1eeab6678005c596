//! Writes audit events without holding up requests: events go through a bounded channel
//! to one writer thread (upstream's "batch" mode rather than "blocking"); when the channel
//! is full an event is dropped and counted. The log file rotates by size into
//! `<name>-<UTC timestamp><ext>` backups, as upstream's lumberjack names them, and old
//! backups are removed by count and age.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

/// Upstream's default batch buffer size.
pub const BUFFER: usize = 10_000;

/// `--audit-log-*`: where and how long to keep the log.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `-` writes to stdout.
    pub path: PathBuf,
    /// Days to keep a backup; 0 keeps them whatever their age.
    pub max_age_days: u32,
    /// Backups to keep; 0 keeps all.
    pub max_backups: u32,
    /// Megabytes before the file rotates; 0 never rotates.
    pub max_size_mb: u32,
}

pub struct Sink {
    tx: SyncSender<Vec<u8>>,
    dropped: AtomicU64,
}

impl Sink {
    /// Queues one line; never waits.
    pub fn send(&self, line: Vec<u8>) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        "audit log buffer full or writer gone: events dropped"
                    );
                }
            }
        }
    }

    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn for_test(tx: SyncSender<Vec<u8>>) -> Sink {
        Sink {
            tx,
            dropped: AtomicU64::new(0),
        }
    }
}

/// Opens the log (so a bad path fails start-up) and starts the writer thread.
pub fn spawn(opts: LogOptions, buffer: usize) -> io::Result<Sink> {
    let out = Output::open(&opts)?;
    let (tx, rx) = sync_channel(buffer);
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || run(out, opts, rx))?;
    Ok(Sink {
        tx,
        dropped: AtomicU64::new(0),
    })
}

enum Output {
    Stdout(io::Stdout),
    File { w: BufWriter<File>, size: u64 },
}

impl Output {
    fn open(opts: &LogOptions) -> io::Result<Output> {
        if opts.path.as_os_str() == "-" {
            return Ok(Output::Stdout(io::stdout()));
        }
        if let Some(dir) = opts.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&opts.path)?;
        let size = f.metadata()?.len();
        Ok(Output::File {
            w: BufWriter::new(f),
            size,
        })
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(s) => {
                let mut s = s.lock();
                s.write_all(line)?;
                s.write_all(b"\n")
            }
            Output::File { w, size } => {
                w.write_all(line)?;
                w.write_all(b"\n")?;
                *size += line.len() as u64 + 1;
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::File { w, .. } => w.flush(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Output::Stdout(_) => 0,
            Output::File { size, .. } => *size,
        }
    }
}

fn run(mut out: Output, opts: LogOptions, rx: Receiver<Vec<u8>>) {
    let limit = u64::from(opts.max_size_mb) * 1024 * 1024;
    while let Ok(line) = rx.recv() {
        let mut next = Some(line);
        // Write whatever is queued, then flush once.
        while let Some(line) = next {
            if limit > 0 && out.size() > 0 && out.size() + line.len() as u64 + 1 > limit {
                match rotate(&mut out, &opts) {
                    Ok(new) => out = new,
                    Err(e) => tracing::warn!(error = %e, "rotating the audit log"),
                }
            }
            if let Err(e) = out.write_line(&line) {
                tracing::warn!(error = %e, "writing the audit log");
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            tracing::warn!(error = %e, "flushing the audit log");
        }
    }
}

fn rotate(out: &mut Output, opts: &LogOptions) -> io::Result<Output> {
    out.flush()?;
    std::fs::rename(
        &opts.path,
        backup_name(&opts.path, time::OffsetDateTime::now_utc()),
    )?;
    let new = Output::open(opts)?;
    prune(
        &opts.path,
        opts.max_backups,
        opts.max_age_days,
        SystemTime::now(),
    )?;
    Ok(new)
}

/// `audit.log` rotated at 2026-12-05 19:14:09.123 is `audit-2026-12-05T19-14-09.123.log`.
pub fn backup_name(path: &Path, at: time::OffsetDateTime) -> PathBuf {
    let (stem, ext) = split_name(path);
    let stamp = format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}.{:03}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    );
    path.with_file_name(format!("{stem}-{stamp}{ext}"))
}

fn split_name(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rfind('.') {
        Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
        _ => (name, String::new()),
    }
}

/// Removes backups beyond `max_backups` (newest kept) and older than `max_age_days`.
fn prune(path: &Path, max_backups: u32, max_age_days: u32, now: SystemTime) -> io::Result<()> {
    let (stem, ext) = split_name(path);
    let prefix = format!("{stem}-");
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let mut backups: Vec<(String, PathBuf, SystemTime)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(&ext) {
            let modified = entry.metadata()?.modified()?;
            backups.push((name, entry.path(), modified));
        }
    }
    // The timestamp in the name sorts as the time.
    backups.sort_by(|a, b| b.0.cmp(&a.0));
    let max_age = Duration::from_secs(u64::from(max_age_days) * 24 * 3600);
    for (i, (_, p, modified)) in backups.iter().enumerate() {
        let too_many = max_backups > 0 && i >= max_backups as usize;
        let too_old =
            max_age_days > 0 && now.duration_since(*modified).unwrap_or_default() > max_age;
        if too_many || too_old {
            std::fs::remove_file(p)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn backup_names() {
        let at = time::macros::datetime!(2026-12-05 19:14:09.123 UTC);
        expect!["/var/log/audit-2026-12-05T19-14-09.123.log"].assert_eq(
            &backup_name(Path::new("/var/log/audit.log"), at)
                .display()
                .to_string(),
        );
        expect!["/var/log/audit-2026-12-05T19-14-09.123"].assert_eq(
            &backup_name(Path::new("/var/log/audit"), at)
                .display()
                .to_string(),
        );
    }

    #[test]
    fn rotates_and_keeps_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let opts = LogOptions {
            path: path.clone(),
            max_backups: 2,
            max_size_mb: 1,
            ..LogOptions::default()
        };
        let sink = spawn(opts, 16).unwrap();
        let line = vec![b'x'; 300 * 1024];
        for _ in 0..12 {
            sink.send(line.clone());
            // Distinct millisecond stamps for each backup.
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(sink);
        std::thread::sleep(Duration::from_millis(300));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.iter().any(|n| n == "audit.log"));
        assert!(std::fs::metadata(&path).unwrap().len() <= 1024 * 1024);
    }

    #[test]
    fn prunes_backups_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let now = SystemTime::now();
        for (name, age_days) in [
            ("audit-2026-12-01T00-00-00.000.log", 4),
            ("audit-2026-12-04T00-00-00.000.log", 1),
            ("audit-2026-12-05T00-00-00.000.log", 0),
            ("other.log", 9),
        ] {
            let f = File::create(dir.path().join(name)).unwrap();
            f.set_modified(now - Duration::from_secs(age_days * 24 * 3600 + 60))
                .unwrap();
        }
        prune(&path, 0, 2, now).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        expect![[r#"["audit-2026-12-04T00-00-00.000.log", "audit-2026-12-05T00-00-00.000.log", "other.log"]"#]]
            .assert_eq(&format!("{names:?}"));
    }

    #[test]
    fn full_buffer_drops_and_counts() {
        let (tx, _rx) = sync_channel(1);
        let sink = Sink {
            tx,
            dropped: AtomicU64::new(0),
        };
        sink.send(b"a".to_vec());
        sink.send(b"b".to_vec());
        sink.send(b"c".to_vec());
        assert_eq!(sink.dropped(), 2);
    }
}
