//! hostPath volumes: upstream's type checks (and creation for the `OrCreate` types).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// The file type names upstream reports ("it's a Directory").
fn kind(path: &Path) -> Result<&'static str, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let t = meta.file_type();
    Ok(if t.is_dir() {
        "Directory"
    } else if t.is_file() {
        "File"
    } else if t.is_socket() {
        "Socket"
    } else if t.is_char_device() {
        "CharDevice"
    } else if t.is_block_device() {
        "BlockDevice"
    } else {
        return Err(
            "only recognise file, directory, socket, block device and character device".into(),
        );
    })
}

fn matches(path: &Path, want: &str, description: &str) -> Result<(), String> {
    let shown = path.display();
    if std::fs::metadata(path).is_err() {
        return Err(format!("hostPath {shown} doesn't exist"));
    }
    let got = kind(path).map_err(|e| {
        format!("hostPath type check failed, {shown} is not a {description}, unable to determine its type: {e}")
    })?;
    if got != want {
        return Err(format!(
            "hostPath type check failed: {shown} is not a {description}, it's a {got}"
        ));
    }
    Ok(())
}

/// Checks (or creates) `path` as `type_` says; "" checks nothing.
pub fn check(path: &Path, type_: &str) -> Result<(), String> {
    if Path::new(path)
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(format!(
            "invalid HostPath `{}`: must not contain '..'",
            path.display()
        ));
    }
    let exists = std::fs::metadata(path).is_ok();
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" if !exists => {
            std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())
        }
        "DirectoryOrCreate" | "Directory" => matches(path, "Directory", "directory"),
        "FileOrCreate" if !exists => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "FileOrCreate" | "File" => matches(path, "File", "file"),
        "Socket" => matches(path, "Socket", "socket file"),
        "CharDevice" => matches(path, "CharDevice", "character device"),
        "BlockDevice" => matches(path, "BlockDevice", "block device"),
        other => Err(format!("{other} is an invalid volume type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        std::fs::write(t.join("file"), "x").unwrap();
        std::fs::create_dir(t.join("dir")).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(t.join("sock")).unwrap();
        let root = t.display().to_string();
        let cases = [
            ("dir", "Directory", "ok".to_string()),
            ("dir", "", "ok".into()),
            ("nothing", "", "ok".into()),
            (
                "file",
                "Directory",
                format!("hostPath type check failed: {root}/file is not a directory, it's a File"),
            ),
            (
                "nothing",
                "Directory",
                format!("hostPath {root}/nothing doesn't exist"),
            ),
            ("made/deep", "DirectoryOrCreate", "ok".into()),
            (
                "file",
                "DirectoryOrCreate",
                format!("hostPath type check failed: {root}/file is not a directory, it's a File"),
            ),
            ("file", "File", "ok".into()),
            (
                "dir",
                "File",
                format!("hostPath type check failed: {root}/dir is not a file, it's a Directory"),
            ),
            ("newfile", "FileOrCreate", "ok".into()),
            ("sock", "Socket", "ok".into()),
            (
                "file",
                "Socket",
                format!(
                    "hostPath type check failed: {root}/file is not a socket file, it's a File"
                ),
            ),
            ("dir", "Weird", "Weird is an invalid volume type".into()),
        ];
        for (name, type_, want) in cases {
            let got = check(&t.join(name), type_).map_or_else(|e| e, |()| "ok".into());
            assert_eq!(got, want, "{name} {type_}");
        }
        assert!(t.join("made/deep").is_dir());
        assert!(t.join("newfile").is_file());
        assert_eq!(check(Path::new("/dev/null"), "CharDevice"), Ok(()));
        assert_eq!(
            check(Path::new("/a/../b"), "").unwrap_err(),
            "invalid HostPath `/a/../b`: must not contain '..'"
        );
    }
}
