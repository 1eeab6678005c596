//! The snapshot file format, version 1 (all integers big-endian).
//!
//! ```text
//! header   magic "SKIFFSNP" (8 bytes)
//!          format version   u32  (1)
//!          source length    u8, then the source backend's name ("sqlite", "etcd"), UTF-8
//!          revision         i64  (every key was read at this store revision)
//!          key count        u64
//!          created at       i64  (Unix milliseconds)
//! records  per key, in ascending key order:
//!          tag u8 (1), key length u32, key bytes, value length u32, value bytes,
//!          create revision i64, mod revision i64
//! end      tag u8 (0)
//! trailer  SHA-256 (32 bytes) of the records and end tag, followed by the header's bytes
//! ```
//!
//! The checksum hashes the records *before* the header because the key count is known only
//! once the last record is written: the writer streams the records through the hash,
//! rewrites the header in place with the count, then feeds it to the hash. A reader checks
//! it in one pass the same way. Nothing may follow the trailer.
//!
//! Pure encoding over `Read`/`Write`; files, fsync and the store are `snapshot`'s business.

use std::io::{self, Read, Write};

use ring::digest::{Context, SHA256};

use super::SnapshotError;

pub const MAGIC: &[u8; 8] = b"SKIFFSNP";
pub const VERSION: u32 = 1;
const TAG_RECORD: u8 = 1;
const TAG_END: u8 = 0;
const DIGEST_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    /// The backend the snapshot was read from.
    pub source: String,
    pub revision: i64,
    pub key_count: u64,
    pub created_unix_ms: i64,
}

