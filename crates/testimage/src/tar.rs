//! `tar`, as `kubectl cp` runs it in a container: `tar cf - PATH...` (archive to stdout,
//! leading `/` stripped from member names, as GNU tar does) and `tar xmf - [-C DIR]` (from
//! stdin; modification times not restored). ustar headers; long names read from PAX (as
//! Go's archive/tar writes them) and GNU `L` records, written with the ustar prefix field.
//! Regular files, directories and symlinks only.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const BLOCK: usize = 512;

pub fn main(args: &[&str]) -> Result<(), String> {
    let mut create = false;
    let mut extract = false;
    let mut dir: Option<&str> = None;
    let mut paths = Vec::new();
    let mut it = args.iter().copied().enumerate();
    while let Some((i, a)) = it.next() {
        if a == "-C" {
            dir = it.next().map(|(_, d)| d);
        } else if (i == 0 && !a.starts_with('/')) || (a.starts_with('-') && a.len() > 1) {
            for flag in a.trim_start_matches('-').chars() {
                match flag {
                    'c' => create = true,
                    'x' => extract = true,
                    // `f -`: the archive is always stdin/stdout; m, v, o, p: nothing to do.
                    'f' | 'm' | 'v' | 'o' | 'p' => {}
                    other => return Err(format!("tar: unsupported flag {other:?}")),
                }
            }
        } else if a != "-" {
            paths.push(a);
        }
    }
    let base = PathBuf::from(dir.unwrap_or("."));
    match (create, extract) {
        (true, false) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for p in paths {
                let full = base.join(p);
                let name = p.trim_start_matches('/').to_string();
                if p.starts_with('/') {
                    eprintln!("tar: Removing leading `/' from member names");
                }
                add(&mut out, &full, &name)?;
            }
            out.write_all(&[0u8; BLOCK * 2])
                .map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())
        }
        (false, true) => extract_all(&mut std::io::stdin().lock(), &base),
        _ => Err("tar: one of c or x is needed".into()),
    }
}

fn octal(field: &mut [u8], value: u64) {
    let w = field.len() - 1;
    let s = format!("{value:0w$o}");
    let bytes = s.as_bytes();
    let start = bytes.len().saturating_sub(w);
    field[..w].copy_from_slice(&bytes[start..]);
    field[w] = 0;
}

/// A ustar header for `name`; None when the name does not fit.
pub fn header(
    name: &str,
    mode: u32,
    size: u64,
    mtime: u64,
    kind: u8,
    link: &str,
) -> Option<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    let (prefix, rest) = if name.len() <= 100 {
        ("", name)
    } else {
        // Split at a '/' so that the last part fits in 100 bytes and the rest in 155.
        // A directory's trailing '/' stays with the last part.
        let trimmed = name.trim_end_matches('/');
        let cut = trimmed[..trimmed.len().min(156)].rfind('/')?;
        let (p, r) = (&name[..cut], &name[cut + 1..]);
        if r.len() > 100 || r.is_empty() {
            return None;
        }
        (p, r)
    };
    if link.len() > 100 {
        return None;
    }
    h[..rest.len()].copy_from_slice(rest.as_bytes());
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    Some(h)
}

fn add(out: &mut impl Write, path: &Path, name: &str) -> Result<(), String> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| format!("tar: {}: {e}", path.display()))?;
    let err = |e: std::io::Error| e.to_string();
    let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
    let too_long = || format!("tar: {name}: name too long");
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(err)?;
        let h = header(name, meta.mode(), 0, mtime, b'2', &target.to_string_lossy())
            .ok_or_else(too_long)?;
        out.write_all(&h).map_err(err)?;
    } else if meta.is_dir() {
        let dir_name = format!("{}/", name.trim_end_matches('/'));
        let h = header(&dir_name, meta.mode(), 0, mtime, b'5', "").ok_or_else(too_long)?;
        out.write_all(&h).map_err(err)?;
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(err)?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for e in entries {
            let child = e.to_string_lossy();
            add(out, &path.join(&*child), &format!("{}{child}", dir_name))?;
        }
    } else if meta.is_file() {
        let h = header(name, meta.mode(), meta.len(), mtime, b'0', "").ok_or_else(too_long)?;
        out.write_all(&h).map_err(err)?;
        let mut f = std::fs::File::open(path).map_err(err)?;
        let n = std::io::copy(&mut f, out).map_err(err)?;
        let pad = (BLOCK - (n as usize % BLOCK)) % BLOCK;
        out.write_all(&vec![0u8; pad]).map_err(err)?;
    }
    Ok(())
}

fn field_str(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn field_num(b: &[u8]) -> u64 {
    let s = field_str(b);
    u64::from_str_radix(s.trim(), 8).unwrap_or(0)
}

/// The `path` record of a PAX extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|l| {
        let (_, kv) = l.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

/// Joins `name` under `base`, refusing `..` and absolute escapes.
fn safe_join(base: &Path, name: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => out.push(p),
        }
    }
    Some(out)
}

