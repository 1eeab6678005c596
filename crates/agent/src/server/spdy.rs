//! The client half of SPDY/3.1 that the runtime's streaming server needs for exec and
//! attach: SYN_STREAM with a header block, DATA (FIN half-closes a stream, which is how a
//! client says "no more stdin"), PING echoes. Header blocks are zlib streams shared by the
//! whole connection; ours use stored (uncompressed) deflate blocks, which any inflater
//! reads, and the server's replies are never needed, so they are skipped undecoded.

pub const FLAG_FIN: u8 = 0x01;
pub const TYPE_SYN_STREAM: u16 = 1;
pub const TYPE_PING: u16 = 6;

/// One frame read from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    Control {
        kind: u16,
        flags: u8,
        data: Vec<u8>,
    },
}

/// Decodes one frame from the start of `buf`: the frame and the bytes it took, or None
/// when more bytes are needed.
pub fn decode(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 8 {
        return None;
    }
    let flags = buf[4];
    let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
    if buf.len() < 8 + len {
        return None;
    }
    let data = buf[8..8 + len].to_vec();
    let frame = if buf[0] & 0x80 != 0 {
        Frame::Control {
            kind: u16::from_be_bytes([buf[2], buf[3]]),
            flags,
            data,
        }
    } else {
        Frame::Data {
            stream: u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) & 0x7fff_ffff,
            fin: flags & FLAG_FIN != 0,
            data,
        }
    };
    Some((frame, 8 + len))
}

fn header(out: &mut Vec<u8>, len: usize) {
    out.push((len >> 16) as u8);
    out.push((len >> 8) as u8);
    out.push(len as u8);
}

pub fn data(stream: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(if fin { FLAG_FIN } else { 0 });
    header(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&[0x80, 0x03]);
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    header(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

/// The echo of a server's PING.
pub fn ping_reply(payload: &[u8]) -> Vec<u8> {
    control(TYPE_PING, 0, payload)
}

/// Writes header blocks as one zlib stream of stored blocks.
#[derive(Default)]
pub struct HeaderWriter {
    started: bool,
}

impl HeaderWriter {
    /// The compressed form of `pairs` (names must be lowercase).
    pub fn block(&mut self, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
        for (k, v) in pairs {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 8);
        if !self.started {
            // zlib header: deflate, 32 KiB window, no preset dictionary.
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for chunk in raw.chunks(0xFFFF) {
            // A stored block, not the last: BFINAL=0, BTYPE=00, byte-aligned.
            out.push(0x00);
            let n = chunk.len() as u16;
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // An empty stored block, as a sync flush ends with: an inflater hands out the data
        // before it only on reaching the next block header, and must find it in this frame.
        out.extend_from_slice(&[0x00, 0x00, 0x00, 0xFF, 0xFF]);
        out
    }
}

/// SYN_STREAM opening `stream` with `headers`.
pub fn syn_stream(
    hw: &mut HeaderWriter,
    stream: u32,
    fin: bool,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    payload.extend_from_slice(&0u32.to_be_bytes());
    payload.extend_from_slice(&[0, 0]);
    payload.extend(hw.block(headers));
    control(TYPE_SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (
                data(5, false, b"hi"),
                vec![0, 0, 0, 5, 0, 0, 0, 2, b'h', b'i'],
            ),
            (data(3, true, b""), vec![0, 0, 0, 3, 1, 0, 0, 0]),
            (
                ping_reply(&[0, 0, 0, 2]),
                vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 2],
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn decodes() {
        let mut two = data(7, true, b"abc");
        two.extend(ping_reply(&[1, 2, 3, 4]));
        let (f, n) = decode(&two).expect("first");
        assert_eq!(
            f,
            Frame::Data {
                stream: 7,
                fin: true,
                data: b"abc".to_vec()
            }
        );
        let (f, m) = decode(&two[n..]).expect("second");
        assert_eq!(
            f,
            Frame::Control {
                kind: TYPE_PING,
                flags: 0,
                data: vec![1, 2, 3, 4]
            }
        );
        assert_eq!(n + m, two.len());
        assert_eq!(decode(&two[..10]), None);
    }

    #[test]
    fn header_blocks_are_stored_zlib() {
        let mut hw = HeaderWriter::default();
        let first = hw.block(&[("streamtype", "error")]);
        let raw_len: u16 = 4 + 4 + 10 + 4 + 5;
        let mut want = vec![0x78, 0x01, 0x00];
        want.extend_from_slice(&raw_len.to_le_bytes());
        want.extend_from_slice(&(!raw_len).to_le_bytes());
        assert_eq!(&first[..7], &want[..]);
        assert_eq!(first.len(), 7 + raw_len as usize + 5);
        assert_eq!(&first[first.len() - 5..], &[0, 0, 0, 0xFF, 0xFF]);
        // (0x78 * 256 + 0x01) is a multiple of 31, as zlib's header check wants.
        assert_eq!((0x78u32 * 256 + 1) % 31, 0);
        let second = hw.block(&[("streamtype", "stdin")]);
        assert_eq!(second[0], 0x00, "later blocks continue the stream");
    }
}
