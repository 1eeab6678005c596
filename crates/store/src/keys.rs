//! Byte ranges for prefix scans.
//!
//! Keys are stored as BLOBs so that SQLite compares them with `memcmp`, which is etcd's byte
//! order. A prefix scan is the half-open range `[prefix, prefix_end(prefix))`; `LIKE` is
//! avoided because it treats `%`/`_` specially and cannot use the index for BLOBs.

/// The smallest byte string greater than every string that starts with `prefix`.
///
/// Valid UTF-8 never contains the byte 0xFF, so for the empty prefix `[0xFF]` is an upper
/// bound of every key.
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF]
}

/// Lower bound of a scan: keys `>= prefix` and strictly after `start_after`.
pub(crate) fn scan_start(prefix: &str, start_after: Option<&str>) -> Vec<u8> {
    match start_after {
        // Appending a NUL byte gives the smallest key strictly greater than `after`.
        Some(after) if after.as_bytes() >= prefix.as_bytes() => {
            let mut start = after.as_bytes().to_vec();
            start.push(0);
            start
        }
        _ => prefix.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_table() {
        let cases: &[(&str, &[u8])] = &[
            ("", &[0xFF]),
            ("a", b"b"),
            ("/registry/pods/", b"/registry/pods0"),
            ("/registry/pods", b"/registry/podt"),
            ("é", &[0xC3, 0xAA]),
        ];
        for (prefix, want) in cases {
            assert_eq!(prefix_end(prefix), want.to_vec(), "prefix {prefix:?}");
        }
    }

    #[test]
    fn scan_start_table() {
        let cases: &[(&str, Option<&str>, &[u8])] = &[
            ("/a/", None, b"/a/"),
            ("/a/", Some("/a/x"), b"/a/x\0"),
            // A cursor before the prefix does not widen the scan.
            ("/a/", Some("/0"), b"/a/"),
        ];
        for (prefix, after, want) in cases {
            assert_eq!(
                scan_start(prefix, *after),
                want.to_vec(),
                "{prefix:?} {after:?}"
            );
        }
    }
}