pub fn extract_all(input: &mut impl Read, base: &Path) -> Result<(), String> {
    let err = |e: std::io::Error| e.to_string();
    let mut long_name: Option<String> = None;
    loop {
        let mut h = [0u8; BLOCK];
        if input.read_exact(&mut h).is_err() || h.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let size = field_num(&h[124..136]);
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let kind = h[156];
        let mut name = field_str(&h[..100]);
        let prefix = field_str(&h[345..500]);
        if &h[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        let mode = field_num(&h[100..108]) as u32;
        let mut data = Vec::new();
        if matches!(kind, b'x' | b'L' | b'g') {
            input.take(padded).read_to_end(&mut data).map_err(err)?;
            data.truncate(size as usize);
            match kind {
                b'x' => long_name = pax_path(&data),
                b'L' => long_name = Some(field_str(&data)),
                _ => {}
            }
            continue;
        }
        let Some(target) = safe_join(base, &name) else {
            return Err(format!("tar: {name}: refusing a path outside the target"));
        };
        match kind {
            b'5' => {
                std::fs::create_dir_all(&target).map_err(err)?;
            }
            b'2' => {
                let link = field_str(&h[157..257]);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(err)?;
                }
                let _ = std::fs::remove_file(&target);
                std::os::unix::fs::symlink(link, &target).map_err(err)?;
            }
            b'0' | 0 => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(err)?;
                }
                let mut f = std::fs::File::create(&target)
                    .map_err(|e| format!("tar: {}: {e}", target.display()))?;
                let mut body = input.take(padded);
                let copied = std::io::copy(&mut (&mut body).take(size), &mut f).map_err(err)?;
                if copied != size {
                    return Err("tar: unexpected end of archive".into());
                }
                std::io::copy(&mut body, &mut std::io::sink()).map_err(err)?;
                let _ = std::fs::set_permissions(
                    &target,
                    std::fs::Permissions::from_mode(mode & 0o7777),
                );
                continue;
            }
            _ => {}
        }
        // Skip any data of entries not written above.
        std::io::copy(&mut input.take(padded), &mut std::io::sink()).map_err(err)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let src = std::env::temp_dir().join(format!("tar-src-{}", std::process::id()));
        let dst = std::env::temp_dir().join(format!("tar-dst-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&src);
        let _ = std::fs::remove_dir_all(&dst);
        let deep = "d".repeat(60);
        std::fs::create_dir_all(src.join("a").join(&deep).join(&deep)).expect("mkdir");
        std::fs::write(src.join("a/one.txt"), b"hello\n").expect("write");
        std::fs::write(
            src.join("a").join(&deep).join(&deep).join("f"),
            vec![7u8; 1000],
        )
        .expect("write");
        std::os::unix::fs::symlink("one.txt", src.join("a/link")).expect("symlink");
        let mut archive = Vec::new();
        add(&mut archive, &src.join("a"), "a").expect("archive");
        archive.extend_from_slice(&[0u8; 1024]);
        assert_eq!(archive.len() % BLOCK, 0);
        extract_all(&mut archive.as_slice(), &dst).expect("extract");
        assert_eq!(
            std::fs::read(dst.join("a/one.txt")).expect("read"),
            b"hello\n"
        );
        assert_eq!(
            std::fs::read(dst.join("a").join(&deep).join(&deep).join("f"))
                .expect("read")
                .len(),
            1000
        );
        assert_eq!(
            std::fs::read_link(dst.join("a/link")).expect("link"),
            PathBuf::from("one.txt")
        );
        let _ = std::fs::remove_dir_all(&src);
        let _ = std::fs::remove_dir_all(&dst);
    }

    #[test]
    fn headers() {
        let cases = [
            ("short.txt", true),
            (&*format!("{}/{}", "p".repeat(150), "n".repeat(100)), true),
            (&*"x".repeat(101), false),
        ];
        for (name, fits) in cases {
            assert_eq!(
                header(name, 0o644, 3, 0, b'0', "").is_some(),
                fits,
                "{name}"
            );
        }
        let h = header("etc/hostname", 0o644, 8, 0, b'0', "").expect("fits");
        assert_eq!(&h[..12], b"etc/hostname");
        assert_eq!(&h[124..136], b"00000000010\0");
        assert_eq!(&h[257..263], b"ustar\0");
    }

    #[test]
    fn refuses_escapes() {
        assert_eq!(safe_join(Path::new("/t"), "a/../../x"), None);
        assert_eq!(
            safe_join(Path::new("/t"), "./a/b"),
            Some(PathBuf::from("/t/a/b"))
        );
    }
}
