//! What the eviction manager watches: memory, the node's and the image store's filesystems
//! (bytes and inodes) and process ids, each as (available, capacity).

use std::collections::HashMap;
use std::path::Path;

use super::thresholds::Signal;

/// Available and capacity per signal.
pub type Observations = HashMap<Signal, (u64, u64)>;

pub fn observe(nodefs: &Path, imagefs: &Path) -> Observations {
    let mut out = Observations::new();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let (Some(avail), Some(total)) = (
        meminfo_kib(&meminfo, "MemAvailable:"),
        meminfo_kib(&meminfo, "MemTotal:"),
    ) {
        out.insert(Signal::MemoryAvailable, (avail * 1024, total * 1024));
    }
    for (dir, bytes, inodes) in [
        (nodefs, Signal::NodefsAvailable, Signal::NodefsInodesFree),
        (imagefs, Signal::ImagefsAvailable, Signal::ImagefsInodesFree),
    ] {
        if let Some(fs) = statvfs(dir) {
            out.insert(bytes, (fs.avail_bytes, fs.total_bytes));
            out.insert(inodes, (fs.free_inodes, fs.total_inodes));
        }
    }
    if let Some(max) = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        let running = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .count() as u64
            })
            .unwrap_or(0);
        out.insert(Signal::PidAvailable, (max.saturating_sub(running), max));
    }
    out
}

fn meminfo_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

struct Fs {
    avail_bytes: u64,
    total_bytes: u64,
    free_inodes: u64,
    total_inodes: u64,
}

fn statvfs(dir: &Path) -> Option<Fs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; zeroed is a valid value for it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a struct the call fills in.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some(Fs {
        avail_bytes: st.f_bavail as u64 * frsize,
        total_bytes: st.f_blocks as u64 * frsize,
        free_inodes: st.f_favail as u64,
        total_inodes: st.f_files as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let text =
            "MemTotal:       24589248 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(meminfo_kib(text, "MemTotal:"), Some(24589248));
        assert_eq!(meminfo_kib(text, "MemAvailable:"), Some(20000000));
        assert_eq!(meminfo_kib(text, "Cached:"), None);
    }

    #[test]
    fn this_machine() {
        let o = observe(Path::new("/"), Path::new("/"));
        let (avail, cap) = o[&Signal::MemoryAvailable];
        assert!(avail > 0 && avail <= cap);
        assert!(o[&Signal::NodefsAvailable].1 > 0);
        assert!(o[&Signal::PidAvailable].0 > 0);
    }
}
