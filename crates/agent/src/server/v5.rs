//! `v5.channel.k8s.io` over WebSocket (kubectl 1.30+) translated to SPDY for the runtime,
//! whose streaming server predates v5. v5 is v4 plus a CLOSE message (channel 255) that
//! ends one input channel: that becomes a FIN on the SPDY stdin stream, so
//! `kubectl exec -i … < file` sees end of input. Channels: 0 stdin, 1 stdout, 2 stderr,
//! 3 error (a Status, with the exit code), 4 resize.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use super::{spdy, ws};

pub const PROTOCOL: &str = "v5.channel.k8s.io";
/// What the SPDY side asks the runtime for: the newest protocol it knows.
pub const SPDY_PROTOCOL: &str = "v4.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// Which streams the session opens (from the request's stdin/stdout/stderr/tty).
#[derive(Clone, Copy, Debug)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// SPDY stream ids per channel, in the order the streams are opened.
pub fn plan(s: Streams) -> Vec<(u8, u32, &'static str)> {
    let mut out = vec![(ERROR, 0u32, "error")];
    if s.stdin {
        out.push((STDIN, 0, "stdin"));
    }
    if s.stdout {
        out.push((STDOUT, 0, "stdout"));
    }
    if s.stderr {
        out.push((STDERR, 0, "stderr"));
    }
    if s.tty {
        out.push((RESIZE, 0, "resize"));
    }
    for (i, e) in out.iter_mut().enumerate() {
        e.1 = 2 * i as u32 + 1;
    }
    out
}

