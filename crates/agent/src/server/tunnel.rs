//! kubectl's port-forward tunnel (`SPDY/3.1+portforward.k8s.io`): SPDY bytes inside
//! WebSocket binary messages from the client, plain SPDY to the runtime's streaming
//! server. Pings are answered here; a close from either side ends the tunnel.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ws;

/// Runs the tunnel between the client's upgraded connection and the runtime's.
pub async fn run<C, R>(client: C, runtime: R) -> std::io::Result<()>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    R: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut c_read, c_write) = tokio::io::split(client);
    let (mut r_read, mut r_write) = tokio::io::split(runtime);
    let c_write = Arc::new(tokio::sync::Mutex::new(c_write));
    // Runtime → client: every read becomes one binary message.
    let down = {
        let c_write = c_write.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = r_read.read(&mut buf).await?;
                let mut w = c_write.lock().await;
                if n == 0 {
                    let _ = w
                        .write_all(&ws::encode(ws::OP_CLOSE, &1000u16.to_be_bytes()))
                        .await;
                    let _ = w.shutdown().await;
                    return Ok::<_, std::io::Error>(());
                }
                w.write_all(&ws::encode(ws::OP_BINARY, &buf[..n])).await?;
                w.flush().await?;
            }
        })
    };
    // Client → runtime: message payloads in order; pings answered; close ends it.
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    'read: loop {
        let n = c_read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        loop {
            let (frame, used) = match ws::decode(&pending) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                }
            };
            pending.drain(..used);
            match frame.opcode {
                ws::OP_BINARY | ws::OP_TEXT | ws::OP_CONT => {
                    r_write.write_all(&frame.payload).await?;
                }
                ws::OP_PING => {
                    let mut w = c_write.lock().await;
                    w.write_all(&ws::encode(ws::OP_PONG, &frame.payload))
                        .await?;
                    w.flush().await?;
                }
                ws::OP_CLOSE => {
                    let mut w = c_write.lock().await;
                    let _ = w.write_all(&ws::encode(ws::OP_CLOSE, &frame.payload)).await;
                    let _ = w.flush().await;
                    break 'read;
                }
                _ => {}
            }
        }
    }
    let _ = r_write.shutdown().await;
    down.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [9u8, 8, 7, 6];
        let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[tokio::test]
    async fn tunnel_unwraps_and_wraps() {
        let (client, client_far) = tokio::io::duplex(1 << 16);
        let (runtime, runtime_far) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(run(client_far, runtime_far));
        let (mut client_r, mut client_w) = tokio::io::split(client);
        let (mut runtime_r, mut runtime_w) = tokio::io::split(runtime);
        client_w
            .write_all(&client_frame(ws::OP_BINARY, b"spdy-1"))
            .await
            .expect("write");
        client_w
            .write_all(&client_frame(ws::OP_PING, b"p"))
            .await
            .expect("write");
        client_w
            .write_all(&client_frame(ws::OP_BINARY, b"spdy-2"))
            .await
            .expect("write");
        let mut got = vec![0u8; 12];
        runtime_r.read_exact(&mut got).await.expect("read");
        assert_eq!(got, b"spdy-1spdy-2");
        runtime_w.write_all(b"reply").await.expect("write");
        runtime_w.shutdown().await.expect("shutdown");
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        // pong, the reply as one binary message, then close.
        while out.len() < 3 + 7 + 4 {
            let n = client_r.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let mut frames = Vec::new();
        let mut rest = &out[..];
        while let Ok(Some((f, used))) = ws::decode(rest) {
            frames.push((f.opcode, f.payload));
            rest = &rest[used..];
        }
        assert_eq!(
            frames,
            vec![
                (ws::OP_PONG, b"p".to_vec()),
                (ws::OP_BINARY, b"reply".to_vec()),
                (ws::OP_CLOSE, 1000u16.to_be_bytes().to_vec()),
            ]
        );
        client_w
            .write_all(&client_frame(ws::OP_CLOSE, &[]))
            .await
            .expect("write");
        assert!(task.await.is_ok());
    }
}
