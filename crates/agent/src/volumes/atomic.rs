//! Writing a volume's files the way upstream's AtomicWriter does, so a running container
//! sees a whole new version at once: the files live in a timestamped hidden directory,
//! `..data` links to it, and each top-level name links through `..data`. An update writes
//! a new directory and renames a new `..data` link over the old one.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// One file of a volume: its bytes and mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path → file.
pub type Payload = BTreeMap<String, FileData>;

/// upstream's payload path rules: relative, no `..` element, not starting with `..`.
pub fn validate_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    if Path::new(p).is_absolute() {
        return Err(format!("invalid path: must be relative path: {p}"));
    }
    if p.len() > 4096 {
        return Err(format!(
            "invalid path: must be less than or equal to 4096 characters: {p}"
        ));
    }
    if Path::new(p).components().any(|c| c == Component::ParentDir) {
        return Err(format!("invalid path: must not contain '..': {p}"));
    }
    if p.starts_with("..") {
        return Err(format!("invalid path: must not start with '..': {p}"));
    }
    Ok(())
}

fn current(dir: &Path) -> Option<Payload> {
    let data = dir.join(DATA);
    std::fs::read_link(&data).ok()?;
    let mut out = Payload::new();
    walk(&data, &data, &mut out).ok()?;
    Some(out)
}

fn walk(base: &Path, dir: &Path, out: &mut Payload) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(base, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(base)
                .map_err(|e| io::Error::other(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            out.insert(
                rel,
                FileData {
                    data: std::fs::read(&path)?,
                    mode: meta.permissions().mode() & 0o7777,
                },
            );
        }
    }
    Ok(())
}

fn top(p: &str) -> &str {
    p.split('/').next().unwrap_or(p)
}

/// Writes `payload` into `dir` unless it is there already; returns whether it changed.
/// `group`: the pod's fsGroup, which then owns every file and directory (readable by it).
pub fn write(dir: &Path, payload: &Payload, group: Option<i64>) -> io::Result<bool> {
    for p in payload.keys() {
        validate_path(p).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    let old = current(dir);
    let mut wanted = payload.clone();
    if group.is_some() {
        for f in wanted.values_mut() {
            f.mode |= 0o440;
        }
    }
    if old.as_ref() == Some(&wanted) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    let stamp = time::OffsetDateTime::now_utc();
    let name = format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{}",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second(),
        stamp.nanosecond()
    );
    let ts_dir = dir.join(&name);
    std::fs::create_dir(&ts_dir)?;
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))?;
    for (rel, f) in &wanted {
        let path = ts_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.data)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
    }
    if let Some(g) = group {
        own(&ts_dir, g)?;
        super::sys::chgrp(dir, g)?;
    }
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA))?;
    // The user-visible names: links through ..data, made once and kept while wanted.
    let new_tops: std::collections::BTreeSet<&str> = wanted.keys().map(|p| top(p)).collect();
    for t in &new_tops {
        let link = dir.join(t);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("{DATA}/{t}"), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let n = entry.file_name().to_string_lossy().into_owned();
        if n == DATA || n == name {
            continue;
        }
        if n.starts_with("..") {
            // An older version's directory.
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            }
        } else if !new_tops.contains(n.as_str()) && entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(true)
}

/// Group ownership for a read-only volume, as upstream's SetVolumeOwnership: the group
/// reads every file, and directories are setgid and searchable by it.
fn own(path: &Path, group: i64) -> io::Result<()> {
    super::sys::chgrp(path, group)?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        let mode = meta.permissions().mode() & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o2550))?;
        for entry in std::fs::read_dir(path)? {
            own(&entry?.path(), group)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str, mode: u32) -> FileData {
        FileData {
            data: s.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn paths() {
        let cases = [
            ("a", "ok"),
            ("a/b", "ok"),
            ("/a", "invalid path: must be relative path: /a"),
            ("a/../b", "invalid path: must not contain '..': a/../b"),
            ("..a", "invalid path: must not start with '..': ..a"),
            ("", "invalid path: must not be empty"),
        ];
        for (p, want) in cases {
            assert_eq!(
                validate_path(p).map_or_else(|e| e, |()| "ok".into()),
                want,
                "{p}"
            );
        }
    }

    #[test]
    fn writes_and_swaps() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let v1: Payload = [
            ("color".to_string(), file("blue", 0o644)),
            ("sub/x".to_string(), file("1", 0o600)),
        ]
        .into();
        assert!(write(&dir, &v1, None).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("color")).unwrap(), "blue");
        assert_eq!(std::fs::read_to_string(dir.join("sub/x")).unwrap(), "1");
        let mode = std::fs::metadata(dir.join("sub/x"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            !write(&dir, &v1, None).unwrap(),
            "same content: no new version"
        );
        let v2: Payload = [("color".to_string(), file("red", 0o644))].into();
        assert!(write(&dir, &v2, None).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("color")).unwrap(), "red");
        assert!(
            std::fs::symlink_metadata(dir.join("sub")).is_err(),
            "gone from v2"
        );
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..2"))
            .collect();
        names.sort();
        assert_eq!(names, ["..data", "color"]);
        let versions = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("..2")
            })
            .count();
        assert_eq!(versions, 1, "the old version is removed");
    }
}