/// Runs the session until the runtime ends it (after the process exits) or the client goes.
pub async fn run<C, R>(client: C, runtime: R, streams: Streams) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut c_read, c_write) = tokio::io::split(client);
    let (mut r_read, r_write) = tokio::io::split(runtime);
    let c_write = Arc::new(Mutex::new(c_write));
    let r_write = Arc::new(Mutex::new(r_write));
    let ids = plan(streams);
    {
        let mut hw = spdy::HeaderWriter::default();
        let mut w = r_write.lock().await;
        for (channel, id, kind) in &ids {
            w.write_all(&spdy::syn_stream(
                &mut hw,
                *id,
                false,
                &[("streamtype", kind)],
            ))
            .await?;
            // Nothing is ever written to the error stream: half-closed at once, as
            // client-go does.
            if *channel == ERROR {
                w.write_all(&spdy::data(*id, true, &[])).await?;
            }
        }
        w.flush().await?;
    }
    let channel_of = {
        let ids = ids.clone();
        move |stream: u32| {
            ids.iter()
                .find(|(_, id, _)| *id == stream)
                .map(|(c, _, _)| *c)
        }
    };
    let stream_of = {
        let ids = ids.clone();
        move |channel: u8| {
            ids.iter()
                .find(|(c, _, _)| *c == channel)
                .map(|(_, id, _)| *id)
        }
    };

    // Runtime → client.
    let down = {
        let c_write = c_write.clone();
        let r_write = r_write.clone();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = r_read.read(&mut buf).await?;
                if n == 0 {
                    let mut w = c_write.lock().await;
                    let _ = w
                        .write_all(&ws::encode(ws::OP_CLOSE, &1000u16.to_be_bytes()))
                        .await;
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    return Ok::<_, std::io::Error>(());
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some((frame, used)) = spdy::decode(&pending) {
                    pending.drain(..used);
                    match frame {
                        spdy::Frame::Data { stream, data, .. } => {
                            let Some(ch) = channel_of(stream) else {
                                continue;
                            };
                            if data.is_empty() {
                                continue;
                            }
                            let mut msg = Vec::with_capacity(data.len() + 1);
                            msg.push(ch);
                            msg.extend_from_slice(&data);
                            let mut w = c_write.lock().await;
                            w.write_all(&ws::encode(ws::OP_BINARY, &msg)).await?;
                            w.flush().await?;
                        }
                        spdy::Frame::Control { kind, data, .. } if kind == spdy::TYPE_PING => {
                            let mut w = r_write.lock().await;
                            w.write_all(&spdy::ping_reply(&data)).await?;
                            w.flush().await?;
                        }
                        // Replies, settings, window updates: nothing to do.
                        spdy::Frame::Control { .. } => {}
                    }
                }
            }
        })
    };

    // Client → runtime.
    let mut pending: Vec<u8> = Vec::new();
    let mut message: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut down = down;
    let mut down_done = false;
    'read: loop {
        let n = tokio::select! {
            r = c_read.read(&mut buf) => r?,
            _ = &mut down, if !down_done => {
                down_done = true;
                break 'read;
            }
        };
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        loop {
            let (frame, used) = match ws::decode(&pending) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            };
            pending.drain(..used);
            match frame.opcode {
                ws::OP_BINARY | ws::OP_TEXT | ws::OP_CONT => {
                    message.extend_from_slice(&frame.payload);
                    if !frame.fin {
                        continue;
                    }
                    let msg = std::mem::take(&mut message);
                    let Some((&ch, payload)) = msg.split_first() else {
                        continue;
                    };
                    let out = match ch {
                        CLOSE => payload
                            .first()
                            .and_then(|c| stream_of(*c))
                            .map(|id| spdy::data(id, true, &[])),
                        // SPDY frames carry at most 16 MiB; stay far below.
                        STDIN | RESIZE => stream_of(ch).map(|id| {
                            payload
                                .chunks(64 * 1024)
                                .flat_map(|c| spdy::data(id, false, c))
                                .collect()
                        }),
                        _ => None,
                    };
                    if let Some(bytes) = out {
                        let mut w = r_write.lock().await;
                        w.write_all(&bytes).await?;
                        w.flush().await?;
                    }
                }
                ws::OP_PING => {
                    let mut w = c_write.lock().await;
                    w.write_all(&ws::encode(ws::OP_PONG, &frame.payload))
                        .await?;
                    w.flush().await?;
                }
                ws::OP_CLOSE => break 'read,
                _ => {}
            }
        }
    }
    // The client is gone or the session is over: let the runtime see the end.
    let _ = r_write.lock().await.shutdown().await;
    if !down_done {
        let _ = down.await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as kubectl writes it: masked.
    fn client_msg(payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![0x80 | ws::OP_BINARY, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn read_all(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out).await;
        out
    }

    #[tokio::test]
    async fn translates_a_session() {
        let (client, client_far) = tokio::io::duplex(1 << 16);
        let (runtime, runtime_far) = tokio::io::duplex(1 << 16);
        let streams = Streams {
            stdin: true,
            stdout: true,
            stderr: false,
            tty: false,
        };
        let session = tokio::spawn(run(client_far, runtime_far, streams));
        let (client_r, mut client_w) = tokio::io::split(client);
        let (mut runtime_r, mut runtime_w) = tokio::io::split(runtime);
        // kubectl: stdin "hi", then CLOSE of stdin.
        client_w
            .write_all(&client_msg(b"\x00hi"))
            .await
            .expect("write");
        client_w
            .write_all(&client_msg(&[CLOSE, STDIN]))
            .await
            .expect("write");
        // The runtime: reads what the agent sent, answers on stdout and error, hangs up.
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 4096];
        let mut frames = Vec::new();
        while frames.len() < 6 {
            let n = runtime_r.read(&mut buf).await.expect("read");
            assert!(n > 0, "runtime side closed early: {frames:?}");
            seen.extend_from_slice(&buf[..n]);
            while let Some((f, used)) = spdy::decode(&seen) {
                seen.drain(..used);
                frames.push(f);
            }
        }
        let summary: Vec<String> = frames
            .iter()
            .map(|f| match f {
                spdy::Frame::Control { kind, .. } => format!("control {kind}"),
                spdy::Frame::Data { stream, fin, data } => {
                    format!(
                        "data {stream} fin={fin} {:?}",
                        String::from_utf8_lossy(data)
                    )
                }
            })
            .collect();
        assert_eq!(
            summary,
            [
                "control 1",
                "data 1 fin=true \"\"",
                "control 1",
                "control 1",
                "data 3 fin=false \"hi\"",
                "data 3 fin=true \"\"",
            ]
        );
        runtime_w
            .write_all(&spdy::data(5, false, b"out"))
            .await
            .expect("write");
        runtime_w
            .write_all(&spdy::data(1, false, br#"{"status":"Success"}"#))
            .await
            .expect("write");
        runtime_w.shutdown().await.expect("shutdown");
        drop(runtime_w);
        drop(runtime_r);
        let got = read_all(client_r).await;
        let mut msgs = Vec::new();
        let mut rest = &got[..];
        while let Ok(Some((f, used))) = ws::decode(rest) {
            msgs.push((f.opcode, f.payload));
            rest = &rest[used..];
        }
        let mut want_status = vec![ERROR];
        want_status.extend_from_slice(br#"{"status":"Success"}"#);
        assert_eq!(
            msgs,
            vec![
                (ws::OP_BINARY, b"\x01out".to_vec()),
                (ws::OP_BINARY, want_status),
                (ws::OP_CLOSE, 1000u16.to_be_bytes().to_vec()),
            ]
        );
        drop(client_w);
        assert!(session.await.is_ok());
    }

    #[test]
    fn plans_streams() {
        let cases = [
            (
                Streams {
                    stdin: true,
                    stdout: true,
                    stderr: false,
                    tty: true,
                },
                vec![
                    (3, 1, "error"),
                    (0, 3, "stdin"),
                    (1, 5, "stdout"),
                    (4, 7, "resize"),
                ],
            ),
            (
                Streams {
                    stdin: false,
                    stdout: true,
                    stderr: true,
                    tty: false,
                },
                vec![(3, 1, "error"), (1, 3, "stdout"), (2, 5, "stderr")],
            ),
        ];
        for (s, want) in cases {
            assert_eq!(plan(s), want, "{s:?}");
        }
    }
}
