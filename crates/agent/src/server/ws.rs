//! Just enough WebSocket (RFC 6455) for a byte tunnel: the handshake's accept key, frames
//! read from a client (masked) and written by a server (unmasked). kubectl's port-forward
//! carries SPDY inside binary messages; the agent unwraps them for the runtime.

use base64::Engine;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{}{GUID}", key.trim()).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame too large ({0} bytes)")]
    TooLarge(u64),
}

/// Largest payload accepted from a peer: SPDY frames of a port-forward stay far below.
pub const MAX_PAYLOAD: u64 = 16 << 20;

/// Decodes one frame from the start of `buf`: the frame and the bytes it took, or None
/// when more bytes are needed. Masked payloads are unmasked.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    let end = at + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let mut payload = buf[at..end].to_vec();
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    Ok(Some((
        Frame {
            fin,
            opcode,
            payload,
        },
        end,
    )))
}

/// One unfragmented, unmasked frame (a server's).
pub fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn decodes() {
        let big = vec![7u8; 300];
        type Want = Option<(bool, u8, Vec<u8>, usize)>;
        let cases: Vec<(Vec<u8>, Want)> = vec![
            // RFC 6455 5.7: a masked "Hello".
            (
                vec![
                    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
                ],
                Some((true, OP_TEXT, b"Hello".to_vec(), 11)),
            ),
            // Unmasked "Hello", then the start of another frame.
            (
                vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x81],
                Some((true, OP_TEXT, b"Hello".to_vec(), 7)),
            ),
            (
                masked(OP_BINARY, false, &big),
                Some((false, OP_BINARY, big.clone(), 308)),
            ),
            (masked(OP_PING, true, b""), Some((true, OP_PING, vec![], 6))),
            (vec![0x82], None),
            (vec![0x82, 0xFE, 0x01], None),
            (masked(OP_BINARY, true, &big)[..100].to_vec(), None),
        ];
        for (input, want) in cases {
            let got = decode(&input)
                .expect("decodes")
                .map(|(f, n)| (f.fin, f.opcode, f.payload, n));
            assert_eq!(got, want, "{input:x?}");
        }
        let huge = [0x82, 0x7F, 0, 0, 0, 0, 0x10, 0, 0, 0];
        assert_eq!(decode(&huge), Err(FrameError::TooLarge(0x1000_0000)));
    }

    #[test]
    fn encodes_round_trip() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload = vec![1u8; len];
            let bytes = encode(OP_BINARY, &payload);
            let (frame, used) = decode(&bytes).expect("ok").expect("complete");
            assert_eq!(used, bytes.len());
            assert_eq!(frame.payload.len(), len);
            assert!(frame.fin);
        }
    }
}