impl Header {
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        let source = self.source.as_bytes();
        let len = u8::try_from(source.len())
            .map_err(|_| SnapshotError::Format("source name longer than 255 bytes".into()))?;
        let mut out = Vec::with_capacity(8 + 4 + 1 + source.len() + 24);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(len);
        out.extend_from_slice(source);
        out.extend_from_slice(&self.revision.to_be_bytes());
        out.extend_from_slice(&self.key_count.to_be_bytes());
        out.extend_from_slice(&self.created_unix_ms.to_be_bytes());
        Ok(out)
    }

    /// Reads a header; returns it with its raw bytes (part of the checksum).
    fn decode(r: &mut impl Read) -> Result<(Header, Vec<u8>), SnapshotError> {
        let mut raw = Vec::new();
        let magic = take(r, 8, &mut raw)?;
        if magic != MAGIC {
            return Err(SnapshotError::Format(
                "not a skiff snapshot (bad magic)".into(),
            ));
        }
        let version = u32::from_be_bytes(array(take(r, 4, &mut raw)?));
        if version != VERSION {
            return Err(SnapshotError::Format(format!(
                "snapshot format version {version} is not supported (this skiff reads {VERSION})"
            )));
        }
        let len = take(r, 1, &mut raw)?[0] as usize;
        let source = String::from_utf8(take(r, len, &mut raw)?)
            .map_err(|_| SnapshotError::Format("source name is not UTF-8".into()))?;
        let revision = i64::from_be_bytes(array(take(r, 8, &mut raw)?));
        let key_count = u64::from_be_bytes(array(take(r, 8, &mut raw)?));
        let created_unix_ms = i64::from_be_bytes(array(take(r, 8, &mut raw)?));
        let header = Header {
            version,
            source,
            revision,
            key_count,
            created_unix_ms,
        };
        Ok((header, raw))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// Streams records after a header written by the caller; see [`Encoder::finish`].
pub struct Encoder<W: Write> {
    out: W,
    hash: Context,
    count: u64,
}

impl<W: Write> Encoder<W> {
    /// `out` must already hold the header (with a placeholder key count).
    pub fn new(out: W) -> Self {
        Encoder {
            out,
            hash: Context::new(&SHA256),
            count: 0,
        }
    }

    pub fn record(
        &mut self,
        key: &str,
        value: &[u8],
        create: i64,
        modified: i64,
    ) -> io::Result<()> {
        let too_big = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
        let key_len = u32::try_from(key.len()).map_err(|_| too_big("key over 4 GiB"))?;
        let value_len = u32::try_from(value.len()).map_err(|_| too_big("value over 4 GiB"))?;
        self.put(&[TAG_RECORD])?;
        self.put(&key_len.to_be_bytes())?;
        self.put(key.as_bytes())?;
        self.put(&value_len.to_be_bytes())?;
        self.put(value)?;
        self.put(&create.to_be_bytes())?;
        self.put(&modified.to_be_bytes())?;
        self.count += 1;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the end tag and the trailer; `header` is the final header (with
    /// [`Encoder::count`] keys), which the caller writes over the placeholder.
    pub fn finish(mut self, header: &[u8]) -> io::Result<W> {
        self.put(&[TAG_END])?;
        self.hash.update(header);
        let digest = self.hash.finish();
        self.out.write_all(digest.as_ref())?;
        Ok(self.out)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }
}

/// Reads records one by one; the checksum is checked when the end tag is reached, so a
/// caller that must not act on a corrupt file reads it through once first ([`verify`]).
pub struct Decoder<R: Read> {
    input: R,
    header: Header,
    raw_header: Vec<u8>,
    hash: Context,
    seen: u64,
    done: bool,
}

impl<R: Read> Decoder<R> {
    pub fn new(mut input: R) -> Result<Self, SnapshotError> {
        let (header, raw_header) = Header::decode(&mut input)?;
        Ok(Decoder {
            input,
            header,
            raw_header,
            hash: Context::new(&SHA256),
            seen: 0,
            done: false,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next record; `None` after the end tag, the checksum and the key count matched.
    pub fn next_record(&mut self) -> Result<Option<Record>, SnapshotError> {
        if self.done {
            return Ok(None);
        }
        let tag = self.take(1)?[0];
        match tag {
            TAG_RECORD => {}
            TAG_END => {
                self.finish()?;
                return Ok(None);
            }
            other => {
                return Err(SnapshotError::Format(format!(
                    "unknown record tag {other} after {} records",
                    self.seen
                )))
            }
        }
        let key_len = u32::from_be_bytes(array(self.take(4)?)) as usize;
        let key = String::from_utf8(self.take(key_len)?)
            .map_err(|_| SnapshotError::Format("a key is not UTF-8".into()))?;
        let value_len = u32::from_be_bytes(array(self.take(4)?)) as usize;
        let value = self.take(value_len)?;
        let create_revision = i64::from_be_bytes(array(self.take(8)?));
        let mod_revision = i64::from_be_bytes(array(self.take(8)?));
        self.seen += 1;
        Ok(Some(Record {
            key,
            value,
            create_revision,
            mod_revision,
        }))
    }

    fn finish(&mut self) -> Result<(), SnapshotError> {
        self.done = true;
        let mut digest = [0u8; DIGEST_LEN];
        self.input
            .read_exact(&mut digest)
            .map_err(|e| truncated_or_io(e, "in the checksum"))?;
        let mut hash = std::mem::replace(&mut self.hash, Context::new(&SHA256));
        hash.update(&self.raw_header);
        if hash.finish().as_ref() != digest {
            return Err(SnapshotError::Checksum);
        }
        let mut extra = [0u8; 1];
        if self.input.read(&mut extra)? != 0 {
            return Err(SnapshotError::Format("data after the checksum".into()));
        }
        if self.seen != self.header.key_count {
            return Err(SnapshotError::Format(format!(
                "header says {} keys, file holds {}",
                self.header.key_count, self.seen
            )));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, SnapshotError> {
        // Lengths come from the file: read through `take` so a corrupt length cannot make
        // us allocate gigabytes before noticing the file is shorter.
        let mut buf = Vec::new();
        (&mut self.input).take(n as u64).read_to_end(&mut buf)?;
        if buf.len() != n {
            return Err(SnapshotError::Truncated(format!(
                "after {} records",
                self.seen
            )));
        }
        self.hash.update(&buf);
        Ok(buf)
    }
}

/// Reads `r` through to the end, checking structure, key count and checksum.
pub fn verify(r: impl Read) -> Result<Header, SnapshotError> {
    let mut d = Decoder::new(r)?;
    while d.next_record()?.is_some() {}
    Ok(d.header.clone())
}

fn take(r: &mut impl Read, n: usize, raw: &mut Vec<u8>) -> Result<Vec<u8>, SnapshotError> {
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)
        .map_err(|e| truncated_or_io(e, "in the header"))?;
    raw.extend_from_slice(&buf);
    Ok(buf)
}

fn truncated_or_io(e: io::Error, at: &str) -> SnapshotError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        SnapshotError::Truncated(at.into())
    } else {
        SnapshotError::Io(e)
    }
}

/// `v` as a fixed-size array; callers read exactly `N` bytes, a shorter `v` gives zeros.
fn array<const N: usize>(v: Vec<u8>) -> [u8; N] {
    v.try_into().unwrap_or([0u8; N])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(count: u64) -> Header {
        Header {
            version: VERSION,
            source: "sqlite".into(),
            revision: 42,
            key_count: count,
            created_unix_ms: 1_700_000_000_000,
        }
    }

    fn sample() -> Vec<u8> {
        let placeholder = header(0).encode().unwrap();
        let mut enc = Encoder::new(placeholder.clone());
        enc.record("/registry/a", b"one", 2, 5).unwrap();
        enc.record("/registry/b", b"", 3, 3).unwrap();
        enc.record("/skiff/bootstrap", &[0, 255, 7], 4, 4).unwrap();
        let final_header = header(enc.count()).encode().unwrap();
        let mut out = enc.finish(&final_header).unwrap();
        out[..final_header.len()].copy_from_slice(&final_header);
        out
    }

    fn decode_all(bytes: &[u8]) -> Result<(Header, Vec<Record>), SnapshotError> {
        let mut d = Decoder::new(bytes)?;
        let mut records = Vec::new();
        while let Some(r) = d.next_record()? {
            records.push(r);
        }
        Ok((d.header().clone(), records))
    }

    #[test]
    fn round_trip() {
        let (h, records) = decode_all(&sample()).unwrap();
        assert_eq!(h, header(3));
        let keys: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.key.as_str(),
                    r.value.clone(),
                    r.create_revision,
                    r.mod_revision,
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                ("/registry/a", b"one".to_vec(), 2, 5),
                ("/registry/b", vec![], 3, 3),
                ("/skiff/bootstrap", vec![0, 255, 7], 4, 4),
            ]
        );
    }

    #[test]
    fn empty_snapshot_round_trips() {
        let placeholder = header(0).encode().unwrap();
        let enc = Encoder::new(placeholder.clone());
        let out = enc.finish(&placeholder).unwrap();
        assert_eq!(verify(out.as_slice()).unwrap(), header(0));
    }

    #[test]
    fn every_truncation_is_refused() {
        let full = sample();
        for len in 0..full.len() {
            let err = verify(&full[..len]).unwrap_err();
            assert!(
                matches!(err, SnapshotError::Truncated(_)),
                "cut at {len}: {err}"
            );
        }
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let full = sample();
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0x01;
            assert!(
                verify(bad.as_slice()).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn bad_checksum_is_named() {
        let mut bad = sample();
        let last = bad.len() - 1;
        bad[last] ^= 0xFF;
        assert!(matches!(
            verify(bad.as_slice()),
            Err(SnapshotError::Checksum)
        ));
    }

    #[test]
    fn trailing_garbage_and_wrong_count_are_refused() {
        let mut extra = sample();
        extra.push(0);
        assert!(verify(extra.as_slice()).is_err());

        // A header claiming 4 keys, with a checksum computed over it: only the count is off.
        let placeholder = header(0).encode().unwrap();
        let mut enc = Encoder::new(placeholder.clone());
        enc.record("/k", b"v", 2, 2).unwrap();
        let lying = header(4).encode().unwrap();
        let mut out = enc.finish(&lying).unwrap();
        out[..lying.len()].copy_from_slice(&lying);
        let err = verify(out.as_slice()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot format: header says 4 keys, file holds 1"
        );
    }

    #[test]
    fn other_files_and_versions_are_refused() {
        let err =
            verify(&b"SQLite format 3\0...................................."[..]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot format: not a skiff snapshot (bad magic)"
        );
        let mut v2 = sample();
        v2[11] = 2;
        let err = verify(v2.as_slice()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "snapshot format: snapshot format version 2 is not supported (this skiff reads 1)"
        );
    }
}
