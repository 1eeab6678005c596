//! HTTP/1.1 connections to backends, driven by the task of the request that uses them.
//!
//! A pooled client (hyper-util's legacy one, used before) runs each backend connection in
//! a task of its own: every proxied request then hops from the client connection's task
//! to the backend connection's task and back, two cross-task wake-ups, often across
//! threads. Here the request's own future polls the backend connection while it waits for
//! the answer, and the answer's body ([`Relayed`]) polls it while the client reads it, so
//! the whole exchange stays in the client connection's task. Between requests a
//! connection waits, undriven, in an [`IdleLot`] shared by all client connections (so a
//! client that opens a connection per request still reuses backend connections); the
//! next request to the same endpoint takes it. Endpoints are still chosen per request, so
//! one keep-alive client spreads over them as before.
//!
//! Upgrades (WebSocket) get a fresh connection run in a task of their own, which hands its
//! socket over after the 101.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::idle::IdleLot;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type Conn = http1::Connection<TokioIo<TcpStream>, Incoming>;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("tcp connect")]
    Connect(#[source] std::io::Error),
    #[error("tcp connect timed out after {}s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    #[error("HTTP/1.1 handshake")]
    Handshake(#[source] hyper::Error),
    #[error("request")]
    Request(#[source] hyper::Error),
}

/// One HTTP/1.1 connection to a backend and the handle to send on it.
pub struct Upstream {
    send: http1::SendRequest<Incoming>,
    /// None once the connection has ended (closed by the backend, or failed).
    conn: Option<Pin<Box<Conn>>>,
}

impl Upstream {
    async fn connect(addr: SocketAddr) -> Result<(http1::SendRequest<Incoming>, Conn), SendError> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SendError::Connect(e)),
            Err(_) => return Err(SendError::ConnectTimeout),
        };
        // Requests and answers are small and written whole: no Nagle delay on either.
        let _ = stream.set_nodelay(true);
        http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Handshake)
    }

    async fn open(addr: SocketAddr) -> Result<Upstream, SendError> {
        let (send, conn) = Upstream::connect(addr).await?;
        Ok(Upstream {
            send,
            conn: Some(Box::pin(conn)),
        })
    }

    /// Drives the connection; Ready once it has ended. Dropping an ended connection at once
    /// resolves its pending request with the connection's error.
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(());
        };
        match conn.as_mut().poll(cx) {
            Poll::Ready(r) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "backend connection ended");
                }
                self.conn = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether a request can be sent right now. Polling the connection first lets an idle
    /// one notice the backend closed it, or ask for its next request.
    fn ready_now(&mut self, cx: &mut Context<'_>) -> bool {
        if self.poll_conn(cx).is_ready() {
            return false;
        }
        matches!(self.send.poll_ready(cx), Poll::Ready(Ok(())))
    }
}

/// Backend connections shared by every listener of one ingress controller.
#[derive(Default)]
pub struct Upstreams {
    idle: IdleLot<Upstream>,
}

impl Upstreams {
    /// Drops the connections idle too long.
    pub fn sweep(&self) {
        drop(self.idle.sweep(Instant::now()));
    }

    /// A parked connection to `addr` that can take a request now, if any.
    async fn take(&self, addr: SocketAddr) -> Option<Upstream> {
        poll_fn(|cx| {
            let mut expired = Vec::new();
            let found = loop {
                let Some(mut up) = self.idle.take(addr, Instant::now(), &mut expired) else {
                    break None;
                };
                if up.ready_now(cx) {
                    break Some(up);
                }
                expired.push(up);
            };
            drop(expired);
            Poll::Ready(found)
        })
        .await
    }

    /// Sends `req` (origin-form URI, with a Host header) to `addr` on a parked connection
    /// or a new one; the answer's body drives the connection and parks it when done. A
    /// parked connection that closes before taking the request hands it back, and it goes
    /// out once more on a fresh connection.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        mut req: Request<Incoming>,
    ) -> Result<Response<Relayed>, SendError> {
        let mut parked = self.take(addr).await;
        loop {
            let reused = parked.is_some();
            let mut up = match parked.take() {
                Some(up) => up,
                None => Upstream::open(addr).await?,
            };
            let mut answer = std::pin::pin!(up.send.try_send_request(req));
            let answered = poll_fn(|cx| {
                if let Poll::Ready(r) = answer.as_mut().poll(cx) {
                    return Poll::Ready(r);
                }
                if up.poll_conn(cx).is_ready() {
                    // Ended: dropping it answered the request with its error.
                    return answer.as_mut().poll(cx);
                }
                Poll::Pending
            })
            .await;
            match answered {
                Ok(resp) => {
                    let home = Some((up, self.clone(), addr));
                    return Ok(resp.map(|body| Relayed {
                        body,
                        ended: false,
                        home,
                    }));
                }
                Err(mut e) => match e.take_message() {
                    Some(back) if reused => req = back,
                    _ => return Err(SendError::Request(e.into_error())),
                },
            }
        }
    }

    /// Sends an upgrade request on a fresh connection run by a task of its own, which
    /// hands the socket over when the backend switches protocols.
    pub async fn send_upgrade(
        addr: SocketAddr,
        req: Request<Incoming>,
    ) -> Result<Response<Relayed>, SendError> {
        let (mut send, conn) = Upstream::connect(addr).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "backend upgrade connection ended");
            }
        });
        let resp = send.send_request(req).await.map_err(SendError::Request)?;
        Ok(resp.map(|body| Relayed {
            body,
            ended: false,
            home: None,
        }))
    }
}

/// A backend's answer body on its way to the client. While the client reads it, it drives
/// the connection it comes over; once it has all been read, the connection is parked for
/// the next request (dropped early, the connection closes with it).
pub struct Relayed {
    body: Incoming,
    /// The body said it ended (a chunked one does only so).
    ended: bool,
    home: Option<(Upstream, Arc<Upstreams>, SocketAddr)>,
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some((up, _, _)) = this.home.as_mut() {
            // Whatever it reads lands in `body`'s channel and wakes this task.
            let _ = up.poll_conn(cx);
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => this.ended = true,
            Poll::Ready(Some(Err(_))) => this.home = None,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        // Read to its end (hyper stops at a known length without asking for the end, so
        // `is_end_stream` says it then): the connection is free for another request.
        if let Some((up, lot, addr)) = self.home.take() {
            if (self.ended || self.body.is_end_stream()) && up.conn.is_some() {
                drop(lot.idle.put(addr, up, Instant::now()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Empty, Full};
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

    /// A backend on loopback answering `GET /N` with N bytes; counts its connections.
    /// `/close` answers with `Connection: close`.
    async fn backend() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = service_fn(|req: Request<Incoming>| async move {
                        let path = req.uri().path().trim_start_matches('/');
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        if path == "close" {
                            resp.headers_mut()
                                .insert(http::header::CONNECTION, "close".parse().unwrap());
                        } else {
                            let n: usize = path.parse().unwrap_or(0);
                            *resp.body_mut() = Full::new(Bytes::from(vec![b'x'; n]));
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    /// A front server that forwards every request to `to` through `upstreams`, as the
    /// ingress does, so that requests carry real `Incoming` bodies.
    async fn front(upstreams: Arc<Upstreams>, to: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let upstreams = upstreams.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let upstreams = upstreams.clone();
                        async move {
                            // As the ingress does with hop-by-hop headers: the backend's
                            // `Connection: close` is not the client's.
                            let mut resp = upstreams.send(to, req).await?;
                            resp.headers_mut().remove(http::header::CONNECTION);
                            Ok::<_, SendError>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    /// One client connection to the front; `get` answers the body's length.
    async fn client(front: SocketAddr) -> http1::SendRequest<Empty<Bytes>> {
        let stream = TcpStream::connect(front).await.unwrap();
        let (send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        send
    }

    async fn get(send: &mut http1::SendRequest<Empty<Bytes>>, path: &str) -> usize {
        send.ready().await.unwrap();
        let req = Request::get(path)
            .header(http::header::HOST, "test")
            .body(Empty::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        resp.into_body().collect().await.unwrap().to_bytes().len()
    }

    #[tokio::test]
    async fn backend_connections_are_reused_once_an_answer_is_read() {
        let (backend, accepted) = backend().await;
        let upstreams = Arc::new(Upstreams::default());
        let front = front(upstreams.clone(), backend).await;

        // One client, one request at a time: one backend connection throughout, whatever
        // the answer's size (empty, small, bigger than a read).
        let mut a = client(front).await;
        for path in ["/0", "/10", "/200000", "/0", "/5"] {
            let n = get(&mut a, path).await;
            assert_eq!(n.to_string(), path.trim_start_matches('/'));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // Another client connection takes the parked connection.
        let mut b = client(front).await;
        get(&mut b, "/3").await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // The backend closes after answering: the next request goes on a new connection
        // and succeeds.
        get(&mut b, "/close").await;
        get(&mut b, "/7").await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        get(&mut a, "/7").await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = listener.local_addr().unwrap();
        let upstreams = Arc::new(Upstreams::default());
        let served = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let service = service_fn(move |req| {
                let (upstreams, tx) = (upstreams.clone(), tx.clone());
                async move {
                    let got = upstreams.send(addr, req).await;
                    let _ = tx.send(got.err().map(|e| e.to_string()));
                    Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            rx
        });
        let mut c = client(front).await;
        get(&mut c, "/").await;
        drop(c);
        let mut errors = served.await.unwrap();
        assert_eq!(errors.recv().await.unwrap().as_deref(), Some("tcp connect"));
    }
}
